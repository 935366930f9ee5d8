"""`textvae experiment compare`: the field's remedies for posterior collapse side by side.

One model and size, one corpus, one evaluation: the ELBO (a vanilla VAE), KL annealing, cyclical
annealing, free bits, aggressive inference-network training, AE pretraining with free bits, and
the beta-C objective at three C. Each run is a normal run directory (OUT/runs/MODEL-VARIANT), so
the sweep machinery trains them resumably and in parallel; a language model of the model's decoder
kind and size (an LSTM, a Transformer) trained on the same data gives the NLL floor. Writes compare.md / .json / .csv and compare.png.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from textvae.data.corpus import load_corpus
from textvae.errors import ConfigError
from textvae.evaluation import evaluate_lm, perplexity
from textvae.experiments.plots import PlotsUnavailable, plot_compare
from textvae.experiments.results import cell, markdown_table
from textvae.experiments.settings import Experiment, ExperimentKind, ExperimentOptions, register_experiment
from textvae.experiments.sweep import RunSpec, prepare, run_all, run_name
from textvae.models.lm import LMConfig, word_decoder_kinds
from textvae.options import option
from textvae.serialization import read_json, write_atomic, write_json, write_text
from textvae.training import CONFIG_FILE, DataConfig, LMTrainConfig, holds_run, load_lm, read_metrics, train_lm

log = logging.getLogger(__name__)

COMPARE_C = (3.0, 15.0, 100.0)
COLLAPSED_BELOW = 1.0  # nats of rate: a run under this has (all but) collapsed
FREE_BITS_PER_DIMENSION = 0.125  # nats: with 32 latent dimensions a floor of 4 nats, about what He et al.'s
#                                  aggressive VAE keeps on Yelp (KL 3.7-3.8)
COMPARE_IW_SAMPLES = 100  # importance samples for the test NLL where the preset skips it (cpu-small)


@dataclass(frozen=True)
class Variant:
    """One remedy: a name (its run directory and table row), what it is, and its TrainConfig fields."""

    name: str
    about: str
    training: dict[str, Any] = field(default_factory=dict)
    kl_target: float | None = None  # beta-C only

    @property
    def kind(self) -> str:
        """What --variants selects it by: its name, or beta-c for every beta-C run."""
        return "beta-c" if self.kl_target is not None else self.name


def default_variants(total_steps: int, eval_every: int | None, kl_targets: Sequence[float]) -> list[Variant]:
    """The remedies compared by default, set for a run of `total_steps` steps."""
    half, third = max(1, total_steps // 2), max(1, total_steps // 3)
    # Aggressive training checks the validation MI at every evaluation (He et al. checked every epoch).
    # On a CPU budget it evaluates four times as often, and ends after a twelfth of the run at the
    # latest: each of its steps costs up to 30 encoder updates more.
    often = max(1, (eval_every or total_steps // 6) // 4)
    aggressive_until = max(1, total_steps // 12)
    return [
        Variant("elbo", "ELBO: D + KL (a vanilla VAE)", {"objective": "elbo"}),
        Variant("anneal", f"KL annealing: the KL weight rises linearly 0 -> 1 over {half} steps (Bowman et al. "
                          "2016)", {"objective": "anneal", "anneal_steps": half}),
        Variant("cyclical", "cyclical annealing: 4 cycles, the weight rising over half of each (Fu et al. 2019)",
                {"objective": "cyclical", "cycles": 4, "cycle_ratio": 0.5}),
        Variant("free-bits", f"free bits: at least {FREE_BITS_PER_DIMENSION:g} nats a latent dimension "
                             "(Kingma et al. 2016)",
                {"objective": "free-bits", "free_bits": FREE_BITS_PER_DIMENSION, "fb_mode": "dim"}),
        Variant("aggressive", "aggressive inference-network training until the validation MI stops rising (or "
                              f"step {aggressive_until}), at most 30 encoder updates a step (He et al. 2019)",
                {"objective": "elbo", "aggressive": True, "aggressive_max_updates": 30, "eval_every": often,
                 "aggressive_until": aggressive_until}),
        Variant("ae-free-bits", f"AE pretraining for {third} steps, decoder reset, then free bits "
                                f"({FREE_BITS_PER_DIMENSION:g} nats a dimension; Li et al. 2019)",
                {"objective": "free-bits", "free_bits": FREE_BITS_PER_DIMENSION, "fb_mode": "dim",
                 "ae_pretrain_steps": third}),
        *(Variant(f"beta-c-C{c:g}", f"beta-C: D + |KL - C| with C = {c:g} (Prokhorov et al. 2019)",
                  {"objective": "beta-c"}, kl_target=c) for c in kl_targets),
    ]


def plan_compare(experiment: Experiment, variants: Sequence[Variant], iw_samples: int) -> list[RunSpec]:
    model = experiment.models[0]
    return [RunSpec(model, v.kl_target, run_dir(experiment, model, v),
                    experiment.run_config(model, v.kl_target or 0.0, v.training), experiment.test, iw_samples,
                    reconstruct=True) for v in variants]


def run_dir(experiment: Experiment, model: str, variant: Variant) -> Path:
    """Where a variant's run lives. A beta-C run is the sweep's run of that C (figure1 and compare
    in one --out train it once); a directory from before that kept it as MODEL-beta-c-C<C> still
    has it there."""
    own = experiment.root / "runs" / f"{model}-{variant.name}"
    if variant.kl_target is None or holds_run(own):
        return own
    return experiment.root / "runs" / run_name(model, variant.kl_target)


def floor_model(experiment: Experiment) -> tuple[LMConfig, LMTrainConfig]:
    """The preset's language model with the compared model's decoder kind and options: the VAE's
    decoder without z, the same size."""
    lm_config, lm_training = experiment.settings.language_model()
    model = experiment.run_config(experiment.models[0], 0.0).model
    if model.decoder_kind not in word_decoder_kinds():
        raise ConfigError(f"compare measures {model.model} against a language model of its decoder's kind trained "
                          f"from scratch, and a {model.decoder_kind} decoder has none; compare a model with a "
                          f"{', '.join(word_decoder_kinds())} decoder, or train these runs with figure1")
    options = {k: v for k, v in asdict(model.decoder_options).items() if k != "rnn_init"}
    return replace(lm_config, kind=model.decoder_kind, options=options), lm_training


def language_model_floor(experiment: Experiment) -> dict[str, Any]:
    """The language model of `floor_model` on the same data: its test NLL in nats per sentence is
    the floor a VAE's NLL is measured against. Trained once into OUT/lm and reused."""
    out = experiment.root / "lm"
    record = out / "evaluation.json"
    if record.exists():
        return {"kind": "lstm", **read_json(record)}
    lm_config, lm_training = floor_model(experiment)
    data = DataConfig(experiment.train, experiment.valid, vocab=str(experiment.root / "vocab.txt"))
    train_lm(out, data, lm_config, lm_training, progress=False)
    model, vocab = load_lm(out, experiment.device)
    result = {"kind": lm_config.kind, **evaluate_lm(model, load_corpus(experiment.test, vocab, name="test")).to_dict()}
    write_json(record, result)
    return result


