"""Schedules: a number for each training step (None: after every schedule has ended), and the
annealing options that set how long a rising schedule takes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from textvae.errors import ConfigError
from textvae.options import option


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


@dataclass
class AnnealingOptions:
    """How long a rising schedule takes: `anneal_steps`, or `anneal_epochs` of the run's epochs
    (the paper: two)."""

    anneal_steps: int | None = option(
        None, "Steps for the target or the KL weight to rise from 0.", min=0, default_text="--anneal-epochs")
    anneal_epochs: float = option(2.0, "The same in epochs (used without --anneal-steps).", min=0)

    def annealing_steps(self, steps_per_epoch: int) -> int:
        if self.anneal_steps is not None:
            return self.anneal_steps
        return round(self.anneal_epochs * steps_per_epoch)
