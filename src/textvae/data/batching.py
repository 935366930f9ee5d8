"""Batches grouped by length, so that padding stays small."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from textvae.data.corpus import EncodedCorpus


@dataclass
class Batch:
    tokens: Tensor  # (batch, time) ids, `<pad>`=0 after each sentence's `<eos>`
    lengths: Tensor  # (batch,) real tokens, `<eos>` included
    indices: np.ndarray  # positions of these sentences in the corpus

    def to(self, device: torch.device | str) -> "Batch":
        return Batch(self.tokens.to(device, non_blocking=True), self.lengths.to(device), self.indices)

    @property
    def num_tokens(self) -> int:
        return int(self.lengths.sum())


def collate(corpus: EncodedCorpus, indices: np.ndarray, pad_id: int = 0) -> Batch:
    sentences = [corpus.ids[i] for i in indices]
    lengths = np.fromiter((len(s) for s in sentences), dtype=np.int64, count=len(sentences))
    tokens = np.full((len(sentences), int(lengths.max())), pad_id, dtype=np.int64)
    for row, sentence in enumerate(sentences):
        tokens[row, : len(sentence)] = sentence
    return Batch(torch.from_numpy(tokens), torch.from_numpy(lengths), np.asarray(indices))


def length_grouped_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator | None) -> list[np.ndarray]:
    """Split sentence indices into batches of similar length.

    Sentences are shuffled, stably sorted by length and cut into consecutive batches, so most
    batches hold one length only; the batch order is then shuffled. With `rng=None` the order
    is sorted by length and deterministic (for evaluation).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    order = np.arange(len(lengths)) if rng is None else rng.permutation(len(lengths))
    order = order[np.argsort(lengths[order], kind="stable")]
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def padding_fraction(lengths: np.ndarray, batches: list[np.ndarray]) -> float:
    """Share of the padded token grid that is padding."""
    real = sum(int(lengths[b].sum()) for b in batches)
    grid = sum(int(lengths[b].max()) * len(b) for b in batches)
    return 1.0 - real / grid if grid else 0.0


def epoch_batches(lengths: np.ndarray, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """The length-grouped batches of one training epoch, in an order fixed by (seed, epoch): a
    resumed run and every process of a distributed one see the same order."""
    return length_grouped_batches(lengths, batch_size, np.random.default_rng([seed, epoch]))
