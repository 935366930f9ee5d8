"""`textvae demo`: the built-in corpus, a small model trained for about a minute, what it learned.

The demo promises at most 3 minutes on any 2-core x86 CPU of the last five years, AVX2 only.
Where the time goes (measured under an AVX2-limited PyTorch, bench/RESULTS.md) is training, so
the demo trains the cpu-small sizes (64 / 128 / 32), whose steps cost under half of the small
preset's, for a fixed number of steps, with a time budget as a guard on slow or busy machines.
Its report says whether the run did what a beta-C VAE should: the rate near C, and a rate that
is information about the sentence (MI), not a shift of all codes.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

from textvae.api import load
from textvae.data.corpus import load_corpus, read_sentences
from textvae.data.synthetic import CONTENT_WORDS, write_corpus
from textvae.evaluation import evaluate
from textvae.evaluation.reconstruction import words_kept
from textvae.models.config import PRESETS, ModelConfig
from textvae.objectives import BetaCOptions
from textvae.runtime import describe_environment, environment, set_threads
from textvae.training import CONFIG_FILE, DataConfig, TrainConfig, train

log = logging.getLogger(__name__)

DEMO_C = 10.0
DEMO_STEPS = 4500
DEMO_TIME_BUDGET = 120.0  # seconds of training at most, whatever the machine
# The test split is large because the MI estimate (He et al. 2019) cannot exceed log N for N test
# sentences: with 1,000 it could never show that 10 nats of rate are 10 nats of information.
TRAIN_SENTENCES, VALID_SENTENCES, TEST_SENTENCES = 30_000, 1_000, 20_000
RECONSTRUCTED = 2_000  # test sentences whose reconstructions are scored
RATE_TOLERANCE, MIN_MI_SHARE = 0.10, 0.70  # what the report checks: |R - C| <= 10% of C, MI >= 70% of R


def run_demo(
    out: Path | str, kl_target: float = DEMO_C, model: str = "lstm-lstm", max_steps: int = DEMO_STEPS,
    time_budget: float | None = DEMO_TIME_BUDGET, seed: int = 0, progress: bool = True, threads: int | None = None,
) -> str:
    """Run the demo into `out` (re-running resumes or reuses the run there); returns a report."""
    set_threads(threads)
    out = Path(out)
    started = time.perf_counter()
    # C rises over two thirds of the steps: faster, and the decoder has not yet learned to use z
    # when the target arrives, so the encoder meets it with a shift of all codes.
    training = TrainConfig(objective=BetaCOptions(kl_target=kl_target, anneal_steps=2 * max_steps // 3),
                           max_steps=max_steps, eval_every=max(max_steps // 4, min(max_steps, 100)), batch_size=128, lr=0.002, seed=seed,
                           time_budget=time_budget)
    sizes = ModelConfig(model=model, **PRESETS["cpu-small"])  # both checked before anything is written
    total = TRAIN_SENTENCES + VALID_SENTENCES + TEST_SENTENCES
    splits = write_corpus(out / "corpus", n_sentences=total, seed=seed, valid_fraction=VALID_SENTENCES / total,
                          test_fraction=TEST_SENTENCES / total)
    run_dir = out / "run"
    result = train(run_dir, DataConfig(str(splits.train), str(splits.valid)), sizes, training,
                   resume=(run_dir / CONFIG_FILE).exists(), progress=progress)
    trained = time.perf_counter()
    vae = load(run_dir)
    test = evaluate(vae.model, load_corpus(splits.test, vae.vocab, name="test"), iw_samples=0, seed=seed,
                    progress=progress)
    sources = [" ".join(s) for s in read_sentences(splits.test)[:RECONSTRUCTED]]
    reconstructions = vae.reconstruct(sources)
    kept = words_kept(sources, reconstructions, CONTENT_WORDS)
    finished = time.perf_counter()
    log_n = math.log(test.sentences)
    lines = [
        f"textvae demo: {vae.config.model.model if vae.config else model} (64/128/32), C = {kl_target:g}, "
        f"{result.steps} steps on {TRAIN_SENTENCES:,} sentences, {finished - started:.0f} s "
        f"(training {trained - started:.0f} s)",
        f"  on {describe_environment(environment(str(vae.device)))}",
        "",
        f"test ({test.sentences:,} sentences), nats per sentence:",
        f"  distortion D = {test.distortion:.2f}, rate R = {test.rate:.2f} (target C = {kl_target:g}), "
        f"ELBO = {test.elbo:.2f}, perplexity {test.ppl_elbo:.2f}",
        f"  mutual information I(x; z) = {test.mi:.2f}: {100 * test.mi / test.rate:.0f}% of the rate is information "
        f"about the sentence (this estimate cannot exceed log N = {log_n:.1f})" if test.rate > 0 else
        f"  mutual information I(x; z) = {test.mi:.2f}",
        f"  active units {test.au} of {len(test.au_variances)}; greedy reconstructions keep "
        f"{100 * (kept or 0):.0f}% of the content words (nouns and evaluative words) of {len(sources):,} test "
        "sentences",
        *_checks(result.finished, result.steps, result.total_steps, test.rate, test.mi, kl_target),
        "",
        "samples from the prior (z ~ N(0, I), greedy decoding):",
        *(f"  {s}" for s in vae.sample(5, "greedy", seed=seed)),
        "",
        "reconstructions (z = posterior mean, greedy):",
        *(f"  {a}\n    -> {b}" for a, b in zip(sources[:3], reconstructions[:3])),
        "",
        f"corpus:  {splits.train.parent}",
        f"run:     {run_dir}  (config.json, vocab.txt, model.safetensors, metrics.jsonl)",
        f"next:    textvae evaluate {run_dir} --data {splits.test}",
    ]
    return "\n".join(lines)


def _checks(finished: bool, steps: int, total_steps: int, rate: float, mi: float, kl_target: float) -> list[str]:
    """One line for each thing a beta-C VAE should have done and this run did not, with what to do."""
    notes = []
    if not finished:
        notes.append(f"  ! the time budget stopped training at step {steps} of {total_steps} (a slow or busy "
                     "machine): run the demo again to finish it, or give --time-budget more seconds")
    if kl_target > 0 and abs(rate - kl_target) > RATE_TOLERANCE * kl_target:
        notes.append(f"  ! the rate is {rate:.2f}, more than {100 * RATE_TOLERANCE:.0f}% away from C = {kl_target:g}: "
                     "train longer (--max-steps)")
    if rate >= 1.0 and mi < MIN_MI_SHARE * rate:
        notes.append(f"  ! only {mi:.2f} of the {rate:.2f} nats of rate are information about the sentence: the rest "
                     "is a shift of all codes; train longer (--max-steps) so the target rises more slowly")
    return notes