def prior_samples(experiment: Experiment, row: dict[str, Any], n: int = 3) -> list[str]:
    from textvae.api import load

    vae = load(experiment.root / "runs" / row["run"], device=experiment.device, precision=experiment.precision)
    return vae.sample(n, "greedy", seed=experiment.seed)


def run_compare(experiment: Experiment, variants: Sequence[Variant] | None = None, jobs: int = 1,
                progress: bool = True) -> list[dict[str, Any]]:
    """Train (or reuse) every variant, evaluate each on the test split, and write the comparison."""
    started = time.perf_counter()
    prepare(experiment)
    floor_model(experiment)  # a decoder with no language model of its kind is refused before any training
    probe = experiment.run_config(experiment.models[0], 0.0).training
    if variants is None:
        steps = probe.max_steps or 0
        variants = default_variants(steps, probe.eval_every, experiment.kl_targets)
    iw_samples = experiment.iw_samples if experiment.iw_samples is not None else (
        experiment.settings.iw_samples or COMPARE_IW_SAMPLES)
    rows = run_all(plan_compare(experiment, variants, iw_samples), jobs, experiment.device, progress, experiment.only)
    if experiment.only is not None:  # one cell of a job array: the outputs wait for all of them
        return rows
    for variant, row in zip(variants, rows):
        row.update(variant=variant.name, about=variant.about, samples=prior_samples(experiment, row),
                   run_dir=str(experiment.root / "runs" / row["run"]),
                   bleu4=next(b["bleu4"] for b in row["reconstruction"] if b["bucket"] == "all"))
    floor = language_model_floor(experiment)
    wall = time.perf_counter() - started
    write_json(experiment.root / "compare.json", {"experiment": experiment.to_dict(), "iw_samples": iw_samples,
                                                  "wall_seconds": round(wall, 1), "language_model": floor,
                                                  "runs": rows})
    write_atomic(experiment.root / "compare.csv", compare_csv(rows).encode("utf-8"))
    try:
        figure = plot_compare(rows, {**floor, "label": lm_name(floor)}, experiment.root / "compare.png")
    except PlotsUnavailable as err:
        log.warning("%s; compare.png not written", err)
        figure = None
    write_text(experiment.root / "compare.md", compare_markdown(experiment, rows, floor, iw_samples, wall, figure))
    return rows


