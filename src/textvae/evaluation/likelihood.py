"""Likelihood over a corpus: a VAE's per-sentence distortion, rate and importance-weighted log p(x),
and a language model's cross-entropy."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor

from textvae.data.batching import Batch, collate, length_grouped_batches
from textvae.data.corpus import EncodedCorpus
from textvae.distributed import SINGLE, Group, share, sum_over_ranks
from textvae.errors import ConfigError
from textvae.evaluation.latent import LOG_2PI
from textvae.models.lm import LanguageModel
from textvae.models.vae import SentenceVAE, gaussian_kl
from textvae.progress import duration_text
from textvae.progress import progress as progress_bar

log = logging.getLogger(__name__)


def perplexity(nats_per_token: float) -> float:
    """exp(nats per token); inf where that overflows (a loss above ~709 nats a token), never an error."""
    try:
        return math.exp(nats_per_token)
    except OverflowError:
        return math.inf


def log_importance_weights(
    model: SentenceVAE, tokens: Tensor, lengths: Tensor, mu: Tensor, logvar: Tensor, samples: int,
    generator: torch.Generator | None = None, max_tokens: int = 8192, shared: tuple[slice, int, int] | None = None,
) -> Tensor:
    """log p(x|z_k) + log p(z_k) - log q(z_k|x) for z_k ~ q(z|x): (samples, batch).

    The samples go through the decoder in chunks of about `max_tokens` target tokens, so memory
    stays bounded whatever `samples` is. Where a batch is shared between processes, `tokens` to
    `logvar` are this rank's rows of it and `shared` is (those rows, the batch's rows, its real
    tokens): the noise is drawn for the whole batch, in the same chunks, and this rank's rows taken,
    as one process would draw them."""
    batch = tokens.size(0)
    rows, batch_rows, batch_tokens = shared if shared is not None else (slice(0, batch), batch, int(lengths.sum()))
    per_pass = max(1, max_tokens // max(batch_tokens, 1))
    std = torch.exp(0.5 * logvar)
    chunks = []
    for start in range(0, samples, per_pass):
        k = min(per_pass, samples - start)
        eps = torch.randn((k, batch_rows, mu.size(1)), generator=generator, device=mu.device, dtype=mu.dtype)[:, rows]
        if batch == 0:  # no row of this batch here: the draw above keeps the generator in step
            chunks.append(torch.zeros(k, 0, device=mu.device))
            continue
        z = mu + std * eps  # (k, batch, latent)
        log_q = (-0.5 * (eps.pow(2) + LOG_2PI) - 0.5 * logvar).sum(dim=-1)
        log_prior = (-0.5 * (z.pow(2) + LOG_2PI)).sum(dim=-1)
        log_likelihood = -model.distortion(tokens.repeat(k, 1), lengths.repeat(k), z.reshape(k * batch, -1))
        chunks.append(log_likelihood.view(k, batch) + log_prior - log_q)
    return torch.cat(chunks)


@dataclass
class CorpusScores:
    """Per-sentence quantities, in corpus order."""

    distortion: Tensor  # (N,) -log p(x|z), one z ~ q(z|x)
    kl: Tensor  # (N,) KL(q(z|x) || p(z))
    mu: Tensor  # (N, latent)
    logvar: Tensor  # (N, latent)
    z: Tensor  # (N, latent) the sample used for the distortion
    log_marginal: Tensor | None  # (N,) importance-weighted estimate of log p(x), if asked for


@torch.no_grad()
def score_corpus(
    model: SentenceVAE, corpus: EncodedCorpus, batch_size: int = 256, seed: int = 0, iw_samples: int = 0,
    max_tokens: int = 8192, progress: bool = False, group: Group = SINGLE,
) -> CorpusScores:
    """One pass over the corpus in length-grouped batches, on the model's device.

    Random draws come from a generator seeded with `seed`: the same call gives the same numbers,
    and the global random stream (training's) is left untouched. Across processes (`group`) each
    rank scores its share of every batch with the noise one process would draw for those rows, and
    the results are summed over ranks: every rank ends with the same numbers as one process."""
    was_training = model.training
    model.eval()
    device = model.device
    generator = torch.Generator(device=device).manual_seed(seed)
    n, latent = len(corpus), model.config.latent_dim
    out = {name: torch.zeros(n, dtype=torch.float64) for name in ("distortion", "kl", "log_marginal")}
    mu_all, logvar_all, z_all = (torch.zeros(n, latent) for _ in range(3))
    batches = length_grouped_batches(corpus.lengths, batch_size, rng=None)
    clock = IWClock(iw_samples, n, corpus.num_tokens, group.main)
    for indices in progress_bar(batches, desc="evaluate", unit="batch", enabled=progress and group.main):
        whole = collate(corpus, indices)
        rows = share(len(indices), group)
        index = torch.from_numpy(np.asarray(indices[rows]))
        batch = collate(corpus, indices[rows]).to(device) if len(index) else Batch(
            torch.zeros(0, 1, dtype=torch.long, device=device), torch.zeros(0, dtype=torch.long, device=device), index)
        eps = torch.randn((len(indices), latent), generator=generator, device=device)[rows]
        if len(index) > 0:
            mu, logvar = model.encode(batch.tokens, batch.lengths)
            z = model.reparameterize(mu, logvar, eps=eps.to(mu.dtype))
            out["distortion"][index] = model.distortion(batch.tokens, batch.lengths, z).double().cpu()
            out["kl"][index] = gaussian_kl(mu, logvar).sum(dim=1).double().cpu()
            mu_all[index], logvar_all[index], z_all[index] = mu.cpu(), logvar.cpu(), z.cpu()
        if iw_samples > 0:
            if len(index) == 0:  # this rank has no row here, but its generator draws what the others do
                mu = logvar = torch.zeros(0, latent, device=device)
            log_w = log_importance_weights(model, batch.tokens, batch.lengths, mu, logvar, iw_samples, generator,
                                           max_tokens, (rows, len(indices), whole.num_tokens))
            out["log_marginal"][index] = (torch.logsumexp(log_w.double(), dim=0) - math.log(iw_samples)).cpu()
            clock.batch_done(whole.num_tokens)
    model.train(was_training)
    for tensor in (*out.values(), mu_all, logvar_all, z_all):
        sum_over_ranks(tensor, group)  # each sentence's numbers come from one rank, zeros from the rest
    return CorpusScores(out["distortion"], out["kl"], mu_all, logvar_all, z_all,
                        out["log_marginal"] if iw_samples > 0 else None)


class IWClock:
    """Says once, after the first batch, how long the importance-weighted NLL will take where that is
    long (its cost grows with tokens x samples), and how to make it shorter."""

    LONG = 120.0  # seconds

    def __init__(self, iw_samples: int, sentences: int, tokens: int, speaks: bool):
        self.iw_samples, self.sentences, self.tokens = iw_samples, sentences, tokens
        self.speaks = speaks and iw_samples > 0
        self.started = time.perf_counter()

    def batch_done(self, tokens_done: int) -> None:
        if not self.speaks:
            return
        self.speaks = False
        estimate = (time.perf_counter() - self.started) * self.tokens / max(tokens_done, 1)
        if estimate > self.LONG:
            fewer = max(1, self.iw_samples // 5)
            log.warning("importance-weighted NLL with %d samples on %d sentences: about %s at this speed; "
                        "--iw-samples %d takes about a fifth of it (a looser bound), --iw-samples 0 skips it",
                        self.iw_samples, self.sentences, duration_text(estimate), fewer)


@dataclass
class LMEvaluation:
    cross_entropy: float  # nats per token, `<eos>` counted
    perplexity: float
    nll: float  # nats per sentence
    sentences: int
    tokens: int

    def to_dict(self) -> dict[str, float | int | None]:
        """JSON-ready: a perplexity that overflowed (inf) becomes None."""
        return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in asdict(self).items()}


@torch.no_grad()
def evaluate_lm(model: LanguageModel, corpus: EncodedCorpus, batch_size: int = 256) -> LMEvaluation:
    """Cross-entropy of a corpus under the model, in nats per token."""
    if len(corpus) == 0:
        raise ConfigError("cannot evaluate a language model on an empty corpus")
    was_training = model.training
    model.eval()
    total = 0.0
    for indices in length_grouped_batches(corpus.lengths, batch_size, None):
        batch = collate(corpus, indices, model.pad_id).to(model.device)
        total += float(model(batch.tokens, batch.lengths).sum())
    model.train(was_training)
    tokens = corpus.num_tokens
    return LMEvaluation(total / tokens, perplexity(total / tokens), total / len(corpus), len(corpus), tokens)
