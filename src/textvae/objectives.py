"""Training objectives: how per-sentence distortion and per-dimension KL become a loss.

Every objective is called as `objective(distortion, kl, step)` with
  distortion: (batch,) -log p(x|z) per sentence, and
  kl:         (batch, latent) KL(q(z|x) || p(z)) per latent dimension,
and returns an `ObjectiveOutput`. `step=None` asks for the objective after all its schedules
have ended; training uses it to compare validation losses across steps.

Two families cover the field's remedies for posterior collapse:
- `BetaC` steers the rate to a target: D + beta * |KL - C_t| (the paper's objective).
- `WeightedKL` weighs the rate: D + w(step) * KL', where w is a schedule (constant 1: the ELBO;
  constant beta: a beta-VAE; rising 0 -> 1: KL annealing; cycles: cyclical annealing) and KL' is
  the KL itself or, with `FreeBits`, the KL with a floor below which it is not pushed down.
`build_objective` makes one from the names and options of `textvae train`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

from torch import Tensor

from textvae.errors import ConfigError

# -- schedules: a number for each training step (None: after every schedule has ended) ------------


class Schedule(Protocol):
    def __call__(self, step: int | None) -> float: ...


@dataclass(frozen=True)
class Constant:
    value: float

    def __call__(self, step: int | None) -> float:
        return self.value


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


@dataclass(frozen=True)
class LogisticSchedule:
    """Bowman et al. 2016's sigmoid from 0 to 1 over `steps` steps, centred half-way:
    1 / (1 + exp(-10 (step / steps - 1/2))), 0.0067 at the start, 0.9933 at `steps`, then 1."""

    steps: int

    def __call__(self, step: int | None) -> float:
        if step is None or self.steps <= 0 or step >= self.steps:
            return 1.0
        return 1.0 / (1.0 + math.exp(-10.0 * (step / self.steps - 0.5)))


@dataclass(frozen=True)
class CyclicalSchedule:
    """Fu et al. 2019: `total` steps split into `cycles` equal cycles; in each the weight rises
    linearly from 0 to 1 over the first `ratio` of the cycle and stays at 1 for the rest."""

    total: int
    cycles: int = 4
    ratio: float = 0.5

    def __post_init__(self) -> None:
        if self.cycles < 1 or not 0 < self.ratio <= 1:
            raise ConfigError(f"cyclical annealing needs cycles >= 1 and 0 < ratio <= 1, got {self.cycles}, "
                              f"{self.ratio}")

    def __call__(self, step: int | None) -> float:
        if step is None or self.total <= 0 or step >= self.total:
            return 1.0
        period = self.total / self.cycles
        position = (step % period) / period
        return min(1.0, position / self.ratio)


# -- free bits ---------------------------------------------------------------------------------------
FREE_BITS_MODES = ("dim", "batch")


@dataclass(frozen=True)
class FreeBits:
    """A floor under the KL, below which no gradient pushes it further down.

    - "dim" (Kingma et al. 2016): each latent dimension's batch-mean KL counts as at least
      `threshold` nats: sum_d max(threshold, mean_batch KL_d).
    - "batch" (Li et al. 2019): the batch-mean KL summed over dimensions counts as at least
      `threshold` nats: max(threshold, mean_batch sum_d KL_d).
    """

    threshold: float
    mode: str = "dim"

    def __post_init__(self) -> None:
        if self.mode not in FREE_BITS_MODES:
            raise ConfigError(f"--fb-mode must be one of {', '.join(FREE_BITS_MODES)}, got {self.mode!r}")
        if not (math.isfinite(self.threshold) and self.threshold > 0):
            raise ConfigError(f"free bits need a positive threshold in nats, got {self.threshold}")

    def __call__(self, kl: Tensor) -> Tensor:
        if self.mode == "dim":
            return kl.mean(dim=0).clamp(min=self.threshold).sum()
        return kl.sum(dim=-1).mean().clamp(min=self.threshold)


# -- objectives ----------------------------------------------------------------------------------------
@dataclass
class ObjectiveOutput:
    loss: Tensor
    distortion: Tensor  # batch mean, nats per sentence
    rate: Tensor  # batch mean of the KL summed over latent dims, nats per sentence (no free bits)
    kl_target: float | None = None
    kl_weight: float | None = None

    def stats(self) -> dict[str, float]:
        out = {"loss": self.loss.item(), "distortion": self.distortion.item(), "rate": self.rate.item()}
        if self.kl_target is not None:
            out["kl_target"] = self.kl_target
        if self.kl_weight is not None:
            out["kl_weight"] = self.kl_weight
        return out


class Objective(Protocol):
    def __call__(self, distortion: Tensor, kl: Tensor, step: int | None) -> ObjectiveOutput: ...

    def target_at(self, step: int | None) -> float | None:
        """The rate the objective steers to at `step`, or None if it steers to none."""
        ...

    def weight_at(self, step: int | None) -> float | None:
        """The weight on the KL at `step`, or None where the objective has no such weight."""
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

    def weight_at(self, step: int | None) -> None:
        return None

    def __call__(self, distortion: Tensor, kl: Tensor, step: int | None) -> ObjectiveOutput:
        d, r = distortion.mean(), kl.sum(dim=-1).mean()
        c = self.target_at(step)
        return ObjectiveOutput(d + self.beta * (r - c).abs(), d, r, kl_target=c)


@dataclass(frozen=True)
class WeightedKL:
    """mean(distortion) + w(step) * KL', KL' = mean(KL) or its free-bits version."""

    weight: Schedule = field(default_factory=lambda: Constant(1.0))
    free_bits: FreeBits | None = None

    def target_at(self, step: int | None) -> None:
        return None

    def weight_at(self, step: int | None) -> float:
        return self.weight(step)

    def __call__(self, distortion: Tensor, kl: Tensor, step: int | None) -> ObjectiveOutput:
        d, r = distortion.mean(), kl.sum(dim=-1).mean()
        kl_term = r if self.free_bits is None else self.free_bits(kl)
        w = self.weight(step)
        return ObjectiveOutput(d + w * kl_term, d, r, kl_weight=w)


def ELBO() -> WeightedKL:
    """The negative evidence lower bound, distortion + rate (a vanilla VAE)."""
    return WeightedKL(Constant(1.0))


OBJECTIVES = ("beta-c", "elbo", "beta", "anneal", "cyclical", "free-bits")
ANNEAL_SHAPES = ("linear", "logistic")
DEFAULT_FREE_BITS = 0.5  # nats a dimension ("dim") for the free-bits objective when none is given


def build_objective(
    name: str, kl_target: float = 15.0, beta: float = 1.0, anneal_steps: int = 0, *, total_steps: int = 1,
    anneal_shape: str = "linear", cycles: int = 4, cycle_ratio: float = 0.5, free_bits: float | None = None,
    fb_mode: str = "dim",
) -> Objective:
    """The objective `textvae train --objective NAME` trains with:

    - beta-c: D + beta |KL - C_t|, C_t rising linearly to C over `anneal_steps`;
    - elbo: D + KL; beta: D + beta KL (Higgins et al. 2017);
    - anneal: D + w KL, w rising 0 -> 1 over `anneal_steps`, `anneal_shape` linear or logistic
      (Bowman et al. 2016);
    - cyclical: D + w KL, w in `cycles` cycles over `total_steps`, rising over `cycle_ratio` of
      each (Fu et al. 2019);
    - free-bits: the ELBO with free bits (`free_bits` nats, 0.5 unless given).
    `free_bits` also composes with elbo, beta, anneal and cyclical (as the papers compose them)."""
    if anneal_shape not in ANNEAL_SHAPES:
        raise ConfigError(f"--anneal-shape must be one of {', '.join(ANNEAL_SHAPES)}, got {anneal_shape!r}")
    if name == "beta-c":
        if free_bits is not None:
            raise ConfigError("free bits do not compose with beta-c, whose target already keeps the rate up")
        return BetaC(kl_target=kl_target, beta=beta, anneal_steps=anneal_steps)
    if name == "free-bits" and free_bits is None:
        free_bits = DEFAULT_FREE_BITS
    floor = None if free_bits is None else FreeBits(free_bits, fb_mode)
    if name in ("elbo", "free-bits"):
        return WeightedKL(Constant(1.0), floor)
    if name == "beta":
        return WeightedKL(Constant(beta), floor)
    if name == "anneal":
        rising = LinearSchedule(1.0, anneal_steps) if anneal_shape == "linear" else LogisticSchedule(anneal_steps)
        return WeightedKL(rising, floor)
    if name == "cyclical":
        return WeightedKL(CyclicalSchedule(total_steps, cycles, cycle_ratio), floor)
    raise ConfigError(f"unknown objective {name!r}; choose from {', '.join(OBJECTIVES)}")
