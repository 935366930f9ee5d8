"""Training objectives: how per-sentence distortion and per-dimension KL become a loss.

Every objective is called as `objective(distortion, kl, step)` with
  distortion: (batch,) -log p(x|z) per sentence, and
  kl:         (batch, latent) KL(q(z|x) || p(z)) per latent dimension,
and returns an `ObjectiveOutput`. `step=None` asks for the objective after all its schedules
have ended; training uses it to compare validation losses across steps. New objectives (KL
annealing, free bits, cyclical schedules) sit beside these behind the same interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from torch import Tensor

from textvae.errors import ConfigError


@dataclass(frozen=True)
class LinearSchedule:
    """Rises linearly from `start` to `end` over `steps` steps, then stays at `end`."""

    end: float
    steps: int
    start: float = 0.0

    def __call__(self, step: int | None) -> float:
        if step is None or self.steps <= 0 or step >= self.steps:
            return self.end
        return self.start + (self.end - self.start) * step / self.steps


@dataclass
class ObjectiveOutput:
    loss: Tensor
    distortion: Tensor  # batch mean, nats per sentence
    rate: Tensor  # batch mean of the KL summed over latent dims, nats per sentence
    kl_target: float | None = None

    def stats(self) -> dict[str, float]:
        out = {"loss": self.loss.item(), "distortion": self.distortion.item(), "rate": self.rate.item()}
        if self.kl_target is not None:
            out["kl_target"] = self.kl_target
        return out


class Objective(Protocol):
    def __call__(self, distortion: Tensor, kl: Tensor, step: int | None) -> ObjectiveOutput: ...

    def target_at(self, step: int | None) -> float | None:
        """The rate the objective steers to at `step`, or None if it steers to none."""
        ...


@dataclass(frozen=True)
class BetaC:
    """beta * |KL - C_t| (Burgess et al. 2018; Prokhorov et al. 2019): the rate is steered to C.

    loss = mean(distortion) + beta * |mean(KL) - C_t|, with C_t rising linearly from 0 to C.
    """

    kl_target: float
    beta: float = 1.0
    anneal_steps: int = 0

    def target_at(self, step: int | None) -> float:
        return LinearSchedule(self.kl_target, self.anneal_steps)(step)

    def __call__(self, distortion: Tensor, kl: Tensor, step: int | None) -> ObjectiveOutput:
        d, r = distortion.mean(), kl.sum(dim=-1).mean()
        c = self.target_at(step)
        return ObjectiveOutput(d + self.beta * (r - c).abs(), d, r, kl_target=c)


@dataclass(frozen=True)
class ELBO:
    """The negative evidence lower bound, distortion + rate (a vanilla VAE)."""

    def target_at(self, step: int | None) -> None:
        return None

    def __call__(self, distortion: Tensor, kl: Tensor, step: int | None) -> ObjectiveOutput:
        d, r = distortion.mean(), kl.sum(dim=-1).mean()
        return ObjectiveOutput(d + r, d, r)


OBJECTIVES = ("beta-c", "elbo")


def build_objective(name: str, kl_target: float, beta: float, anneal_steps: int) -> Objective:
    if name == "beta-c":
        return BetaC(kl_target=kl_target, beta=beta, anneal_steps=anneal_steps)
    if name == "elbo":
        return ELBO()
    raise ConfigError(f"unknown objective {name!r}; choose from {', '.join(OBJECTIVES)}")
