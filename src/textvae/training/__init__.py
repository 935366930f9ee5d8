"""Training: the configs and file names of a run (`config`), the run directory (`rundir`), the
training loop (`loop`) and the procedures it switches on (`procedures`), starting and resuming a
run (`session`), and the plain language model, trained on the same parts (`lm`)."""

from textvae.training.config import (
    BEST_WEIGHTS, CHECKPOINT_FILE, CONFIG_FILE, DEFAULT_MAX_LENGTH, LAST_WEIGHTS, METRICS_FILE, VOCAB_FILE, DataConfig,
    LMTrainConfig, RunConfig, TrainConfig,
)
from textvae.training.lm import fit_lm, load_lm, saved_data_settings, train_lm
from textvae.training.loop import Trainer, TrainResult
from textvae.training.rundir import (
    holds_run, load_config, load_vocabulary, prepare_vocabulary, read_metrics, reproducible_metrics, save_config,
    weights_file,
)
from textvae.training.session import train

__all__ = [
    "BEST_WEIGHTS", "CHECKPOINT_FILE", "CONFIG_FILE", "DEFAULT_MAX_LENGTH", "LAST_WEIGHTS", "METRICS_FILE",
    "VOCAB_FILE", "DataConfig", "LMTrainConfig", "RunConfig", "TrainConfig", "TrainResult", "Trainer", "fit_lm",
    "holds_run", "load_config", "load_lm", "load_vocabulary", "prepare_vocabulary", "read_metrics",
    "reproducible_metrics", "save_config",
    "saved_data_settings", "train", "train_lm", "weights_file",
]
