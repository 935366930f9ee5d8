"""A plain recurrent language model p(x) = prod_t p(x_t | x_<t): the scorer of forward cross-entropy.

It is the VAE's decoder without z: the same embedding, recurrent layer and vocabulary projection,
the same `<eos>` start symbol and the same padding convention.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from textvae.models.decoders import RNNDecoder, previous_tokens, sentence_nll
from textvae.models.rnn import RNN_INITS, RNN_KINDS
from textvae.options import check_options, option


@dataclass
class LMConfig:
    kind: str = option("lstm", "The recurrent layer: lstm or gru.", choices=tuple(RNN_KINDS))
    vocab_size: int = 0  # filled in from the vocabulary
    embedding_dim: int = option(256, "Embedding size.", min=1)
    hidden_dim: int = option(512, "Recurrent state size.", min=1)
    rnn_init: str = option("tf", "Recurrent weights start as TensorFlow's defaults (tf) or PyTorch's (torch).",
                           choices=RNN_INITS)

    def __post_init__(self) -> None:
        check_options(self)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class LanguageModel(nn.Module):
    def __init__(self, config: LMConfig, eos_id: int, pad_id: int = 0):
        super().__init__()
        if config.vocab_size < 3:
            raise ValueError("config.vocab_size must be set (at least the three special entries)")
        self.config, self.eos_id, self.pad_id = config, eos_id, pad_id
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=pad_id)
        self.decoder = RNNDecoder(config.kind, config.embedding_dim, config.hidden_dim, config.rnn_init)
        self.to_vocab = nn.Linear(config.hidden_dim, config.vocab_size)

    @property
    def device(self) -> torch.device:
        return self.embedding.weight.device

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """-log p(x) per sentence in nats (`<eos>` included, padding excluded)."""
        features, _ = self.decoder(self.embedding(previous_tokens(tokens, self.eos_id)), None)
        return sentence_nll(self.to_vocab, features, tokens, lengths)
