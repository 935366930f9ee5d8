"""The beta-C objective (Burgess et al. 2018; Prokhorov et al. 2019): the rate is steered to C."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from torch import Tensor

from textvae.objectives.base import ObjectiveOptions, ObjectiveOutput, register_objective
from textvae.objectives.schedules import AnnealingOptions, LinearSchedule
from textvae.options import option

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BetaC:
    """loss = mean(distortion) + beta * |mean(KL) - C_t|, with C_t rising linearly from 0 to C over
    `anneal_steps` steps."""

    kl_target: float
    beta: float = 1.0
    anneal_steps: int = 0

    def target_at(self, step: int | None) -> float:
        return LinearSchedule(self.kl_target, self.anneal_steps)(step)

    def weight_at(self, step: int | None) -> None:
        return None

    def describe(self, total_steps: int) -> str:
        if self.anneal_steps <= total_steps:
            return f"target C={self.kl_target:g} reached after {self.anneal_steps} steps"
        last = self.target_at(total_steps)
        log.warning("training stops after %d steps, before the target rate reaches C=%g (after %d steps): its last "
                    "value is C_t=%.3g; lower --anneal-steps / --anneal-epochs or train longer",
                    total_steps, self.kl_target, self.anneal_steps, last)
        return f"target rises towards C={self.kl_target:g} and ends at C_t={last:.3g}"

    def __call__(self, distortion: Tensor, kl: Tensor, step: int | None) -> ObjectiveOutput:
        d, r = distortion.mean(), kl.sum(dim=-1).mean()
        c = self.target_at(step)
        return ObjectiveOutput(d + self.beta * (r - c).abs(), d, r, kl_target=c)


@register_objective("beta-c")
@dataclass
class BetaCOptions(AnnealingOptions, ObjectiveOptions):
    about = "D + beta |KL - C| (the paper's): the rate is steered to C, which rises from 0 over the annealing"

    kl_target: float = option(15.0, "Target rate C in nats.", flags=("--C", "--kl-target"), min=0)
    beta: float = option(1.0, "Weight of |KL - C|.", min=0, min_open=True)

    def build(self, total_steps: int, steps_per_epoch: int) -> BetaC:
        return BetaC(self.kl_target, self.beta, self.annealing_steps(steps_per_epoch))
