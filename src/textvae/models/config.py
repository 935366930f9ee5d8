"""Model configuration: a dataclass that round-trips through JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from textvae.errors import ConfigError
from textvae.models.rnn import SAVED_BEFORE_RNN_INIT, check_rnn_init

ENCODER_KINDS = ("lstm", "gru")
DECODER_KINDS = ("lstm", "gru", "cnn")
MODEL_NAMES = ("lstm-lstm", "gru-gru", "lstm-cnn")
_ALIASES = {"conv": "cnn"}  # the paper's code calls the CNN decoder LSTM-CONV


def parse_model_name(name: str) -> tuple[str, str]:
    """'LSTM-CNN' -> ('lstm', 'cnn'). Any encoder-decoder pair of known kinds is accepted."""
    parts = name.strip().lower().split("-")
    if len(parts) == 2:
        encoder, decoder = parts[0], _ALIASES.get(parts[1], parts[1])
        if encoder in ENCODER_KINDS and decoder in DECODER_KINDS:
            return encoder, decoder
    raise ConfigError(
        f"unknown model {name!r}: expected ENCODER-DECODER with encoder in {ENCODER_KINDS} "
        f"and decoder in {DECODER_KINDS}, e.g. {', '.join(MODEL_NAMES)}"
    )


@dataclass
class ModelConfig:
    """Sizes of a sentence VAE. Defaults are the paper's (256/512/64)."""

    model: str = "lstm-lstm"
    vocab_size: int = 0  # 0: not known yet; training sets it from the vocabulary
    embedding_dim: int = 256
    hidden_dim: int = 512
    latent_dim: int = 64
    # gated CNN decoder only
    conv_channels: int = 128
    kernel_width: int = 20
    conv_blocks: int = 2
    dropout: float = 0.1
    # How recurrent layers start: "tf" (TensorFlow's defaults, as the paper trained; forget-gate
    # bias 1) or "torch" (PyTorch's). Only training from scratch depends on it.
    rnn_init: str = "tf"

    def __post_init__(self) -> None:
        encoder, decoder = parse_model_name(self.model)
        self.model = f"{encoder}-{decoder}"
        if self.vocab_size < 0:
            raise ConfigError(f"vocab_size must not be negative, got {self.vocab_size}")
        for name in ("embedding_dim", "hidden_dim", "latent_dim", "conv_channels", "kernel_width"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        check_rnn_init(self.rnn_init)

    @property
    def encoder_kind(self) -> str:
        return parse_model_name(self.model)[0]

    @property
    def decoder_kind(self) -> str:
        return parse_model_name(self.model)[1]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown model config keys: {sorted(unknown)}")
        return cls(**{**SAVED_BEFORE_RNN_INIT, **data})


# Size presets: the paper's, and two that train in minutes on a laptop CPU (cpu-small is also the
# size of `textvae experiment --preset cpu-small` and of the demo).
PRESETS: dict[str, dict[str, int]] = {
    "paper": {"embedding_dim": 256, "hidden_dim": 512, "latent_dim": 64, "conv_channels": 128},
    "small": {"embedding_dim": 128, "hidden_dim": 256, "latent_dim": 32, "conv_channels": 64},
    "cpu-small": {"embedding_dim": 64, "hidden_dim": 128, "latent_dim": 32, "conv_channels": 64},
}
