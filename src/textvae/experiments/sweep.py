"""Sweeps over models and target rates C: the machinery behind `textvae experiment`.

An experiment directory holds
  experiment.json   the settings of the sweep (preset, data, models, C values, seed)
  vocab.txt         one vocabulary shared by every run, built once from the training split
  runs/MODEL-C<C>/  one run directory per (model, C): what `textvae train` writes, plus
                    evaluation.json (test measurements) and, when asked, reconstruction.json

A run whose evaluation.json exists is reused; a run that stopped half-way is resumed from its
checkpoint; a run directory holding different settings is an error, never silently mixed in.
Runs are independent, so `jobs` of them can train at once in separate processes.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from textvae.data.corpus import load_corpus, read_sentences
from textvae.errors import ConfigError, RunDirError
from textvae.evaluation import evaluate
from textvae.evaluation.reconstruction import DEFAULT_BUCKETS, reconstruction_scores
from textvae.experiments.parallel import parallel_map
from textvae.experiments.settings import Experiment
from textvae.locking import run_lock
from textvae.progress import progress as progress_bar
from textvae.serialization import read_json, write_atomic, write_json
from textvae.training import DataConfig, RunConfig, holds_run, load_config, prepare_vocabulary, train

log = logging.getLogger(__name__)

EVALUATION_FILE, RECONSTRUCTION_FILE, EXPERIMENT_FILE = "evaluation.json", "reconstruction.json", "experiment.json"
PROBES_FILE = "probes.json"


@dataclass(frozen=True)
class RunSpec:
    """One (model, C) run of a sweep and the measurements it must end with."""

    model: str
    kl_target: float | None  # None where the run's objective has no target rate
    run_dir: Path
    config: RunConfig
    test: str
    iw_samples: int
    reconstruct: bool = False
    labels: str | None = None  # probe the test split against these labels (probes.json)
    seed: int = 0
    first_seed: bool = True  # the experiment's --seed: its runs keep the names of one-seed sweeps

    @property
    def name(self) -> str:
        return self.run_dir.name

    @property
    def cell(self) -> str:
        """How --only names this run: MODEL:C (MODEL:C:seedN for a seed after --seed), or the run's
        name where it has no target rate."""
        if self.kl_target is None:
            return self.name
        return f"{self.model}:{self.kl_target:g}" + ("" if self.first_seed else f":seed{self.seed}")


def select_cell(specs: Sequence[RunSpec], only: str) -> RunSpec:
    """The run --only names: by MODEL:C[:seedN], by run name, or by its 0-based index in the sweep."""
    for index, spec in enumerate(specs):
        if only in (spec.cell, spec.name, str(index)):
            return spec
    names = ", ".join(f"{i}={s.cell}" for i, s in enumerate(specs))
    raise ConfigError(f"--only {only!r} names no run of this sweep; its runs are {names}")


def seed_suffix(seed: int, first_seed: int) -> str:
    """'' for the experiment's --seed (the names one-seed sweeps always had), else '-seedN'."""
    return "" if seed == first_seed else f"-seed{seed}"


def run_name(model: str, kl_target: float, seed: int = 0, first_seed: int = 0) -> str:
    return f"{model}-C{kl_target:g}{seed_suffix(seed, first_seed)}"


def plan_runs(experiment: Experiment, models: Sequence[str], kl_targets: Sequence[float],
              reconstruct: bool = False) -> list[RunSpec]:
    """Every (model, C, seed) run, seeds innermost."""
    return [
        RunSpec(model, c, experiment.root / "runs" / run_name(model, c, seed, experiment.seed),
                experiment.run_config(model, c, seed=seed), experiment.test, experiment.test_iw_samples,
                reconstruct, experiment.probe_labels, seed, seed == experiment.seed)
        for model in models for c in kl_targets for seed in experiment.run_seeds
    ]


SHARED_SETTINGS = ("train", "valid", "test", "preset", "epochs", "max_steps", "seed", "precision", "iw_samples")


def _setting(key: str, value: Any) -> Any:
    """A shared setting as compared between invocations: corpus paths as absolute paths."""
    return os.path.abspath(value) if key in ("train", "valid", "test") and isinstance(value, str) else value


def prepare(experiment: Experiment) -> None:
    """Create the experiment directory, its shared vocabulary and experiment.json.

    Several experiments (figure1, table1, table2) may share a directory, and so reuse each other's
    runs, when they agree on the settings a run depends on (SHARED_SETTINGS)."""
    experiment.root.mkdir(parents=True, exist_ok=True)
    # Cells of one sweep may start at once on a cluster: one at a time writes these shared files.
    with run_lock(experiment.root, wait=600.0):
        _prepare(experiment)


