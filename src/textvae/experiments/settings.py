"""What an experiment is: its settings (`Experiment`, whose fields are the flags of every
`textvae experiment NAME`), the presets of sizes and training it sweeps with, and the registry of
experiments (each registers its name, defaults, own options and run function).

A new experiment is a module that calls `register_experiment` and is imported by
`textvae.experiments`: the command line gains `textvae experiment NAME` with its options.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from textvae.errors import ConfigError
from textvae.models.config import PRESETS, ModelConfig
from textvae.models.lm import LMConfig
from textvae.options import MAX_SEED, check_options, option
from textvae.precision import PRECISIONS
from textvae.registry import Registry
from textvae.training.config import DataConfig, LMTrainConfig, RunConfig, TrainConfig

MODELS = ("lstm-lstm", "gru-gru", "lstm-cnn")


@dataclass(frozen=True)
class ExperimentPreset:
    """Model sizes, optimisation and evaluation settings shared by every run of a sweep."""

    model: dict[str, Any]  # ModelConfig fields and its kinds' options (sizes, rnn_init)
    training: dict[str, Any]  # TrainConfig fields and objective options, flat (TrainConfig.from_flat)
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

    name: str  # figure1, table1, table2, ... (the registered experiment)
    train: str = option(help="Training corpus, one sentence a line.")
    valid: str = option(help="Validation corpus (picks each run's best weights).")
    test: str = option(help="Test corpus: every measurement is taken on it.")
    out: str = option(help="Experiment directory: runs/ (one per model and C) and the results. Re-running resumes "
                           "it; the experiments can share one and reuse each other's runs.")
    preset: str = option("cpu-small", "Sizes and training: paper (256/512/64, the paper's optimiser, 10 epochs; for a "
                                      "GPU) or cpu-small (64/128/32, 6,000 steps; the Yelp Figure 1 sweep in about an "
                                      "hour on 2 CPU cores).", choices=tuple(EXPERIMENT_PRESETS))
    models: list[str] = option(help="Comma-separated models.", default_factory=lambda: list(MODELS))
    kl_targets: list[float] = option(help="Comma-separated target rates C.", flags=("--C",), min=0,
                                     default_factory=lambda: [3.0, 15.0, 100.0])
    epochs: int | None = option(None, "Epochs per run (overrides the preset).", min=1)
    max_steps: int | None = option(None, "Steps per run (overrides the preset).", min=1)
    seed: int = option(0, "Seed of every run (the first, with --seeds).", min=0, max=MAX_SEED)
    seeds: list[int] = option(help="How many seeds each cell runs with, from --seed on (3: seeds 0, 1, 2), or a "
                                   "comma-separated list of seeds (0,5,7). Tables show the mean and a 95% interval.",
                              min=0, max=MAX_SEED, default_factory=lambda: [1])
    device: str = option("auto", "auto (a GPU where PyTorch sees one, else the CPU), cpu, cuda or cuda:N.")
    precision: str = option("fp32", "Of training and evaluation: fp32, bf16 (autocast) or auto (bf16 where it runs "
                                    "faster).", choices=PRECISIONS)
    iw_samples: int | None = option(None, "Importance samples for the test NLL (0 skips it).", min=0,
                                    default_text="the preset's")
    only: str | None = option(None, "Run one cell only: MODEL:C (e.g. lstm-lstm:15), a run's name (compare: its "
                                    "variant, e.g. lstm-lstm-elbo) or its 0-based index, as a job array's task does on "
                                    "a cluster; a call without it then writes the outputs from the finished runs.")
    encoder_pretrained: str | None = option(None, "For a model with a pretrained encoder (e.g. pretrained-lstm): "
                                                  "the model's directory, or a Hugging Face name in the local "
                                                  "cache.", default_text="the model kind's")
    decoder_pretrained: str | None = option(None, "For a model with a pretrained decoder (e.g. lstm-pretrained): "
                                                  "the causal LM's directory, or a Hugging Face name in the local "
                                                  "cache.", default_text="the model kind's")
    freeze_pretrained: bool = option(False, "Train only the parts that read z; pretrained weights stay as loaded.")
    tensorboard: bool = option(False, "Also write TensorBoard event files in each run's directory (RUN/tensorboard/; "
                                      "`tensorboard --logdir OUT/runs` shows them all).")
    # Labels of the test split for probes (textvae.evaluation.probes): a file of JSON lines of factors,
    # or NAME=FILE of plain labels; see `probe_labels`
    labels: str | None = option(None, "Labels of the test split to probe what z encodes: JSON lines of factor -> "
                                      "value, or FACTOR=FILE of one label a line (e.g. sentiment=test.labels).",
                                flags=("--labels-test",), default_text="the built-in corpus's factors beside --test")

    def __post_init__(self) -> None:
        check_options(self)
        for model in self.models:
            ModelConfig(model=model)  # validates the name
        if not self.kl_targets:
            raise ConfigError("give at least one C value")
        if self.seeds == [0]:
            raise ConfigError("--seeds takes a count of at least 1, or a list of two or more seeds")
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"--seeds lists a seed twice: {','.join(map(str, self.seeds))}")
        for split in ("train", "valid", "test"):
            if not Path(getattr(self, split)).is_file():
                raise ConfigError(f"--{split} {getattr(self, split)}: no such file")
        if self.labels is not None and not Path(self.labels.rpartition("=")[2]).is_file():
            raise ConfigError(f"--labels-test {self.labels}: no such file")

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
    def run_seeds(self) -> list[int]:
        """The seeds every cell runs with: --seeds as a count from --seed, or as the list given."""
        if len(self.seeds) == 1:
            return list(range(self.seed, self.seed + self.seeds[0]))
        return list(self.seeds)

    @property
    def test_iw_samples(self) -> int:
        return self.settings.iw_samples if self.iw_samples is None else self.iw_samples

    def run_config(self, model: str, kl_target: float, overrides: dict[str, Any] | None = None,
                   seed: int | None = None) -> RunConfig:
        """The configuration of one run (vocab_size is filled in from the shared vocabulary) with
        `seed` (--seed by default); `overrides` replace training settings last (an objective and
        its options, for compare).
        Settings that the run's objective has no use for (the preset's annealing for the ELBO)
        are left out."""
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
        training = {"kl_target": kl_target, "seed": self.seed if seed is None else seed, "device": self.device, "precision": self.precision,
                    "tensorboard": self.tensorboard, **training, **(overrides or {})}
        model_config = ModelConfig.from_flat({"model": model, **self.pretrained_options()}, self.settings.model,
                                             unused="drop")
        # A model that reads a pretrained tokenizer keeps it as its vocabulary; the others share vocab.txt
        vocab = None if model_config.reads_tokenizer else str(self.root / "vocab.txt")
        return RunConfig(model_config, TrainConfig.from_flat(training, unused="drop"),
                         DataConfig(self.train, self.valid, vocab=vocab))

    def pretrained_options(self) -> dict[str, Any]:
        """The pretrained models' options given (each model takes those of its kinds)."""
        given = {"encoder_pretrained": self.encoder_pretrained, "decoder_pretrained": self.decoder_pretrained,
                 "freeze_pretrained": self.freeze_pretrained or None}
        return {key: value for key, value in given.items() if value is not None}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"preset_settings": asdict(self.settings)}


@dataclass
class ExperimentOptions:
    """Base of an experiment's own options (its fields become flags of `textvae experiment NAME`),
    checked on construction like every config."""

    def __post_init__(self) -> None:
        check_options(self)


@dataclass(frozen=True)
class ExperimentKind:
    """A registered experiment: `textvae experiment NAME` runs `run(experiment, options, jobs,
    progress)`, where `options` is an instance of `options` (its own settings; None where it has
    none), and prints `report` from the experiment directory."""

    run: Callable[[Experiment, Any, int, bool], Any]
    about: str  # the command's help
    kl_targets: tuple[float, ...]  # the C values it sweeps by default
    report: str  # the file it writes for a reader, printed at the end
    models: tuple[str, ...] = ("lstm-lstm",)  # the models it sweeps by default
    options: type[ExperimentOptions] | None = None


EXPERIMENTS: Registry[ExperimentKind] = Registry("experiment")


def register_experiment(name: str, kind: ExperimentKind) -> None:
    EXPERIMENTS.register(name)(kind)
