"""Held-out measurements of a sentence VAE (docs/method.md, "Measurements"), per sentence in nats.

`evaluate_corpus` gives the cheap numbers training reports (D, R, ELBO); `evaluate` gives
everything: importance-weighted NLL, mutual information, active units and the aggregate
posterior's LogDetCov and ||mu||^2. Both run one batched pass (`score_corpus`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from textvae.data.corpus import EncodedCorpus
from textvae.distributed import SINGLE, Group
from textvae.errors import ConfigError
from textvae.evaluation.latent import active_units, aggregate_posterior_stats, mutual_information
from textvae.evaluation.likelihood import (
    CorpusScores, LMEvaluation, evaluate_lm, log_importance_weights, perplexity, score_corpus,
)
from textvae.models.vae import SentenceVAE

__all__ = [
    "CorpusMetrics", "CorpusScores", "Evaluation", "LMEvaluation", "evaluate", "evaluate_corpus", "evaluate_lm",
    "log_importance_weights", "score_corpus",
]


def collapse_note(rate: float, mi: float | None, mi_sentences: int | None, where: str) -> str | None:
    """Where the rate is not information about the sentence, what to say (None where it is): a rate
    of at least 1 nat with MI below half of what the estimator could show, min(R, log N)."""
    if mi is None or mi_sentences is None or rate < 1.0:
        return None
    if mi >= 0.5 * min(rate, math.log(mi_sentences)):
        return None
    return (f"rate met by a shift of all posteriors: the code carries {mi:.2f} of {rate:.2f} nats about the sentence "
            f"(MI on {where}); see the README's 'Choosing an objective'")


@dataclass
class CorpusMetrics:
    """Per-sentence averages in nats; `elbo` is the log-likelihood lower bound -(D + R)."""

    distortion: float
    rate: float
    elbo: float
    ppl_elbo: float  # exp(-sum ELBO / tokens), `<eos>` counted
    sentences: int
    tokens: int
    mi: float | None = None  # I_q(x; z) on at most MI_SENTENCES of them; None where not measured
    mi_sentences: int | None = None  # how many: the estimate cannot exceed log of this
    au: int | None = None  # active units

    def to_dict(self) -> dict[str, float | int | None]:
        return asdict(self)

    def collapse_note(self) -> str | None:
        return collapse_note(self.rate, self.mi, self.mi_sentences, "the validation split")


@dataclass
class Evaluation:
    """Everything `textvae evaluate` reports (nats per sentence unless said)."""

    distortion: float
    rate: float
    elbo: float
    nll_iw: float | None  # -log p(x) by importance sampling; None when skipped
    ppl_iw: float | None  # exp(sum nll_iw / tokens)
    ppl_elbo: float
    mi: float  # I_q(x; z)
    au: int  # active units
    au_variances: list[float]  # Var_x E_q[z_d | x], per dimension
    log_det_cov: float  # mean over repeats
    mu_norm_sq: float  # mean over repeats
    sentences: int
    tokens: int
    # Per word (whitespace-separated words of the text, one end of sentence each): comparable between
    # models with different tokenizers. With a word vocabulary they equal the per-token values.
    words: int | None = None
    ppl_word_iw: float | None = None
    ppl_word_elbo: float | None = None

    def to_dict(self) -> dict[str, object]:
        """Fields as JSON-ready values: a non-finite number (the log-determinant of a singular
        covariance, with fewer sentences than latent dimensions) becomes None."""
        return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in asdict(self).items()}


def _basic(scores: CorpusScores, tokens: int) -> tuple[float, float, float, float]:
    n = len(scores.distortion)
    total_d, total_r = float(scores.distortion.sum()), float(scores.kl.sum())
    return total_d / n, total_r / n, -(total_d + total_r) / n, perplexity((total_d + total_r) / tokens)


MI_SENTENCES = 4096  # the MI of training-time evaluations uses at most this many (its cost grows as N^2)


def evaluate_corpus(model: SentenceVAE, corpus: EncodedCorpus, batch_size: int = 256, seed: int = 0,
                    latent: bool = False, au_threshold: float = 0.01, group: Group = SINGLE) -> CorpusMetrics:
    """D and R with one z sample per sentence (what training reports at each evaluation); with
    `latent`, also MI (on at most MI_SENTENCES evenly spread sentences) and active units. Shared
    between the processes of `group`, each getting the whole result."""
    scores = score_corpus(model, corpus, batch_size, seed, group=group)
    d, r, elbo, ppl = _basic(scores, corpus.num_tokens)
    metrics = CorpusMetrics(d, r, elbo, ppl, len(corpus), corpus.num_tokens)
    if latent and len(corpus) >= 2:
        chosen = torch.linspace(0, len(corpus) - 1, min(len(corpus), MI_SENTENCES)).round().long().unique()
        metrics.mi = mutual_information(scores.mu[chosen], scores.logvar[chosen], scores.z[chosen])
        metrics.mi_sentences = len(chosen)
        metrics.au = active_units(scores.mu, au_threshold)[0]
    return metrics


def evaluate(
    model: SentenceVAE, corpus: EncodedCorpus, iw_samples: int = 500, au_threshold: float = 0.01, repeats: int = 5,
    seed: int = 0, batch_size: int = 256, max_tokens: int = 8192, progress: bool = False, group: Group = SINGLE,
) -> Evaluation:
    """All measurements on one corpus, deterministic for a seed.

    `iw_samples`: importance samples per sentence for nll_iw (0 skips it); `repeats`: draws of one z
    per sentence averaged for LogDetCov and ||mu||^2; `max_tokens` bounds the decoder's work per pass;
    `group`: the processes that share the work (torchrun), each getting the whole result.
    """
    if len(corpus) < 2:
        raise ConfigError("evaluation needs at least two sentences (it measures variances across sentences)")
    scores = score_corpus(model, corpus, batch_size, seed, iw_samples, max_tokens, progress, group)
    d, r, elbo, ppl_elbo = _basic(scores, corpus.num_tokens)
    nll_iw = ppl_iw = ppl_word_iw = None
    if scores.log_marginal is not None:
        total = -float(scores.log_marginal.sum())
        nll_iw, ppl_iw = total / len(corpus), perplexity(total / corpus.num_tokens)
        ppl_word_iw = perplexity(total / corpus.num_words)
    au, variances = active_units(scores.mu, au_threshold)
    generator = torch.Generator().manual_seed(seed + 1)
    std = torch.exp(0.5 * scores.logvar)
    stats = [aggregate_posterior_stats(scores.mu + std * torch.randn(scores.mu.shape, generator=generator))
             for _ in range(repeats)]
    return Evaluation(
        distortion=d, rate=r, elbo=elbo, nll_iw=nll_iw, ppl_iw=ppl_iw, ppl_elbo=ppl_elbo,
        mi=mutual_information(scores.mu, scores.logvar, scores.z), au=au, au_variances=variances.tolist(),
        log_det_cov=sum(s[0] for s in stats) / repeats, mu_norm_sq=sum(s[1] for s in stats) / repeats,
        sentences=len(corpus), tokens=corpus.num_tokens, words=corpus.num_words, ppl_word_iw=ppl_word_iw,
        ppl_word_elbo=perplexity(-elbo * len(corpus) / corpus.num_words),
    )
