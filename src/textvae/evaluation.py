"""Held-out measurements: distortion, rate, ELBO and its perplexity."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from textvae.data.batching import collate, length_grouped_batches
from textvae.data.corpus import EncodedCorpus
from textvae.models.vae import SentenceVAE


@dataclass
class CorpusMetrics:
    """Per-sentence averages in nats; `elbo` is the log-likelihood lower bound -(D + R)."""

    distortion: float
    rate: float
    elbo: float
    ppl_elbo: float  # exp(-sum ELBO / tokens), `<eos>` counted
    sentences: int
    tokens: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


@torch.no_grad()
def evaluate_corpus(
    model: SentenceVAE, corpus: EncodedCorpus, batch_size: int = 256, seed: int = 0
) -> CorpusMetrics:
    """D and R with one z sample per sentence, drawn from a generator seeded with `seed`
    (so the numbers are reproducible and training's random stream is left untouched)."""
    was_training = model.training
    model.eval()
    device = model.device
    generator = torch.Generator(device=device).manual_seed(seed)
    total_distortion = total_rate = 0.0
    for indices in length_grouped_batches(corpus.lengths, batch_size, rng=None):
        batch = collate(corpus, indices).to(device)
        out = model(batch.tokens, batch.lengths, generator=generator)
        total_distortion += float(out.distortion.double().sum())
        total_rate += float(out.kl.double().sum())
    model.train(was_training)
    n, tokens = len(corpus), corpus.num_tokens
    d, r = total_distortion / n, total_rate / n
    return CorpusMetrics(d, r, -(d + r), math.exp((total_distortion + total_rate) / tokens), n, tokens)
