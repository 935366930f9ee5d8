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
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import torch

from textvae.data.corpus import load_corpus, read_sentences
from textvae.errors import ConfigError, RunDirError
from textvae.evaluation import evaluate
from textvae.evaluation.reconstruction import DEFAULT_BUCKETS, reconstruction_scores
from textvae.lm import LMTrainConfig
from textvae.locking import run_lock
from textvae.models.config import PRESETS, ModelConfig
from textvae.models.lm import LMConfig
from textvae.progress import progress as progress_bar
from textvae.serialization import read_json, write_atomic, write_json
from textvae.training import CONFIG_FILE, DataConfig, RunConfig, TrainConfig, prepare_vocabulary, train

log = logging.getLogger(__name__)

T, R = TypeVar("T"), TypeVar("R")
EVALUATION_FILE, RECONSTRUCTION_FILE, EXPERIMENT_FILE = "evaluation.json", "reconstruction.json", "experiment.json"
PROBES_FILE = "probes.json"
MODELS = ("lstm-lstm", "gru-gru", "lstm-cnn")


@dataclass(frozen=True)
class ExperimentPreset:
    """Model sizes, optimisation and evaluation settings shared by every run of a sweep."""

    model: dict[str, Any]  # ModelConfig fields (sizes, rnn_init)
    training: dict[str, Any]  # TrainConfig fields
    max_vocab: int | None  # vocabulary size, special entries included; None: every training word
    iw_samples: int  # importance samples for nll_iw on the test split (0 skips it)
    about: str
    lm: dict[str, Any] = field(default_factory=dict)  # LMConfig sizes of Table 3's scorer
    lm_training: dict[str, Any] = field(default_factory=dict)  # its LMTrainConfig

    def language_model(self) -> tuple[LMConfig, LMTrainConfig]:
        return LMConfig(**self.lm), LMTrainConfig(**self.lm_training)


EXPERIMENT_PRESETS: dict[str, ExperimentPreset] = {
    "paper": ExperimentPreset(
        model={**PRESETS["paper"], "rnn_init": "tf"},
        training={"batch_size": 128, "lr": 0.00075, "epochs": 10, "anneal_epochs": 2.0},
        max_vocab=None, iw_samples=500,
        lm={"embedding_dim": 256, "hidden_dim": 512, "rnn_init": "tf"}, lm_training={"epochs": 10, "batch_size": 128, "lr": 0.001},
        about="the paper's sizes and optimiser (Adam 0.00075, batch 128, C annealed over 2 epochs), 10 epochs; "
              "for a GPU",
    ),
    # The 21 Figure 1 runs on Yelp in about an hour on 2 CPU cores with --jobs 2 (see
    # docs/results/yelp-cpu-small). Chosen by pilot LSTM-LSTM runs, valid D at C = 60 / 100:
    # annealing C over all 6,000 steps beats annealing over the first 4,000 (26.1 / 26.7 against
    # 26.5 / 30.5): the faster the target rises, the more of it the LSTM pays in a shift of all codes.
    # With PyTorch's initialisation instead of TensorFlow's (rnn_init) D rose to 32.6 at C = 100.
    # The vocabulary keeps the 5,000 commonest words: its projection is most of the cost.
    "cpu-small": ExperimentPreset(
        model={**PRESETS["cpu-small"], "rnn_init": "tf"},
        training={"batch_size": 64, "lr": 0.002, "max_steps": 6000, "anneal_steps": 6000, "eval_every": 1000},
        max_vocab=5000, iw_samples=0,
        lm={"embedding_dim": 64, "hidden_dim": 128, "rnn_init": "tf"}, lm_training={"epochs": 3, "batch_size": 64, "lr": 0.002},
        about="embedding 64, hidden 128, z 32, batch 64, Adam 0.002, 6,000 steps with C annealed over all of "
              "them, vocabulary 5,000; the Yelp Figure 1 sweep in about an hour on 2 CPU cores",
    ),
}


