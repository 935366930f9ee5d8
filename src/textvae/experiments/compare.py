"""`textvae experiment compare`: the field's remedies for posterior collapse side by side.

One model and size, one corpus, one evaluation: the ELBO (a vanilla VAE), KL annealing, cyclical
annealing, free bits, aggressive inference-network training, AE pretraining with free bits, and
the beta-C objective at three C. Each run is a normal run directory (OUT/runs/MODEL-VARIANT), so
the sweep machinery trains them resumably and in parallel; a language model of the model's decoder
kind and size (an LSTM, a Transformer) trained on the same data gives the NLL floor. With --seeds,
each variant runs once per seed (the --seed run keeps its one-seed name, the others add -seedN) and
the tables show means with 95% intervals. Writes compare.md / .json / .csv, compare.png and, with
aggressive training, aggressive.png (`compare_report`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from textvae.data.corpus import load_corpus
from textvae.errors import ConfigError
from textvae.evaluation import evaluate_lm
from textvae.experiments.compare_report import (
    SEED_MEANS, aggressive_trajectory, compare_csv, compare_markdown, lm_name, mi_noise, noise_band,
)
from textvae.experiments.plots import PlotsUnavailable, plot_aggressive, plot_compare
from textvae.experiments.settings import Experiment, ExperimentKind, ExperimentOptions, register_experiment
from textvae.experiments.stats import seed_means
from textvae.experiments.sweep import RECONSTRUCTION_FILE, RunSpec, prepare, run_all, run_name, seed_suffix
from textvae.models.lm import LMConfig, word_decoder_kinds
from textvae.options import option
from textvae.serialization import read_json, write_atomic, write_json, write_text
from textvae.training import DataConfig, LMTrainConfig, holds_run, load_lm, train_lm

log = logging.getLogger(__name__)

COMPARE_C = (3.0, 15.0, 100.0)
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


def default_variants(total_steps: int, kl_targets: Sequence[float]) -> list[Variant]:
    """The remedies compared by default, set for a run of `total_steps` steps."""
    half, third = max(1, total_steps // 2), max(1, total_steps // 3)
    return [
        Variant("elbo", "ELBO: D + KL (a vanilla VAE)", {"objective": "elbo"}),
        Variant("anneal", f"KL annealing: the KL weight rises linearly 0 -> 1 over {half} steps (Bowman et al. "
                          "2016)", {"objective": "anneal", "anneal_steps": half}),
        Variant("cyclical", "cyclical annealing: 4 cycles, the weight rising over half of each (Fu et al. 2019)",
                {"objective": "cyclical", "cycles": 4, "cycle_ratio": 0.5}),
        Variant("free-bits", f"free bits: at least {FREE_BITS_PER_DIMENSION:g} nats a latent dimension "
                             "(Kingma et al. 2016)",
                {"objective": "free-bits", "free_bits": FREE_BITS_PER_DIMENSION, "fb_mode": "dim"}),
        Variant("aggressive", "aggressive inference-network training as He et al. 2019 specify it: before each "
                              "step, the encoder (with an embedding of its own) alone is updated on random batches "
                              "until its loss per word stops falling (at most 100 updates), until the validation "
                              "MI, checked each epoch, falls; the ELBO, no cap on the phase",
                {"objective": "elbo", "aggressive": True}),
        Variant("ae-free-bits", f"AE pretraining for {third} steps, decoder reset, then free bits "
                                f"({FREE_BITS_PER_DIMENSION:g} nats a dimension; Li et al. 2019)",
                {"objective": "free-bits", "free_bits": FREE_BITS_PER_DIMENSION, "fb_mode": "dim",
                 "ae_pretrain_steps": third}),
        *(Variant(f"beta-c-C{c:g}", f"beta-C: D + |KL - C| with C = {c:g} (Prokhorov et al. 2019)",
                  {"objective": "beta-c"}, kl_target=c) for c in kl_targets),
    ]


def plan_compare(experiment: Experiment, variants: Sequence[Variant], iw_samples: int) -> list[RunSpec]:
    """Every (variant, seed) run, seeds innermost."""
    model = experiment.models[0]
    return [RunSpec(model, v.kl_target, run_dir(experiment, model, v, seed),
                    experiment.run_config(model, v.kl_target or 0.0, v.training, seed=seed), experiment.test,
                    iw_samples, reconstruct=True, seed=seed, first_seed=seed == experiment.seed)
            for v in variants for seed in experiment.run_seeds]


def run_dir(experiment: Experiment, model: str, variant: Variant, seed: int | None = None) -> Path:
    """Where a variant's run of `seed` (--seed by default) lives. A beta-C run is the sweep's run of
    that C and seed (figure1 and compare in one --out train it once); a directory from before that
    kept it as MODEL-beta-c-C<C> still has it there."""
    seed = experiment.seed if seed is None else seed
    own = experiment.root / "runs" / f"{model}-{variant.name}{seed_suffix(seed, experiment.seed)}"
    if variant.kl_target is None or holds_run(own):
        return own
    return experiment.root / "runs" / run_name(model, variant.kl_target, seed, experiment.seed)


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
    """Greedy sentences from prior draws of the first seed's run: kept in its reconstruction.json
    (drawn with its seed, the first), else decoded from its weights (runs made before they were kept)."""
    from textvae.api import load

    run_dir = experiment.root / "runs" / row["run"]
    kept = read_json(run_dir / RECONSTRUCTION_FILE).get("prior_samples") if (run_dir / RECONSTRUCTION_FILE).exists() \
        else None
    if kept is not None and len(kept) >= n:
        return kept[:n]
    vae = load(run_dir, device=experiment.device, precision=experiment.precision)
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
        variants = default_variants(steps, experiment.kl_targets)
    iw_samples = experiment.iw_samples if experiment.iw_samples is not None else (
        experiment.settings.iw_samples or COMPARE_IW_SAMPLES)
    specs = plan_compare(experiment, variants, iw_samples)
    runs = run_all(specs, jobs, experiment.device, progress, experiment.only)
    if experiment.only is not None:  # one cell of a job array: the outputs wait for all of them
        return runs
    seeds = len(experiment.run_seeds)
    for index, run in enumerate(runs):
        variant = variants[index // seeds]
        run.update(variant=variant.name, about=variant.about, run_dir=str(specs[index].run_dir),
                   bleu4=next(b["bleu4"] for b in run["reconstruction"] if b["bucket"] == "all"))
    rows = seed_means(runs, lambda r: r["variant"], SEED_MEANS)
    for row in rows:
        row["samples"] = prior_samples(experiment, row)  # the first seed's model
    floor = language_model_floor(experiment)
    wall = time.perf_counter() - started
    write_json(experiment.root / "compare.json", {
        "experiment": experiment.to_dict(), "iw_samples": iw_samples, "wall_seconds": round(wall, 1),
        "language_model": floor, "runs": runs,
        "variants": [{**row, "spread": {k: v.to_dict() for k, v in row["spread"].items()}} for row in rows],
        "aggressive": {run["run"]: aggressive_trajectory(Path(run["run_dir"]))
                       for run in runs if run["variant"] == "aggressive"}})
    write_atomic(experiment.root / "compare.csv", compare_csv(runs).encode("utf-8"))
    figures = draw_figures(experiment, rows, runs, floor)
    write_text(experiment.root / "compare.md", compare_markdown(experiment, rows, floor, iw_samples, wall, figures))
    return rows


def draw_figures(experiment: Experiment, rows: Sequence[dict[str, Any]], runs: Sequence[dict[str, Any]],
                 floor: dict[str, Any]) -> dict[str, Path | None]:
    """compare.png (every variant against the rate, with the seeds' intervals) and, where aggressive
    training ran, aggressive.png (its validation MI over training, a line per seed)."""
    aggressive = {f"seed {r['seed']}": aggressive_trajectory(Path(r["run_dir"])) for r in runs
                  if r["variant"] == "aggressive"}
    figures: dict[str, Path | None] = {"compare": None, "aggressive": None}
    try:
        figures["compare"] = plot_compare(rows, {**floor, "label": lm_name(floor)}, experiment.root / "compare.png")
        if aggressive:
            figures["aggressive"] = plot_aggressive(aggressive, experiment.root / "aggressive.png",
                                                    noise_band(mi_noise(rows)))
    except PlotsUnavailable as err:
        log.warning("%s; compare.png and aggressive.png not written", err)
    return figures


VARIANT_KINDS = ("elbo", "anneal", "cyclical", "free-bits", "aggressive", "ae-free-bits", "beta-c")


def select_variants(experiment: Experiment, kinds: Sequence[str] | None) -> list[Variant] | None:
    """The default variants of `kinds` (--variants; beta-c selects every beta-C run), or None for all."""
    if kinds is None:
        return None
    probe = experiment.run_config(experiment.models[0], 0.0).training
    every = default_variants(probe.max_steps or 0, experiment.kl_targets)
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
