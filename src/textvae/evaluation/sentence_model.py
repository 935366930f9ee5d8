"""What the sentence-level evaluations (probes, minimal pairs) need of a model: a trained VAE that
reads text. `textvae.api.TextVAE` is one; any object with these members can be evaluated alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from torch import Tensor

from textvae.data.tokenize import Tokenizer
from textvae.data.vocab import TokenVocabulary

Sentences = Sequence[str] | Sequence[Sequence[str]]  # text, or lists of tokens


class SentenceModel(Protocol):
    vocab: TokenVocabulary
    tokenizer: Tokenizer  # how a line of text becomes tokens for this model

    def tokenize(self, sentences: Sentences) -> list[list[str]]: ...

    def encode(self, sentences: Sentences) -> tuple[Tensor, Tensor]:
        """Posterior mean and log-variance of q(z|x), each (n, latent)."""
        ...

    def log_prob(self, sentences: Sentences, z: Tensor) -> Tensor:
        """log p(x|z) in nats for each sentence (`<eos>` included), z of shape (n, latent)."""
        ...

    def warn_unknown(self, sentences: Sentences, what: str) -> None:
        """One warning line where `sentences` hold words outside the vocabulary."""
        ...