@dataclass
class Experiment:
    """What a sweep trains on and how; saved as experiment.json next to the results."""

    name: str  # figure1, table1, table2, ...
    train: str
    valid: str
    test: str
    out: str
    preset: str = "cpu-small"
    models: list[str] = field(default_factory=lambda: list(MODELS))
    kl_targets: list[float] = field(default_factory=lambda: [3.0, 15.0, 100.0])
    epochs: int | None = None  # overrides the preset's length of training
    max_steps: int | None = None
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"
    iw_samples: int | None = None  # None: the preset's
    only: str | None = None  # one cell to run ("MODEL:C", a run's name, or its index); None: all, and the outputs
    # Labels of the test split for probes (textvae.evaluation.probes): a file of JSON lines of factors,
    # or NAME=FILE of plain labels; see `probe_labels`
    labels: str | None = None

    def __post_init__(self) -> None:
        if self.preset not in EXPERIMENT_PRESETS:
            raise ConfigError(f"unknown preset {self.preset!r}; choose from {', '.join(EXPERIMENT_PRESETS)}")
        for model in self.models:
            ModelConfig(model=model)  # validates the name
        if not self.kl_targets or any(not c >= 0 for c in self.kl_targets):
            raise ConfigError(f"C values must be non-negative numbers, got {self.kl_targets}")
        for split in ("train", "valid", "test"):
            if not Path(getattr(self, split)).is_file():
                raise ConfigError(f"--{split} {getattr(self, split)}: no such file")

    @property
    def root(self) -> Path:
        return Path(self.out)

    @property
    def settings(self) -> ExperimentPreset:
        return EXPERIMENT_PRESETS[self.preset]

    @property
    def probe_labels(self) -> str | None:
        """The test split's labels: those given, or the built-in corpus's factors beside its test file."""
        if self.labels is not None:
            return self.labels
        beside = Path(self.test).with_name(Path(self.test).name.split(".")[0] + ".factors.jsonl")
        return str(beside) if beside.exists() else None

    @property
    def test_iw_samples(self) -> int:
        return self.settings.iw_samples if self.iw_samples is None else self.iw_samples

    def run_config(self, model: str, kl_target: float, overrides: dict[str, Any] | None = None) -> RunConfig:
        """The configuration of one run (vocab_size is filled in from the shared vocabulary);
        `overrides` replace TrainConfig fields last (an objective and its options, for compare)."""
        training = dict(self.settings.training)
        if self.epochs is not None or self.max_steps is not None:
            preset_steps = training.get("max_steps")
            training.update(epochs=self.epochs, max_steps=self.max_steps)
            for key in ("anneal_steps", "eval_every"):  # step counts that follow the length of training
                if key not in training:
                    continue
                if preset_steps and self.max_steps is not None:
                    training[key] = max(1, round(training[key] * self.max_steps / preset_steps))
                else:
                    del training[key]  # epochs: anneal over the default epochs, evaluate each epoch
        training = {"kl_target": kl_target, "seed": self.seed, "device": self.device, "precision": self.precision,
                    **training, **(overrides or {})}
        return RunConfig(
            ModelConfig(model=model, **self.settings.model), TrainConfig(**training),
            DataConfig(self.train, self.valid, vocab=str(self.root / "vocab.txt")),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"preset_settings": asdict(self.settings)}


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

    @property
    def name(self) -> str:
        return self.run_dir.name

    @property
    def cell(self) -> str:
        """How --only names this run: MODEL:C, or the run's name where it has no target rate."""
        return f"{self.model}:{self.kl_target:g}" if self.kl_target is not None else self.name


def select_cell(specs: Sequence[RunSpec], only: str) -> RunSpec:
    """The run --only names: by MODEL:C, by run name, or by its 0-based index in the sweep."""
    for index, spec in enumerate(specs):
        if only in (spec.cell, spec.name, str(index)):
            return spec
    names = ", ".join(f"{i}={s.cell}" for i, s in enumerate(specs))
    raise ConfigError(f"--only {only!r} names no run of this sweep; its runs are {names}")


def run_name(model: str, kl_target: float) -> str:
    return f"{model}-C{kl_target:g}"