def _prepare(experiment: Experiment) -> None:
    shared = {k: getattr(experiment, k) for k in SHARED_SETTINGS}
    record = experiment.root / EXPERIMENT_FILE
    if record.exists():
        before = read_json(record)
        changed = [k for k in SHARED_SETTINGS if _setting(k, before.get(k)) != _setting(k, shared[k])]
        if changed:
            raise RunDirError(f"{experiment.root} holds runs made with other settings ({', '.join(changed)}); "
                              "choose another --out, or delete it to start over")
    else:
        write_json(record, shared | {"preset_settings": asdict(experiment.settings)})
    vocab_file = experiment.root / "vocab.txt"
    if not vocab_file.exists():
        data = DataConfig(experiment.train, experiment.valid, max_vocab=experiment.settings.max_vocab)
        prepare_vocabulary(data).save(vocab_file)


# -- one run, start to finish (also the body of a worker process) -----------------------------------
def _comparable(config: RunConfig) -> dict[str, Any]:
    """A run config without what may legitimately differ between invocations (as saved in the
    current format, whatever version saved it)."""
    config = {k: dict(v) if isinstance(v, dict) else v for k, v in config.to_dict().items()
              if k not in ("textvae_version", "environments")}
    for key in ("device", "checkpoint_every", "tensorboard"):  # where it computes, how often it saves, what it shows
        config["training"].pop(key, None)
    config["model"].pop("vocab_size", None)
    config["data"].pop("checksums", None)  # checked by training itself on resume
    for key in ("train", "valid", "vocab"):
        if config["data"].get(key) is not None:
            config["data"][key] = os.path.abspath(config["data"][key])
    return config


def ensure_trained(spec: RunSpec, progress: bool) -> None:
    """Train the run, resume it, or leave it as it is when it has finished."""
    if holds_run(spec.run_dir):
        if _comparable(load_config(spec.run_dir)) != _comparable(spec.config):
            raise RunDirError(f"{spec.run_dir} holds a run with other settings than this sweep's; "
                              "choose another --out, or delete that run directory")
        train(spec.run_dir, resume=True, progress=progress, tensorboard=spec.config.training.tensorboard or None)
    else:
        train(spec.run_dir, spec.config.data, spec.config.model, spec.config.training, progress=progress)


def ensure_evaluated(spec: RunSpec) -> dict[str, Any]:
    """Test-split measurements of the run's best weights, computed once and kept in evaluation.json."""
    from textvae.api import load

    path = spec.run_dir / EVALUATION_FILE
    if is_evaluated(spec):
        return read_json(path)
    vae = load(spec.run_dir, device=spec.config.training.device, precision="fp32")
    corpus = load_corpus(spec.test, vae.vocab, spec.config.data.max_length, name="test")
    result = evaluate(vae.model, corpus, iw_samples=spec.iw_samples, seed=spec.config.training.seed)
    record = {"test": spec.test, "weights": "best", "iw_samples": spec.iw_samples, **result.to_dict()}
    write_json(path, record)
    return record


PROBE_SENTENCES = 10_000  # of the test split, at most
PRIOR_SAMPLES = 3  # greedy sentences from prior draws of the run's seed, in reconstruction.json


def ensure_probed(spec: RunSpec) -> dict[str, Any]:
    """Linear probes of the test split's factors on the run's posterior means, kept in probes.json."""
    from textvae.api import load
    from textvae.evaluation.probes import aligned, probe

    path = spec.run_dir / PROBES_FILE
    if path.exists():
        return read_json(path)
    name, _, labels = spec.labels.rpartition("=")  # "sentiment=test.labels" names a file of plain labels
    sentences, factors = aligned(spec.test, labels, name or "label", PROBE_SENTENCES)
    vae = load(spec.run_dir, device=spec.config.training.device, precision="fp32")
    record = {"test": spec.test, "labels": spec.labels, "weights": "best",
              "probes": {r.factor: r.to_dict() for r in probe(vae, sentences, factors, seed=spec.config.training.seed)}}
    write_json(path, record)
    return record


