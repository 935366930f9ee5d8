"""What a run is made of: the data, training and run configs, the language model's training
config, and the names of the files a run directory holds (docs/ARCHITECTURE.md has the format).

Every setting is a field made with `textvae.options.option`: its flag, help and range live here,
and `textvae train` offers it with no edit in the command line. Configs round-trip through
config.json; those written by textvae 0.1.0 (the objective's options flat in `training`) load too.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from textvae.data.files import file_checksum
from textvae.data.tokenize import TOKENIZERS, Tokenizer
from textvae.errors import ConfigError, DataError
from textvae.models.config import ModelConfig
from textvae.objectives import OBJECTIVES, ObjectiveOptions, objective_fields, objective_options
from textvae.options import MAX_SEED, check_options, option
from textvae.precision import PRECISIONS
from textvae.version import __version__

# The files of a run directory
CONFIG_FILE, VOCAB_FILE, METRICS_FILE = "config.json", "vocab.txt", "metrics.jsonl"
BEST_WEIGHTS, LAST_WEIGHTS, CHECKPOINT_FILE = "model.safetensors", "last.safetensors", "checkpoint.safetensors"
WEIGHTS = {"best": BEST_WEIGHTS, "last": LAST_WEIGHTS}  # what --weights names
# A run with a pretrained model: its tokenizer (in place of vocab.txt), and each pretrained
# encoder's or decoder's configuration (PRETRAINED_DIR/encoder, PRETRAINED_DIR/decoder)
TOKENIZER_DIR, PRETRAINED_DIR = "tokenizer", "pretrained"
PREPARED_DATA_DIR = "data"  # `train --data FILE`: the file's train / valid / test splits, inside the run
DIVERGED_FILE = "diverged.json"  # written when training stopped on a number that was not finite; a resume removes it

DEFAULT_EPOCHS = 10
CHECKPOINT_SECONDS = 60.0  # a crash loses at most about this much training, by default
# Longer sentences are cut to this many words unless --max-length says otherwise. The paper's
# corpora stay well below it (Yelp: at most 15 tokens; its reconstruction buckets end at 30), and
# it bounds a batch's memory whatever a corpus holds (one 429-word line of raw WikiText made
# every batch of its length cost 21 s and gigabytes).
DEFAULT_MAX_LENGTH = 50
# The options of the objective that textvae 0.1.0 kept flat in `training` (config.json)
FLAT_OBJECTIVE_FIELDS = ("kl_target", "beta", "anneal_steps", "anneal_epochs", "anneal_shape", "cycles",
                         "cycle_ratio", "free_bits", "fb_mode")


@dataclass
class DataConfig:
    train: str = option(help="Training corpus, one sentence a line.")
    valid: str | None = option(None, "Validation corpus (picks the best weights; a VAE needs one).")
    vocab: str | None = option(None, "Vocabulary file, one word a line (a model with a pretrained encoder or "
                                     "decoder reads its text with that model's tokenizer instead).",
                               default_text="built from --train")
    min_count: int = option(1, "Keep words seen this often in --train.", min=1)
    max_vocab: int | None = option(None, "Largest vocabulary, special entries included.", min=4)
    max_length: int | None = option(DEFAULT_MAX_LENGTH, "Cut longer sentences to this many words (a warning counts "
                                                        "them).", min=1)
    tokenize: str = option("none", "How lines become tokens: none (split on whitespace, for tokenized corpora), "
                                   "moses (punctuation split off; for raw text) or ptb (Penn Treebank style: "
                                   "\"is n't\"). Saved with the run.",
                           choices=TOKENIZERS)
    lowercase: bool = option(False, "Lower-case the text first. Saved with the run.")
    # SHA-256 of the corpora ("train", "valid"), so that resuming on changed data is refused; filled
    # in when training starts (None in configs saved before it was recorded).
    checksums: dict[str, str] | None = None

    def __post_init__(self) -> None:
        check_options(self)
        if self.checksums is not None and not (isinstance(self.checksums, dict) and all(
                isinstance(k, str) and isinstance(v, str) for k, v in self.checksums.items())):
            raise ConfigError(f"checksums must map a split to its SHA-256, got {self.checksums!r}")

    @property
    def tokenizer(self) -> Tokenizer:
        return Tokenizer(self.tokenize, self.lowercase)

    def with_absolute_paths(self) -> "DataConfig":
        """The same files named by absolute paths, so that --resume works from any directory."""
        def absolute(path: str | None) -> str | None:
            return None if path is None else os.path.abspath(path)

        return replace(self, train=absolute(self.train), valid=absolute(self.valid), vocab=absolute(self.vocab))

    def corpora(self) -> dict[str, str]:
        return {name: path for name, path in (("train", self.train), ("valid", self.valid)) if path is not None}

    def current_checksums(self) -> dict[str, str]:
        return {name: file_checksum(path) for name, path in self.corpora().items()}

    def check_unchanged(self) -> None:
        """Refuse to resume on corpora that differ from what the run started on."""
        for name, path in self.corpora().items():
            if not Path(path).exists():
                raise DataError(path, f"the {name} file this run started from is gone (config.json names it); "
                                      "restore it to resume")
            if self.checksums and name in self.checksums and file_checksum(path) != self.checksums[name]:
                raise DataError(path, f"the {name} file changed since this run started (its checksum differs "
                                      "from the one in config.json); restore it, or start a new run on the new data")


def objective_help() -> str:
    listed = "; ".join(f"{name}: {options.about}" for name, options in OBJECTIVES.items())
    return f"{listed}. See the README's 'Choosing an objective'."


@dataclass
class TrainConfig:
    """How a VAE trains: its objective (a registered name and that objective's own options), the
    procedures that are not a loss, optimisation, and where and how long it runs."""

    objective: str = option("beta-c", objective_help, choices=OBJECTIVES.names)
    objective_options: ObjectiveOptions | None = None  # the objective's own options (None: its defaults)
    # Training procedures (textvae.training.procedures)
    word_dropout: float = option(0.0, "Share of decoder input words replaced by <unk> (Bowman et al. 2016).",
                                 min=0, max=1, max_open=True)
    aggressive: bool = option(False, "Aggressive inference-network training (He et al. 2019) until the validation "
                                     "MI stops rising.")
    aggressive_max_updates: int = option(100, "--aggressive: encoder-only updates before each step, at most.", min=1)
    aggressive_check_every: int | None = option(None, "--aggressive: steps between the checks of the validation MI "
                                                      "that end the phase once it falls.", min=1,
                                                default_text="each epoch")
    aggressive_until: int | None = option(None, "--aggressive: the step it ends at the latest, whatever the MI does "
                                                "(a compute cap, off by default).", min=0)
    ae_pretrain_steps: int = option(0, "Train this many steps as an autoencoder (no KL weight), then reset the "
                                       "decoder (Li et al. 2019; with --objective free-bits).", min=0)
    epochs: int | None = option(None, "Epochs to train.", min=1, default_text=f"{DEFAULT_EPOCHS} without --max-steps")
    max_steps: int | None = option(None, "Optimizer steps to train.", min=1)
    batch_size: int = option(128, "Sentences per batch.", min=1)
    optimizer: str = option("adam", "adam, or sgd (He et al. 2019's: --lr 1.0 --grad-clip 5 --lr-decay 0.5).",
                            choices=("adam", "sgd"))
    lr: float = option(0.00075, "Learning rate.", min=0, min_open=True)
    grad_clip: float | None = option(None, "Clip the gradient's norm to this.", min=0, min_open=True)
    lr_decay: float | None = option(None, "Multiply the learning rate by this when the validation loss has not "
                                          "improved for --lr-patience evaluations.", min=0, max=1, min_open=True,
                                    max_open=True)
    lr_patience: int = option(2, "--lr-decay: evaluations without improvement before a decay.", min=1)
    seed: int = option(0, "Seed of the initialisation, the data order and every draw.", min=0, max=MAX_SEED)
    eval_every: int | None = option(None, "Steps between evaluations.", min=1, default_text="each epoch")
    # A checkpoint is also written at each evaluation. By default one every CHECKPOINT_SECONDS of training,
    # whatever a step costs (on a GPU, 100 steps can take two seconds and a checkpoint one).
    checkpoint_every: int | None = option(None, "Steps between resumable checkpoints.", min=1,
                                          default_text="one a minute of training")
    eval_batch_size: int = option(256, "Sentences per batch in evaluations.", min=1)
    device: str = option("auto", "auto (a GPU where PyTorch sees one, else the CPU), cpu, cuda or cuda:N.")
    precision: str = option("fp32", "fp32, bf16 (autocast: faster where the CPU or GPU has bf16, results differ a "
                                    "little) or auto (bf16 where it runs faster).", choices=PRECISIONS)
    # Past it the run evaluates, checkpoints and stops early (a later resume continues it).
    time_budget: float | None = option(None, "Seconds of training per invocation: past it the run evaluates, "
                                             "checkpoints and stops; --resume continues it.", min=0, min_open=True)
    tensorboard: bool = option(False, "Also write TensorBoard event files to RUN/tensorboard/ (the tensorboard extra); "
                                      "metrics.jsonl stays the record.")

    def __post_init__(self) -> None:
        if isinstance(self.objective, ObjectiveOptions):  # TrainConfig(objective=BetaCOptions(kl_target=5))
            self.objective, self.objective_options = self.objective.name, self.objective
        options = OBJECTIVES[self.objective]
        if self.objective_options is None:
            self.objective_options = options()
        elif isinstance(self.objective_options, Mapping):
            self.objective_options = objective_options(self.objective, self.objective_options)
        elif not isinstance(self.objective_options, options):
            raise ConfigError(f"objective {self.objective!r} takes {options.__name__}, got "
                              f"{type(self.objective_options).__name__}")
        check_options(self)

    def build_objective(self, total_steps: int, steps_per_epoch: int) -> Any:
        return self.objective_options.build(total_steps, steps_per_epoch)

    def total_steps(self, steps_per_epoch: int) -> int:
        limits = [self.epochs * steps_per_epoch] if self.epochs else []
        if self.max_steps:
            limits.append(self.max_steps)
        return min(limits) if limits else DEFAULT_EPOCHS * steps_per_epoch

    @classmethod
    def from_flat(cls, values: Mapping[str, Any], unused: str = "error") -> "TrainConfig":
        """A config from one flat mapping of its fields and its objective's options (the command
        line's flags, a sweep's settings, a config.json of textvae 0.1.0). An option of another
        objective is an error, a warning or left out, as `unused` says (`objective_options`)."""
        own = {f.name for f in dataclasses.fields(cls)}
        of_objectives = objective_fields()
        unknown = set(values) - own - set(of_objectives)
        if unknown:
            raise ConfigError(f"unknown training settings: {sorted(unknown)}")
        settings = {k: v for k, v in values.items() if k in own}
        name = settings.get("objective", cls.objective)
        name = name.name if isinstance(name, ObjectiveOptions) else name
        options = {k: v for k, v in values.items() if k in of_objectives and k not in own}
        if options or settings.get("objective_options") is None:
            settings["objective_options"] = objective_options(name, options, unused)
            settings["objective"] = name
        return cls(**settings)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainConfig":
        if "objective_options" in data:
            unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
            if unknown:
                raise ConfigError(f"unknown TrainConfig keys: {sorted(unknown)}")
            return cls(**{**checked_mi_at_evaluations(data), **data})
        # textvae 0.1.0: every objective's options, flat
        return cls.from_flat({**checked_mi_at_evaluations(data), **data}, unused="drop")


def checked_mi_at_evaluations(saved: Mapping[str, Any]) -> dict[str, Any]:
    """An aggressive run saved before aggressive_check_every checked the MI at each evaluation."""
    if saved.get("aggressive") and "aggressive_check_every" not in saved:
        return {"aggressive_check_every": saved.get("eval_every")}
    return {}


@dataclass
class RunConfig:
    model: ModelConfig
    training: TrainConfig
    data: DataConfig
    version: str = field(default=__version__)
    # Where the run trained: one record (versions, CPU, threads, precision used) per start or resume.
    environments: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.model.own_encoder_embedding is None:  # decided here, once, and saved with the run
            self.model = replace(self.model, own_encoder_embedding=self.training.aggressive)

    def to_dict(self) -> dict[str, Any]:
        return {"textvae_version": self.version, "model": self.model.to_dict(), "training": asdict(self.training),
                "data": asdict(self.data), "environments": self.environments}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "RunConfig":
        # Configs saved before max_length had a default meant no limit.
        data = {"max_length": None, **d["data"]}
        unknown = set(data) - {f.name for f in dataclasses.fields(DataConfig)}
        if unknown:
            raise ConfigError(f"unknown DataConfig keys: {sorted(unknown)}")
        environments = d.get("environments", [])
        if not isinstance(environments, list):
            raise ConfigError(f"environments must be a list of records, got {type(environments).__name__}")
        # Runs saved before own_encoder_embedding shared one embedding, aggressive or not.
        model = ModelConfig.from_dict({"own_encoder_embedding": False, **d["model"]})
        return cls(model, TrainConfig.from_dict(d["training"]), DataConfig(**data),
                   str(d.get("textvae_version", "unknown")), environments)


@dataclass
class LMTrainConfig:
    """How the plain language model trains (`textvae lm train`)."""

    epochs: int = option(5, "Epochs to train.", min=1)
    max_steps: int | None = option(None, "Stop after this many steps.", min=1)
    batch_size: int = option(64, "Sentences per batch.", min=1)
    lr: float = option(0.002, "Adam learning rate.", min=0, min_open=True)
    seed: int = option(0, "Seed of the initialisation and the data order.", min=0, max=MAX_SEED)
    device: str = option("auto", "auto (a GPU where PyTorch sees one, else the CPU), cpu, cuda or cuda:N.")
    eval_batch_size: int = option(256, "Sentences per batch in evaluations.", min=1)

    def __post_init__(self) -> None:
        check_options(self)
