"""What the latent code carries: active units, mutual information, and the aggregate posterior."""

from __future__ import annotations

import math

import torch
from torch import Tensor

LOG_2PI = math.log(2 * math.pi)


def active_units(mu: Tensor, threshold: float = 0.01) -> tuple[int, Tensor]:
    """Burda et al. 2016: dimension d is active when Var_x(E_q[z_d | x]) > threshold.

    Returns the count and the per-dimension variances (unbiased, across sentences)."""
    variances = mu.double().var(dim=0, unbiased=True)
    return int((variances > threshold).sum()), variances


def gaussian_log_density(z: Tensor, mu: Tensor, logvar: Tensor, chunk: int = 1024) -> Tensor:
    """log N(z_m; mu_n, diag(exp(logvar_n))) for every pair: (M, N), in float64.

    The squared distance is expanded into matrix products, sum_d (z_d - mu_d)^2 / var_d =
    z^2 . (1/var) - 2 z . (mu/var) + sum_d mu_d^2 / var_d, so memory is that of the (chunk, N)
    result, not of a (chunk, N, latent) difference tensor."""
    mu, logvar = mu.double(), logvar.double()
    inv_var = torch.exp(-logvar)  # (N, Z)
    const = -0.5 * (mu.size(1) * LOG_2PI + logvar.sum(dim=1) + (mu.pow(2) * inv_var).sum(dim=1))  # (N,)
    mu_over_var = mu * inv_var
    rows = []
    for z_chunk in z.double().split(chunk):
        rows.append(const - 0.5 * (z_chunk.pow(2) @ inv_var.T) + z_chunk @ mu_over_var.T)
    return torch.cat(rows)


def mutual_information(mu: Tensor, logvar: Tensor, z: Tensor) -> float:
    """I_q(x; z) as estimated by He et al. 2019:

        E_x[ E_q(z|x) log q(z|x) ] - E_x E_q(z|x)[ log q(z) ],

    the first term analytic (minus the entropy of each Gaussian posterior), the second with one
    sample z_j ~ q(z|x_j) per sentence and q(z) the mixture of all N posteriors of the set
    (He et al. took the mixture over one mini-batch; the whole set is the less biased estimate).
    """
    n, dims = mu.shape
    neg_entropy = (-0.5 * (dims * (LOG_2PI + 1) + logvar.double().sum(dim=1))).mean()
    log_q_z = torch.cat([torch.logsumexp(gaussian_log_density(chunk, mu, logvar), dim=1)
                         for chunk in z.split(1024)]) - math.log(n)
    return float(neg_entropy - log_q_z.mean())


def aggregate_posterior_stats(z: Tensor) -> tuple[float, float]:
    """For one z ~ q(z|x) per sentence: log-determinant of their sample covariance (LogDetCov)
    and the squared norm of their mean (||mu||^2). Both compare q(z) with the N(0, I) prior."""
    z = z.double()
    dims = z.size(1)
    sign, log_det = torch.linalg.slogdet(torch.cov(z.T).reshape(dims, dims))
    return (float(log_det) if sign > 0 else -math.inf), float(z.mean(dim=0).pow(2).sum())