def lm_name(floor: dict[str, Any]) -> str:
    """'LSTM', 'Transformer': the floor language model's kind, for tables and plots."""
    return {"lstm": "LSTM", "gru": "GRU", "cnn": "gated CNN"}.get(floor["kind"], floor["kind"].capitalize())


COLUMNS = ("rate", "mi", "au", "distortion", "nll_iw", "ppl_iw", "bleu4", "mu_norm_sq")


def compare_csv(rows: Sequence[dict[str, Any]]) -> str:
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["variant", "C", *COLUMNS])
    for row in rows:
        writer.writerow([row["variant"], "" if row["C"] is None else f"{row['C']:g}", *(row.get(k) for k in COLUMNS)])
    return table.getvalue()


def compare_markdown(experiment: Experiment, rows: Sequence[dict[str, Any]], floor: dict[str, Any], iw_samples: int,
                     wall_seconds: float, figure: Any) -> str:
    header = ["variant", "R", "MI", "AU", "D", f"NLL (IW, K={iw_samples})", "PPL (IW)", "BLEU-4", "||mu||^2"]
    body = [[row["variant"], cell(row["rate"]), cell(row["mi"]), cell(row["au"]), cell(row["distortion"]),
             cell(row["nll_iw"]), cell(row["ppl_iw"]), cell(row["bleu4"]), cell(row["mu_norm_sq"], 3)] for row in rows]
    lm_ppl = perplexity(floor["cross_entropy"])
    body.append([f"{lm_name(floor)} language model (no z)", "-", "-", "-", "-", cell(floor["nll"]), cell(lm_ppl), "-", "-"])
    lines = [
        "# Remedies for posterior collapse, compared",
        "",
        f"Preset `{experiment.preset}` ({experiment.settings.about}); {experiment.models[0]}; seed {experiment.seed}; "
        f"trained on `{experiment.train}`, best-validation weights, every number on the test split `{experiment.test}` "
        f"(nats per sentence). NLL by importance sampling with K = {iw_samples}; BLEU-4 of greedy reconstructions from "
        "the posterior mean (all lengths); MI by He et al.'s estimator over the whole test split. Wall time of this "
        f"invocation: {wall_seconds / 60:.1f} min.",
        "",
        markdown_table(header, body),
        "",
        *(["![NLL and MI against the rate](compare.png)", ""] if figure is not None else []),
        "What each run is:",
        "",
        *(f"- `{row['variant']}`: {row['about']}" for row in rows),
        "",
        "## Reading",
        "",
        *reading(rows, floor),
        "",
        "## Greedy samples from the prior",
        "",
        *(f"- `{row['variant']}`: " + " / ".join(row["samples"]) for row in rows),
        "",
    ]
    return "\n".join(lines)


def aggressive_why(row: dict[str, Any]) -> str:
    """What the aggressive run's own metrics and settings say about why it did not hold a rate."""
    run = Path(row["run_dir"]) if "run_dir" in row else None
    if run is None:
        return "see its metrics.jsonl"
    training = read_json(run / CONFIG_FILE)["training"]
    phase = [r for r in read_metrics(run) if r["split"] == "valid" and r.get("aggressive")]
    mis = ", ".join(f"{r['mi']:.2f}" for r in phase) or "none measured"
    return (f"the validation MI during its aggressive phase was {mis}, so the encoder never found information to "
            f"hold before the phase ended at step {training.get('aggressive_until')} (a compute cap; He et al. run it "
            f"until the MI stops rising), with at most {training.get('aggressive_max_updates')} encoder updates a "
            "step where He et al. allow 100, Adam where they use SGD, and 15-word sentences that an LSTM decoder "
            "models well without z")


