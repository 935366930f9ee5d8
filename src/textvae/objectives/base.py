"""The objective contract, the options every objective declares, and the registry of objectives.

An objective turns one batch's per-sentence distortion and per-dimension KL into a loss:

    objective(distortion, kl, step) -> ObjectiveOutput
      distortion: (batch,) -log p(x|z) per sentence, nats
      kl:         (batch, latent) KL(q(z|x) || p(z)) per latent dimension, nats
      step:       the optimizer step (schedules depend on it), or None for the objective after
                  every schedule has ended (training compares validation losses with it)

An objective is chosen by name (`TrainConfig.objective`) and set by its options: a dataclass
derived from `ObjectiveOptions`, whose fields are made with `textvae.options.option` (each is a
flag of `textvae train`) and whose `build` returns the objective for a run's length. Registering
the options class under a name (`@register_objective("name")`) is all it takes to add one.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from torch import Tensor

from textvae.errors import ConfigError
from textvae.options import check_options, flag_of, option_fields
from textvae.registry import Registry

log = logging.getLogger(__name__)
UNUSED = ("error", "warn", "drop")  # what to do with a value that is an option of another objective


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

    def describe(self, total_steps: int) -> str | None:
        """How the objective moves over a run of `total_steps` steps, in a few words for the
        training log (it may warn once about a schedule that cannot finish); None: nothing to say."""
        ...


@dataclass
class ObjectiveOptions:
    """The options of one objective. Subclasses are dataclasses registered with
    `register_objective`; their option fields become flags of `textvae train`, and fields of the
    same name in several objectives share one flag."""

    name: ClassVar[str] = ""  # set by register_objective
    about: ClassVar[str] = ""  # one line for --help

    def __post_init__(self) -> None:
        check_options(self)

    def build(self, total_steps: int, steps_per_epoch: int) -> Objective:
        """The objective for a run of `total_steps` optimizer steps of `steps_per_epoch` each."""
        raise NotImplementedError


OBJECTIVES: Registry[type[ObjectiveOptions]] = Registry("objective")


def register_objective(name: str):  # noqa: ANN201 - a class decorator
    """Register an `ObjectiveOptions` subclass under `name` (what --objective takes)."""

    def add(cls: type[ObjectiveOptions]) -> type[ObjectiveOptions]:
        cls.name = name
        return OBJECTIVES.register(name)(cls)

    return add


def objective_fields() -> dict[str, list[tuple[str, dataclasses.Field]]]:
    """Every option field of the registered objectives by name, with the objectives that have it."""
    found: dict[str, list[tuple[str, dataclasses.Field]]] = {}
    for name, options in OBJECTIVES.items():
        for field in option_fields(options):
            found.setdefault(field.name, []).append((name, field))
    return found


def objective_options(name: str, values: Mapping[str, Any], unused: str = "error") -> ObjectiveOptions:
    """The options of objective `name` from `values` (field -> value). A value that is an option
    of other objectives only is, as `unused` says, an error naming its flag, a warning (the command
    line: a flag given out of habit), or left out silently (a sweep's settings and an old
    config.json hold options of every objective)."""
    options = OBJECTIVES[name]
    own = {field.name for field in dataclasses.fields(options)}
    others = objective_fields()
    for key in values:
        if key in own:
            continue
        if key not in others:
            raise ConfigError(f"{key!r} is an option of no objective")
        message = (f"{key} ({flag_of(others[key][0][1])}) does not apply to the {name} objective; it is an option "
                   f"of {', '.join(owner for owner, _ in others[key])}")
        if unused == "error":
            raise ConfigError(message)
        if unused == "warn":
            OBJECTIVES[others[key][0][0]](**{key: values[key]})  # a bad value is still an error
            log.warning("%s: ignored", message)
    return options(**{key: value for key, value in values.items() if key in own})


def build_objective(name: str, total_steps: int = 1, steps_per_epoch: int = 1, **options: Any) -> Objective:
    """The objective `name` with the given options, for a run of `total_steps` steps."""
    return objective_options(name, options).build(total_steps, steps_per_epoch)
