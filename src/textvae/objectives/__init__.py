"""Training objectives: how per-sentence distortion and per-dimension KL become a loss.

The contract and the registry are in `base`; each objective is an options class registered by
name, in its own module:
- `beta_c`: D + beta * |KL - C_t|, the rate steered to a target (the paper's objective);
- `weighted_kl`: D + w(step) * KL', the ELBO, beta-VAE, KL annealing, cyclical annealing and
  free bits, with `schedules` for w and `free_bits` for the floor under KL'.
A new objective is a new module with an options class and `@register_objective("name")`, imported
below (or anywhere before it is used): docs/ARCHITECTURE.md shows one.
"""

from textvae.objectives.base import (
    OBJECTIVES, Objective, ObjectiveOptions, ObjectiveOutput, build_objective, objective_fields, objective_options,
    register_objective,
)
from textvae.objectives.beta_c import BetaC, BetaCOptions
from textvae.objectives.free_bits import FREE_BITS_MODES, FreeBits, KLFloorOptions
from textvae.objectives.schedules import (
    AnnealingOptions, Constant, CyclicalSchedule, LinearSchedule, LogisticSchedule, Schedule,
)
from textvae.objectives.weighted_kl import (
    ANNEAL_SHAPES, DEFAULT_FREE_BITS, ELBO, AnnealOptions, BetaOptions, CyclicalOptions, ELBOOptions,
    FreeBitsOptions, WeightedKL,
)

__all__ = [
    "ANNEAL_SHAPES", "DEFAULT_FREE_BITS", "ELBO", "FREE_BITS_MODES", "OBJECTIVES", "AnnealOptions", "AnnealingOptions",
    "BetaC", "BetaCOptions", "BetaOptions", "Constant", "CyclicalOptions", "CyclicalSchedule", "ELBOOptions",
    "FreeBits", "FreeBitsOptions", "KLFloorOptions", "LinearSchedule", "LogisticSchedule", "Objective",
    "ObjectiveOptions", "ObjectiveOutput", "Schedule", "WeightedKL", "build_objective", "objective_fields",
    "objective_options", "register_objective",
]