def reading(rows: Sequence[dict[str, Any]], floor: dict[str, Any]) -> list[str]:
    """The table in words, next to He et al. 2019's Table 1 on Yelp."""
    by = {row["variant"]: row for row in rows}
    lines = []
    collapsed = [r["variant"] for r in rows if r["rate"] < COLLAPSED_BELOW]
    kept = [r["variant"] for r in rows if r["rate"] >= COLLAPSED_BELOW]
    lines.append(f"- **Collapse.** Rate under {COLLAPSED_BELOW:g} nat: {', '.join(collapsed) or 'none'}; a rate "
                 f"the code keeps: {', '.join(kept) or 'none'}.")
    he = []
    for name, paper in (("elbo", "the VAE collapses (KL 0.0)"), ("anneal", "the VAE with annealing collapses too "
                                                                          "(KL 0.0)")):
        if name in by:
            r = by[name]
            agrees = r["rate"] < COLLAPSED_BELOW
            he.append(f"{paper}; here {name} ends at R = {r['rate']:.2f}, MI = {r['mi']:.2f}: "
                      f"{'the same' if agrees else 'it does not collapse here'}")
    if "aggressive" in by:
        r = by["aggressive"]
        he.append(f"aggressive training keeps KL 3.7-3.8 and MI 2.3-2.6; here R = {r['rate']:.2f}, MI = {r['mi']:.2f}, "
                  f"AU = {r['au']}" + ("" if r["rate"] >= COLLAPSED_BELOW else
                                       f": it collapses here too ({aggressive_why(r)})"))
    if he:
        lines.append("- **Against He et al. 2019, Table 1 (Yelp).** " + "; ".join(he) + ".")
    with_nll = [r for r in rows if r.get("nll_iw") is not None]
    if with_nll:
        order = sorted(with_nll, key=lambda r: r["nll_iw"])
        gaps = ", ".join(f"{r['variant']} {r['nll_iw'] - floor['nll']:+.2f}" for r in order)
        lines.append(f"- **NLL against the language model's floor** ({floor['nll']:.2f} nats a sentence), best first: "
                     f"{gaps}. In He et al. the VAEs' NLLs lie close to their LSTM language model's, the best slightly "
                     "below it; a run far above it paid for its rate with a decoder that has not caught up.")
    targets = [r for r in rows if r["C"] is not None]
    if targets:
        gaps = [(abs(r["rate"] - r["C"]) / r["C"], r) for r in targets if r["C"] > 0]
        worst = max(gaps, key=lambda g: g[0]) if gaps else None
        cap = math.log(targets[0]["sentences"])
        lines.append("- **beta-C.** " + ", ".join(f"C = {r['C']:g}: R = {r['rate']:.2f}, MI = {r['mi']:.2f}"
                                                   for r in targets)
                     + (f"; the largest |R - C| is {100 * worst[0]:.1f}% of C" if worst else "")
                     + f". The MI estimate cannot exceed log N = {cap:.2f} for {targets[0]['sentences']:,} test "
                       "sentences, so near that value it says the codes tell every sentence apart, not how many "
                       "nats they hold.")
    lines.append("- **Why numbers differ from He et al.** They model whole Yelp reviews (an NLL in the hundreds of "
                 "nats a review) with larger LSTMs trained for many epochs on a GPU; here each sentence has at most "
                 "15 words, the model is small and a run is a few thousand steps on a CPU. Absolute NLLs are not "
                 "comparable; the ordering and the collapse pattern are what carry over.")
    return lines


VARIANT_KINDS = ("elbo", "anneal", "cyclical", "free-bits", "aggressive", "ae-free-bits", "beta-c")


def select_variants(experiment: Experiment, kinds: Sequence[str] | None) -> list[Variant] | None:
    """The default variants of `kinds` (--variants; beta-c selects every beta-C run), or None for all."""
    if kinds is None:
        return None
    probe = experiment.run_config(experiment.models[0], 0.0).training
    every = default_variants(probe.max_steps or 0, probe.eval_every, experiment.kl_targets)
    if not kinds:
        raise ConfigError(f"--variants takes a comma-separated list of {', '.join(VARIANT_KINDS)}")
    return [v for v in every if v.kind in kinds]


@dataclass
class CompareOptions(ExperimentOptions):
    variants: list[str] | None = option(None, "The runs to compare, comma-separated.", choices=VARIANT_KINDS,
                                        default_text="all")


register_experiment("compare", ExperimentKind(
    run=lambda experiment, options, jobs, progress: run_compare(
        experiment, select_variants(experiment, options.variants), jobs, progress),
    about="The remedies for posterior collapse (ELBO, KL annealing, cyclical, free bits, aggressive, AE pretraining "
          "+ free bits) next to beta-C at three C, with a language model of the same decoder's NLL as the floor "
          "(compare.md / .json / .csv / .png).",
    kl_targets=COMPARE_C, report="compare.md", options=CompareOptions))
