"""Per-sentence likelihood terms over a corpus: distortion, rate, and importance-weighted log p(x)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from textvae.data.batching import collate, length_grouped_batches
from textvae.data.corpus import EncodedCorpus
from textvae.evaluation.latent import LOG_2PI
from textvae.models.vae import SentenceVAE, gaussian_kl
from textvae.progress import progress as progress_bar


def log_importance_weights(
    model: SentenceVAE, tokens: Tensor, lengths: Tensor, mu: Tensor, logvar: Tensor, samples: int,
    generator: torch.Generator | None = None, max_tokens: int = 8192,
) -> Tensor:
    """log p(x|z_k) + log p(z_k) - log q(z_k|x) for z_k ~ q(z|x): (samples, batch).

    The samples go through the decoder in chunks of about `max_tokens` target tokens, so memory
    stays bounded whatever `samples` is."""
    batch = tokens.size(0)
    per_pass = max(1, max_tokens // max(int(lengths.sum()), 1))
    std = torch.exp(0.5 * logvar)
    chunks = []
    for start in range(0, samples, per_pass):
        k = min(per_pass, samples - start)
        eps = torch.randn((k, *mu.shape), generator=generator, device=mu.device, dtype=mu.dtype)
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
    max_tokens: int = 8192, progress: bool = False,
) -> CorpusScores:
    """One pass over the corpus in length-grouped batches, on the model's device.

    Random draws come from a generator seeded with `seed`: the same call gives the same numbers,
    and the global random stream (training's) is left untouched."""
    was_training = model.training
    model.eval()
    device = model.device
    generator = torch.Generator(device=device).manual_seed(seed)
    n, latent = len(corpus), model.config.latent_dim
    out = {name: torch.zeros(n, dtype=torch.float64) for name in ("distortion", "kl", "log_marginal")}
    mu_all, logvar_all, z_all = (torch.zeros(n, latent) for _ in range(3))
    batches = length_grouped_batches(corpus.lengths, batch_size, rng=None)
    for indices in progress_bar(batches, desc="evaluate", unit="batch", enabled=progress):
        batch = collate(corpus, indices).to(device)
        index = torch.from_numpy(np.asarray(indices))
        mu, logvar = model.encode(batch.tokens, batch.lengths)
        z = model.reparameterize(mu, logvar, generator)
        out["distortion"][index] = model.distortion(batch.tokens, batch.lengths, z).double().cpu()
        out["kl"][index] = gaussian_kl(mu, logvar).sum(dim=1).double().cpu()
        if iw_samples > 0:
            log_w = log_importance_weights(model, batch.tokens, batch.lengths, mu, logvar, iw_samples, generator,
                                           max_tokens)
            out["log_marginal"][index] = (torch.logsumexp(log_w.double(), dim=0) - math.log(iw_samples)).cpu()
        mu_all[index], logvar_all[index], z_all[index] = mu.cpu(), logvar.cpu(), z.cpu()
    model.train(was_training)
    return CorpusScores(out["distortion"], out["kl"], mu_all, logvar_all, z_all,
                        out["log_marginal"] if iw_samples > 0 else None)
