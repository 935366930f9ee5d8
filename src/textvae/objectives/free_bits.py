"""Free bits: a floor under the KL below which no gradient pushes it further down, and the options
of the objectives it composes with."""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import Tensor

from textvae.errors import ConfigError
from textvae.options import option

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


@dataclass
class KLFloorOptions:
    """The options of objectives that take a free-bits floor under their KL term."""

    free_bits: float | None = option(
        None, "A floor under the KL in nats, below which it is not pushed down.", min=0, min_open=True)
    fb_mode: str = option("dim", "dim: the floor holds per latent dimension (Kingma et al. 2016); batch: for the "
                                 "whole KL (Li et al. 2019).", choices=FREE_BITS_MODES)

    def floor(self) -> FreeBits | None:
        return None if self.free_bits is None else FreeBits(self.free_bits, self.fb_mode)
