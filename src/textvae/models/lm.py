"""A plain language model p(x) = prod_t p(x_t | x_<t): the scorer of forward cross-entropy and the
NLL floor a VAE is compared with.

It is a VAE's decoder without z: any registered decoder kind (an LSTM by default, a Transformer
for the Transformer VAEs) built with a latent size of 0, the same embedding and vocabulary
projection, the same `<eos>` start symbol and the same padding convention.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from textvae.errors import ConfigError
from textvae.models.contracts import DECODERS, ComponentOptions, Dims
from textvae.models.decoders import previous_tokens, sentence_nll
from textvae.models.rnn import RNN_INITS
from textvae.options import check_options, option


@dataclass
class LMConfig:
    kind: str = option("lstm", "The decoder kind: lstm, gru, or any registered decoder that reads a word "
                               "vocabulary (transformer ...).", choices=lambda: word_decoder_kinds())
    vocab_size: int = 0  # filled in from the vocabulary
    embedding_dim: int = option(256, "Embedding size.", min=1)
    hidden_dim: int = option(512, "Recurrent state size.", min=1)
    rnn_init: str = option("tf", "Recurrent weights start as TensorFlow's defaults (tf) or PyTorch's (torch).",
                           choices=RNN_INITS)
    options: dict[str, Any] = field(default_factory=dict)  # the kind's other options (a Transformer's layers ...)

    def __post_init__(self) -> None:
        check_options(self)
        self.decoder_options()  # checks the options against the kind

    def decoder_options(self) -> ComponentOptions:
        """The decoder kind's options: `options`, and rnn_init where the kind has it."""
        kind = DECODERS[self.kind]
        names = {f.name for f in dataclasses.fields(kind.options)}
        unknown = set(self.options) - names
        if unknown:
            raise ConfigError(f"not an option of the {self.kind} decoder: {', '.join(sorted(unknown))}")
        extra = {"rnn_init": self.rnn_init} if "rnn_init" in names else {}
        return kind.options(**{**extra, **self.options})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def word_decoder_kinds() -> tuple[str, ...]:
    """Decoder kinds a language model over a word vocabulary can be: those that bring no tokenizer
    of their own (a pretrained decoder does: `ComponentOptions.tokenizer`)."""
    return tuple(name for name, kind in DECODERS.items() if kind.options.tokenizer is ComponentOptions.tokenizer)


class LanguageModel(nn.Module):
    def __init__(self, config: LMConfig, eos_id: int, pad_id: int = 0):
        super().__init__()
        if config.vocab_size < 3:
            raise ValueError("config.vocab_size must be set (at least the three special entries)")
        self.config, self.eos_id, self.pad_id = config, eos_id, pad_id
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=pad_id)
        dims = Dims(config.embedding_dim, config.hidden_dim, latent_dim=0)
        self.decoder = DECODERS[config.kind].build(dims, config.decoder_options())
        self.to_vocab = nn.Linear(self.decoder.output_dim, config.vocab_size)

    @property
    def device(self) -> torch.device:
        return self.embedding.weight.device

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """-log p(x) per sentence in nats (`<eos>` included, padding excluded)."""
        features, _ = self.decoder(self.embedding(previous_tokens(tokens, self.eos_id)), None)
        return sentence_nll(self.to_vocab, features, tokens, lengths)
