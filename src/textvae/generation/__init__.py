"""Generation: decoding strategies over latent codes, and paths through the latent space."""

from __future__ import annotations

import torch
from torch import Tensor

from textvae.generation.decoding import (
    DEFAULT_TOP_K, DEFAULT_TOP_P, STRATEGIES, Decoding, beam_search, decode, draw, sample_tokens,
)
from textvae.generation.processors import LogitsProcessor, Temperature, TopK, TopP

__all__ = [
    "DEFAULT_TOP_K", "DEFAULT_TOP_P", "STRATEGIES", "Decoding", "LogitsProcessor", "Temperature", "TopK", "TopP",
    "beam_search", "decode", "draw", "interpolation_path", "sample_tokens",
]


def interpolation_path(z_from: Tensor, z_to: Tensor, steps: int = 8) -> tuple[Tensor, Tensor]:
    """Points (1 - s) z_from + s z_to for `steps` values of s evenly spaced from 0 to 1 inclusive.

    Returns (s, z): shapes (steps,) and (steps, latent)."""
    if steps < 2:
        raise ValueError(f"an interpolation needs at least 2 steps, got {steps}")
    s = torch.linspace(0.0, 1.0, steps, device=z_from.device, dtype=z_from.dtype)
    return s, torch.lerp(z_from.unsqueeze(0), z_to.unsqueeze(0), s.unsqueeze(1))
