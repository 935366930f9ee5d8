"""Model configuration: the model's name and sizes, and the options of its encoder and decoder
kinds; a dataclass that round-trips through JSON (configs of textvae 0.1.0, flat, included)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

# The built-in kinds register themselves when their modules are imported.
import textvae.models.decoders  # noqa: F401
import textvae.models.encoders  # noqa: F401
import textvae.models.pretrained  # noqa: F401
import textvae.models.transformer  # noqa: F401
from textvae.errors import ConfigError
from textvae.models.contracts import DECODERS, ENCODERS, ComponentOptions, Dims, Kind
from textvae.models.rnn import SAVED_BEFORE_RNN_INIT
from textvae.options import check_options, flag_of, option, option_fields

log = logging.getLogger(__name__)
_ALIASES = {"conv": "cnn"}  # the paper's code calls the CNN decoder LSTM-CONV
MODEL_NAMES = ("lstm-lstm", "gru-gru", "lstm-cnn")  # the paper's three models


def parse_model_name(name: str) -> tuple[str, str]:
    """'LSTM-CNN' -> ('lstm', 'cnn'). Any pair of a registered encoder and decoder is a model; a
    kind that is both an encoder and a decoder names the pair on its own ('transformer')."""
    encoder, dash, decoder = name.strip().lower().partition("-")
    if not dash:
        decoder = encoder
    decoder = _ALIASES.get(decoder, decoder)
    if encoder in ENCODERS and decoder in DECODERS:
        return encoder, decoder
    raise ConfigError(
        f"unknown model {name!r}: expected ENCODER-DECODER with encoder in {ENCODERS.names()} "
        f"and decoder in {DECODERS.names()} (or one kind that is both), e.g. {', '.join(MODEL_NAMES)}, transformer"
    )


def model_help() -> str:
    encoders = ", ".join(f"{name} ({kind.about})" for name, kind in ENCODERS.items())
    decoders = ", ".join(f"{name} ({kind.about})" for name, kind in DECODERS.items())
    return (f"ENCODER-DECODER, e.g. {', '.join(MODEL_NAMES)} (the paper's; upper case works too), or one kind "
            f"for both (transformer). Encoders: "
            f"{encoders}. Decoders: {decoders}.")


@dataclass(init=False)
class ModelConfig:
    """A sentence VAE: its encoder and decoder kinds (`model`), sizes, and each kind's options.
    Defaults are the paper's (256/512/64).

    Options of the kinds may be given by name, `ModelConfig("lstm-cnn", kernel_width=5)`: each goes
    to the encoder and the decoder that have it, and is left out where neither has it (as a
    preset's `conv_channels` is for an LSTM decoder); a name that is no kind's option is an error."""

    model: str = option("lstm-lstm", model_help)
    vocab_size: int = 0  # 0: not known yet; training sets it from the vocabulary
    embedding_dim: int = option(256, "Embedding size.", min=1,
                                default_text="the preset's, or a pretrained model's hidden size")
    hidden_dim: int = option(512, "Width of the encoder and decoder layers.", min=1, default_text="the preset's")
    latent_dim: int = option(64, "Size of z.", min=1, default_text="the preset's")
    # He et al. 2019 give the encoder an embedding of its own: encoder-only updates then reach the
    # words as the encoder reads them. A run starting with --aggressive takes one unless told not to.
    own_encoder_embedding: bool | None = option(None, "The encoder reads a word embedding of its own instead of "
                                                      "sharing the decoder's.", default_text="with --aggressive")
    encoder_options: ComponentOptions | None = None  # the encoder kind's options (None: its defaults)
    decoder_options: ComponentOptions | None = None  # the decoder kind's options (None: its defaults)

    def __init__(self, model: str = "lstm-lstm", **values: Any):
        width_given = "embedding_dim" in values
        for field in dataclasses.fields(self):
            setattr(self, field.name, values.pop(field.name, field.default))
        self.model = model
        encoder, decoder = parse_model_name(model)
        self.model = f"{encoder}-{decoder}"
        unknown = set(values) - set(kind_fields())
        if unknown:
            raise ConfigError(f"not a model option: {', '.join(sorted(unknown))}")
        self.encoder_options = _kind_options(ENCODERS[encoder], self.encoder_options, values, f"encoder {encoder}")
        self.decoder_options = _kind_options(DECODERS[decoder], self.decoder_options, values, f"decoder {decoder}")
        if isinstance(self.vocab_size, bool) or not isinstance(self.vocab_size, int) or self.vocab_size < 0:
            raise ConfigError(f"vocab_size must be a whole number, at least 0; got {self.vocab_size!r}")
        if not width_given:
            self.embedding_dim = self.required_embedding_dim() or self.embedding_dim
        check_options(self)

    def required_embedding_dim(self) -> int | None:
        """The width a pretrained decoder (else encoder) must be fed, where the model has one: the
        embedding size when none is given (`ComponentOptions.required_embedding_dim`)."""
        return self.decoder_options.required_embedding_dim() or self.encoder_options.required_embedding_dim()

    @property
    def reads_tokenizer(self) -> bool:
        """Whether the run's vocabulary is a pretrained model's tokenizer, not a word list."""
        return self.decoder_options.reads_tokenizer or self.encoder_options.reads_tokenizer

    @property
    def encoder_kind(self) -> str:
        return parse_model_name(self.model)[0]

    @property
    def decoder_kind(self) -> str:
        return parse_model_name(self.model)[1]

    @property
    def dims(self) -> Dims:
        return Dims(self.embedding_dim, self.hidden_dim, self.latent_dim)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ModelConfig":
        """A saved config: nested options, or the flat fields of textvae 0.1.0 (`conv_channels` ...
        beside the sizes; without `rnn_init`, PyTorch's initialisation)."""
        if "encoder_options" in data or "decoder_options" in data:
            unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
            if unknown:
                raise ConfigError(f"unknown model config keys: {sorted(unknown)}")
            return cls(**data)
        return cls(**{**SAVED_BEFORE_RNN_INIT, **data})

    @classmethod
    def from_flat(cls, values: Mapping[str, Any], defaults: Mapping[str, Any] | None = None,
                  unused: str = "error") -> "ModelConfig":
        """A config from the command line's flags (`values`) over `defaults` (a preset's sizes). An
        option that neither of the model's kinds has is left out where it came from the defaults; where
        the user gave it, an error naming its flag, or a warning, as `unused` says. Where the user gave
        no embedding size, a pretrained model's width replaces the preset's."""
        merged = {**(defaults or {}), **values}
        model = merged.get("model", "lstm-lstm")
        encoder, decoder = parse_model_name(model)
        own = {f.name for f in dataclasses.fields(cls)}
        taken = own | {f.name for kind in (ENCODERS[encoder], DECODERS[decoder])
                       for f in dataclasses.fields(kind.options)}
        for key in values:
            if key not in taken and unused == "error":
                raise ConfigError(_not_an_option(key, model))
            if key not in taken and unused == "warn":
                owner = kind_fields()[key][0][0].split(" ")  # e.g. "decoder cnn"
                (ENCODERS if owner[0] == "encoder" else DECODERS)[owner[1]].options(**{key: values[key]})
                log.warning("%s: ignored", _not_an_option(key, model))
        config = cls(**merged)
        width = None if "embedding_dim" in values else config.required_embedding_dim()
        if width:  # a preset's embedding size yields to a pretrained model's width
            config.embedding_dim = width
        return config


def kind_fields() -> dict[str, list[tuple[str, dataclasses.Field]]]:
    """Every option field of the registered encoder and decoder kinds by name, with the kinds that
    have it ("encoder lstm", "decoder cnn")."""
    found: dict[str, list[tuple[str, dataclasses.Field]]] = {}
    for role, registry in (("encoder", ENCODERS), ("decoder", DECODERS)):
        for name, kind in registry.items():
            for field in option_fields(kind.options):
                found.setdefault(field.name, []).append((f"{role} {name}", field))
    return found


def _not_an_option(key: str, model: str) -> str:
    owners = kind_fields().get(key)
    if not owners:
        return f"{key!r} is not a model option"
    return (f"{key} ({flag_of(owners[0][1])}) does not apply to model {model}; it is an option of "
            f"{', '.join(owner for owner, _ in owners)}")


def _kind_options(kind: Kind, given: Any, values: Mapping[str, Any], what: str) -> ComponentOptions:
    """The options of one kind: `given` (an options object, a saved dict, or None for the defaults)
    with the keyword `values` that are options of this kind."""
    mine = {f.name for f in dataclasses.fields(kind.options)}
    if isinstance(given, Mapping):
        unknown = set(given) - mine
        if unknown:
            raise ConfigError(f"unknown options of the {what}: {sorted(unknown)}")
        given = kind.options(**given)
    elif given is None:
        given = kind.options()
    elif not isinstance(given, kind.options):
        raise ConfigError(f"the {what} takes {kind.options.__name__}, got {type(given).__name__}")
    changes = {key: value for key, value in values.items() if key in mine}
    return dataclasses.replace(given, **changes) if changes else given


# Size presets: the paper's, and two that train in minutes on a laptop CPU (cpu-small is also the
# size of `textvae experiment --preset cpu-small` and of the demo). Options that a model's kinds do
# not have (conv_channels for an LSTM decoder) are left out for it.
PRESETS: dict[str, dict[str, int]] = {
    "paper": {"embedding_dim": 256, "hidden_dim": 512, "latent_dim": 64, "conv_channels": 128},
    "small": {"embedding_dim": 128, "hidden_dim": 256, "latent_dim": 32, "conv_channels": 64},
    "cpu-small": {"embedding_dim": 64, "hidden_dim": 128, "latent_dim": 32, "conv_channels": 64},
    # A Transformer VAE of about the paper LSTM-LSTM's parameter count (7.6M against 7.2M with a
    # vocabulary of 5,000): width 256, three blocks in the encoder and three in the decoder.
    "transformer-paper": {"embedding_dim": 256, "hidden_dim": 256, "latent_dim": 64, "layers": 3, "heads": 4},
}
