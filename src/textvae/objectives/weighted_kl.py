"""Objectives that weigh the rate: D + w(step) * KL', where w is a schedule and KL' the KL or its
free-bits version. A constant weight of 1 is the ELBO, a constant beta a beta-VAE, a weight rising
from 0 to 1 KL annealing, a weight in cycles cyclical annealing."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor

from textvae.objectives.base import ObjectiveOptions, ObjectiveOutput, register_objective
from textvae.objectives.free_bits import FreeBits, KLFloorOptions
from textvae.objectives.schedules import (
    AnnealingOptions, Constant, CyclicalSchedule, LinearSchedule, LogisticSchedule, Schedule,
)
from textvae.options import option

ANNEAL_SHAPES = ("linear", "logistic")
DEFAULT_FREE_BITS = 0.5  # nats a dimension ("dim") for the free-bits objective when none is given


@dataclass(frozen=True)
class WeightedKL:
    """mean(distortion) + w(step) * KL', KL' = mean(KL) or its free-bits version."""

    weight: Schedule = field(default_factory=lambda: Constant(1.0))
    free_bits: FreeBits | None = None

    def target_at(self, step: int | None) -> None:
        return None

    def weight_at(self, step: int | None) -> float:
        return self.weight(step)

    def describe(self, total_steps: int) -> None:
        return None

    def __call__(self, distortion: Tensor, kl: Tensor, step: int | None) -> ObjectiveOutput:
        d, r = distortion.mean(), kl.sum(dim=-1).mean()
        kl_term = r if self.free_bits is None else self.free_bits(kl)
        w = self.weight(step)
        return ObjectiveOutput(d + w * kl_term, d, r, kl_weight=w)


def ELBO() -> WeightedKL:
    """The negative evidence lower bound, distortion + rate (a vanilla VAE)."""
    return WeightedKL(Constant(1.0))


@register_objective("elbo")
@dataclass
class ELBOOptions(KLFloorOptions, ObjectiveOptions):
    about = "D + KL (a vanilla VAE)"

    def build(self, total_steps: int, steps_per_epoch: int) -> WeightedKL:
        return WeightedKL(Constant(1.0), self.floor())


@register_objective("beta")
@dataclass
class BetaOptions(KLFloorOptions, ObjectiveOptions):
    about = "D + beta KL (Higgins et al. 2017)"

    beta: float = option(1.0, "Weight of KL.", min=0, min_open=True)

    def build(self, total_steps: int, steps_per_epoch: int) -> WeightedKL:
        return WeightedKL(Constant(self.beta), self.floor())


@register_objective("anneal")
@dataclass
class AnnealOptions(AnnealingOptions, KLFloorOptions, ObjectiveOptions):
    about = "D + w KL, w rising 0 -> 1 over the annealing (Bowman et al. 2016)"

    anneal_shape: str = option("linear", "How the KL weight rises: linear, or logistic (Bowman et al. 2016).",
                               choices=ANNEAL_SHAPES)

    def build(self, total_steps: int, steps_per_epoch: int) -> WeightedKL:
        steps = self.annealing_steps(steps_per_epoch)
        rising = LinearSchedule(1.0, steps) if self.anneal_shape == "linear" else LogisticSchedule(steps)
        return WeightedKL(rising, self.floor())


@register_objective("cyclical")
@dataclass
class CyclicalOptions(KLFloorOptions, ObjectiveOptions):
    about = "D + w KL, w rising and resetting in cycles over the run (Fu et al. 2019)"

    cycles: int = option(4, "Cycles over the run (Fu et al. 2019).", min=1)
    cycle_ratio: float = option(0.5, "Share of a cycle over which the weight rises.", min=0, max=1, min_open=True)

    def build(self, total_steps: int, steps_per_epoch: int) -> WeightedKL:
        return WeightedKL(CyclicalSchedule(total_steps, self.cycles, self.cycle_ratio), self.floor())


@register_objective("free-bits")
@dataclass
class FreeBitsOptions(KLFloorOptions, ObjectiveOptions):
    about = "the ELBO with a floor of --free-bits nats under the KL (Kingma et al. 2016)"

    free_bits: float | None = option(
        DEFAULT_FREE_BITS, "A floor under the KL in nats, below which it is not pushed down.", min=0, min_open=True)

    def build(self, total_steps: int, steps_per_epoch: int) -> WeightedKL:
        return WeightedKL(Constant(1.0), self.floor() or FreeBits(DEFAULT_FREE_BITS, self.fb_mode))