def plan_runs(experiment: Experiment, models: Sequence[str], kl_targets: Sequence[float],
              reconstruct: bool = False) -> list[RunSpec]:
    return [
        RunSpec(model, c, experiment.root / "runs" / run_name(model, c), experiment.run_config(model, c),
                experiment.test, experiment.test_iw_samples, reconstruct, experiment.probe_labels)
        for model in models for c in kl_targets
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
def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    """A saved run config without what may legitimately differ between invocations."""
    config = {k: dict(v) if isinstance(v, dict) else v for k, v in config.items()
              if k not in ("textvae_version", "environments")}
    for key in ("device", "checkpoint_every"):  # where a run computes and how often it saves: same results
        config["training"].pop(key, None)
    config["model"].pop("vocab_size", None)
    config["data"].pop("checksums", None)  # checked by training itself on resume
    for key in ("train", "valid", "vocab"):
        if config["data"].get(key) is not None:
            config["data"][key] = os.path.abspath(config["data"][key])
    return config


def ensure_trained(spec: RunSpec, progress: bool) -> None:
    """Train the run, resume it, or leave it as it is when it has finished."""
    saved = spec.run_dir / CONFIG_FILE
    if saved.exists():
        if _comparable(read_json(saved)) != _comparable(spec.config.to_dict()):
            raise RunDirError(f"{spec.run_dir} holds a run with other settings than this sweep's; "
                              "choose another --out, or delete that run directory")
        train(spec.run_dir, resume=True, progress=progress)
    else:
        train(spec.run_dir, spec.config.data, spec.config.model, spec.config.training, progress=progress)


def ensure_evaluated(spec: RunSpec) -> dict[str, Any]:
    """Test-split measurements of the run's best weights, computed once and kept in evaluation.json."""
    from textvae.api import load

    path = spec.run_dir / EVALUATION_FILE
    if path.exists():
        return read_json(path)
    vae = load(spec.run_dir, device=spec.config.training.device, precision="fp32")
    corpus = load_corpus(spec.test, vae.vocab, spec.config.data.max_length, name="test")
    result = evaluate(vae.model, corpus, iw_samples=spec.iw_samples, seed=spec.config.training.seed)
    record = {"test": spec.test, "weights": "best", "iw_samples": spec.iw_samples, **result.to_dict()}
    write_json(path, record)
    return record


PROBE_SENTENCES = 10_000  # of the test split, at most


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
              "buckets": [row.to_dict() for row in reconstruction_scores(sources, reconstructions, DEFAULT_BUCKETS)]}
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
        row: dict[str, Any] = {"model": spec.model, "C": spec.kl_target, "run": spec.name, **ensure_evaluated(spec)}
        if spec.reconstruct:
            row["reconstruction"] = ensure_reconstructed(spec)["buckets"]
        if spec.labels is not None:
            row["probes"] = ensure_probed(spec)["probes"]
    status = "finished before" if finished_before else f"done in {time.perf_counter() - started:.0f} s"
    log.info("%s: %s (rate %.2f, distortion %.2f)", spec.name, status, row["rate"], row["distortion"])
    return row


# -- many runs ------------------------------------------------------------------------------------
def is_complete(spec: RunSpec) -> bool:
    return (spec.run_dir / EVALUATION_FILE).exists() and (
        not spec.reconstruct or (spec.run_dir / RECONSTRUCTION_FILE).exists()) and (
        spec.labels is None or (spec.run_dir / PROBES_FILE).exists())


def devices_for(device: str) -> list[str]:
    """Where parallel jobs go: one GPU each, in turn, when several are visible and none is named."""
    if device == "auto" and torch.cuda.device_count() > 1:
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return [device]


def _exit_with_parent(parent: int) -> None:
    """Exit this worker within a second of the sweep's process dying, even by SIGKILL, so that no
    orphan keeps training a run that the next invocation resumes. (Not PR_SET_PDEATHSIG: that
    kills workers when the pool thread that started them ends, possibly while one holds the task
    queue's lock, and the pool's shutdown then waits for that lock forever.)"""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _start_worker(threads: int, log_level: int, parent: int) -> None:
    _exit_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; it terminates us on Ctrl-C
    torch.set_num_threads(threads)
    logging.basicConfig(level=log_level, format="%(message)s")


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _call(job: tuple[Callable[..., Any], Any, str]) -> Any:
    function, item, device = job
    return function(item, device, False)


def parallel_map(function: Callable[[T, str | None, bool], R], items: Sequence[T], jobs: int = 1,
                 device: str = "auto", progress: bool = True) -> Iterator[R]:
    """function(item, device, progress) for every item, as they finish: in this process when
    jobs == 1 (device None: the item's own), else `jobs` at a time (progress False) in fresh
    processes (one GPU each in turn where several are visible, CPU threads split between jobs).
    `function` must be importable (a module-level function). Stopping the caller (Ctrl-C,
    SIGTERM, even SIGKILL) stops every job."""
    if jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {jobs}")
    if jobs == 1 or len(items) <= 1:
        for item in items:
            yield function(item, None, progress)
        return
    devices = devices_for(device)
    # CPU threads in use here (--threads, or one per core) are shared out between the jobs
    threads = 1 if devices[0].startswith("cuda") else max(1, torch.get_num_threads() // jobs)
    work = [(function, item, devices[i % len(devices)]) for i, item in enumerate(items)]
    previous_handler = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        context = multiprocessing.get_context("spawn")
        # maxtasksperchild=1: a fresh process per item, so none inherits another's memory
        with context.Pool(min(jobs, len(items)), _start_worker,
                          (threads, logging.getLogger().getEffectiveLevel(), os.getpid()),
                          maxtasksperchild=1) as pool:
            yield from pool.imap_unordered(_call, work)
            pool.close()  # a clean shutdown; leaving early (an error, Ctrl-C) terminates instead
            pool.join()
    finally:  # leaving the with block terminates the workers, whatever happened
        signal.signal(signal.SIGTERM, previous_handler)


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
