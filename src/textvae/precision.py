"""Numeric precision of model passes: fp32, or bf16 autocast (training, decoding)."""

from __future__ import annotations

from contextlib import AbstractContextManager

import torch

from textvae.errors import ConfigError

PRECISIONS = ("fp32", "bf16")


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be fp32 or bf16, got {precision!r}")
    return precision


def autocast(device: torch.device | str, precision: str) -> AbstractContextManager:
    """bfloat16 autocast on `device` for "bf16", a no-op for "fp32"."""
    device_type = torch.device(device).type
    return torch.autocast(device_type, dtype=torch.bfloat16, enabled=check_precision(precision) == "bf16")