def ensure_reconstructed(spec: RunSpec) -> dict[str, Any]:
    """Greedy reconstructions of the test split from the posterior mean and their BLEU / ROUGE buckets."""
    from textvae.api import load

    path = spec.run_dir / RECONSTRUCTION_FILE
    if path.exists():
        return read_json(path)
    vae = load(spec.run_dir, device=spec.config.training.device, precision=spec.config.training.precision)
    sources = [" ".join(tokens) for tokens in read_sentences(spec.test)]
    max_length = 10 + max(len(s.split()) for s in sources)
    reconstructions = vae.reconstruct(sources, "greedy", max_length=max_length)
    write_atomic(spec.run_dir / "reconstructions.tsv",
                 "".join(f"{s}\t{r}\n" for s, r in zip(sources, reconstructions)).encode("utf-8"))
    record = {"test": spec.test, "weights": "best", "decoding": "greedy",
              "buckets": [row.to_dict() for row in reconstruction_scores(sources, reconstructions, DEFAULT_BUCKETS)],
              # kept with the run, so that a report needs no weights (runs copied in from another machine)
              "prior_samples": vae.sample(PRIOR_SAMPLES, "greedy", seed=spec.seed)}
    write_json(path, record)
    return record


def complete_run(spec: RunSpec, device: str | None = None, progress: bool = False) -> dict[str, Any]:
    """Train, evaluate (and reconstruct) one run as needed; its row of results."""
    if device is not None:
        spec = replace(spec, config=replace(spec.config, training=replace(spec.config.training, device=device)))
    started, finished_before = time.perf_counter(), is_complete(spec)
    if not (spec.run_dir / EVALUATION_FILE).exists():  # written only once training has finished
        ensure_trained(spec, progress)
    with run_lock(spec.run_dir):  # evaluation.json and reconstruction.json are written into the run
        row: dict[str, Any] = {"model": spec.model, "C": spec.kl_target, "seed": spec.seed, "run": spec.name,
                               **ensure_evaluated(spec)}
        if spec.reconstruct:
            row["reconstruction"] = ensure_reconstructed(spec)["buckets"]
        if spec.labels is not None:
            row["probes"] = ensure_probed(spec)["probes"]
    status = "finished before" if finished_before else f"done in {time.perf_counter() - started:.0f} s"
    log.info("%s: %s (rate %.2f, distortion %.2f)", spec.name, status, row["rate"], row["distortion"])
    return row


# -- many runs ------------------------------------------------------------------------------------
def is_evaluated(spec: RunSpec) -> bool:
    """Whether the run's evaluation.json has what `spec` asks: one made with fewer importance samples
    (a figure1 run that compare reuses) is made again."""
    path = spec.run_dir / EVALUATION_FILE
    return path.exists() and read_json(path).get("iw_samples", 0) >= spec.iw_samples


def is_complete(spec: RunSpec) -> bool:
    return is_evaluated(spec) and (
        not spec.reconstruct or (spec.run_dir / RECONSTRUCTION_FILE).exists()) and (
        spec.labels is None or (spec.run_dir / PROBES_FILE).exists())


def run_all(specs: Sequence[RunSpec], jobs: int = 1, device: str = "auto", progress: bool = True,
            only: str | None = None) -> list[dict[str, Any]]:
    """Every run's row of results, in the order of `specs`; runs that are missing are trained,
    `jobs` at a time (see `parallel_map`). What finished stays when it is stopped, and the next
    call picks up from there. With `only`, just that run (one cell of a cluster's job array), and
    its row alone."""
    if only is not None:
        spec = select_cell(specs, only)
        row = complete_run(spec, None, progress)
        done = sum(is_complete(s) for s in specs)
        log.info("%s done: %d of %d runs of this sweep have finished; run the command again without --only to "
                 "write its outputs once they all have", spec.cell, done, len(specs))
        return [row]
    pending = [s for s in specs if not is_complete(s)]
    log.info("%d runs: %d finished before, %d to do", len(specs), len(specs) - len(pending), len(pending))
    rows: dict[str, dict[str, Any]] = {s.name: complete_run(s) for s in specs if is_complete(s)}
    with progress_bar(total=len(specs), initial=len(rows), unit="run", desc="runs", enabled=progress) as bar:
        for row in parallel_map(complete_run, pending, jobs, device, progress):
            rows[row["run"]] = row
            bar.update(1)
    return [rows[s.name] for s in specs]


def rows_of(rows: Sequence[dict[str, Any]], model: str) -> list[dict[str, Any]]:
    """One model's rows, by increasing C."""
    return sorted((r for r in rows if r["model"] == model), key=lambda r: r["C"])
