"""Numeric precision of model passes: fp32, bf16 autocast, or `auto` (bf16 where it works and pays).

Whether bf16 works depends on the machine, not on PyTorch alone: oneDNN's bf16 recurrent layers
need AVX-512 with bf16 instructions (or AMX) on a CPU, and on a CPU without them (or with PyTorch
limited to AVX2) autocast raises deep inside `nn.LSTM`. So a tiny probe runs the layers textvae
uses under autocast, once per process and device type, and times a decoder-sized step in both
precisions (on a GPU too: at textvae's sizes a GPU step waits on kernel launches more than on
arithmetic, and bf16 measured slower there; bench/RESULTS.md). `resolve_precision` turns a
request into what a run uses:

- "fp32": always fp32.
- "bf16": bf16, or a `PrecisionError` (one line naming what the machine lacks) where the probe fails.
- "auto": bf16 where the probe passes and bf16 is measurably faster, else fp32; said once in the log.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch
from torch import nn

from textvae.errors import ConfigError

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16", "auto")
MIN_SPEEDUP = 1.15  # auto picks bf16 only when the probe step is at least this much faster


class PrecisionError(ConfigError):
    """bf16 was asked for on a machine that cannot run it."""


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


def autocast(device: torch.device | str, precision: str) -> AbstractContextManager:
    """bfloat16 autocast on `device` for "bf16", a no-op for "fp32" (resolve "auto" first)."""
    if check_precision(precision) == "auto":
        raise ValueError("resolve 'auto' with resolve_precision() before autocasting")
    device_type = torch.device(device).type
    return torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision == "bf16")


@dataclass(frozen=True)
class BF16Support:
    """What the probe found on one device type."""

    device_type: str
    supported: bool
    speedup: float | None  # fp32 time / bf16 time of a decoder step; None where not measured
    about: str  # the hardware in words, or why bf16 does not run

    @property
    def faster(self) -> bool:
        return self.supported and (self.speedup is None or self.speedup >= MIN_SPEEDUP)


def _cpu_flag(name: str) -> bool:
    check = getattr(torch.cpu, f"_is_{name}_supported", None)  # private, so guarded
    try:
        return bool(check()) if check is not None else False
    except Exception:  # noqa: BLE001 - a missing probe means "not known to be there"
        return False


def cpu_features() -> str:
    """The CPU's bf16-relevant features and the instruction set PyTorch runs at, in words."""
    native = [name for name, flag in (("avx512_bf16", "avx512_bf16"), ("AMX", "amx_tile")) if _cpu_flag(flag)]
    capability = torch.backends.cpu.get_cpu_capability()
    limits = [f"{v}={os.environ[v]}" for v in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA") if v in os.environ]
    words = f"PyTorch runs at {capability}" + (f" ({', '.join(limits)})" if limits else "")
    return f"{' and '.join(native) if native else 'no avx512_bf16 or AMX'}; {words}"


def _missing_cpu_feature() -> str:
    if not (_cpu_flag("avx512_bf16") or _cpu_flag("amx_tile")):
        return f"this CPU lacks avx512_bf16 and AMX, which bf16 recurrent layers need ({cpu_features()})"
    return f"this CPU has bf16 instructions, but PyTorch is limited below them here ({cpu_features()})"


def _probe_layers(device: torch.device) -> None:
    """Forward and backward through every layer kind textvae uses, under bf16 autocast."""
    with torch.random.fork_rng(devices=[]):  # leaves the global random stream as it was
        layers = nn.ModuleDict({
            "embedding": nn.Embedding(11, 8), "lstm": nn.LSTM(12, 8, batch_first=True),
            "gru": nn.GRU(12, 8, batch_first=True), "conv": nn.Conv1d(8, 8, 3), "linear": nn.Linear(8, 11),
        }).to(device)
    tokens = torch.arange(6, device=device).view(2, 3)
    with torch.autocast(device.type, dtype=torch.bfloat16):
        embedded = layers["embedding"](tokens)
        inputs = torch.cat([embedded, embedded[..., :4]], dim=-1)
        lstm, _ = layers["lstm"](inputs)
        gru, _ = layers["gru"](inputs)
        conv = layers["conv"](nn.functional.pad((lstm + gru).transpose(1, 2), (2, 0)))
        loss = layers["linear"](conv.transpose(1, 2)).float().logsumexp(-1).sum()
    loss.backward()


def _time_decoder_step(device: torch.device, bf16: bool, repeats: int = 10) -> float:
    """Best-of-`repeats` seconds for one step of a decoder of textvae's small size."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        rnn, to_vocab = nn.LSTM(160, 256, batch_first=True).to(device), nn.Linear(256, 4096).to(device)
        inputs = torch.randn(256, 1, 160, device=device)
    best = float("inf")
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        for _ in range(repeats + 1):  # the first pass warms up (oneDNN builds its primitives)
            started = time.perf_counter()
            features, _ = rnn(inputs)
            to_vocab(features[:, -1])
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            best = min(best, time.perf_counter() - started)
    return best


@functools.cache
def bf16_support(device_type: str = "cpu") -> BF16Support:
    """Whether bf16 autocast runs textvae's layers on this device type, and how much faster it is.
    Cached: the probe runs once per process."""
    device = torch.device(device_type)
    if device.type == "cuda":
        if not torch.cuda.is_available() or not torch.cuda.is_bf16_supported():
            return BF16Support("cuda", False, None, "this GPU has no bf16 support")
        about = torch.cuda.get_device_name(device)
    else:
        about = cpu_features()
    try:
        _probe_layers(device)
    except RuntimeError as err:
        reason = _missing_cpu_feature() if device.type == "cpu" else f"bf16 autocast failed: {str(err).splitlines()[0]}"
        return BF16Support(device.type, False, None, reason)
    fp32, bf16 = (_time_decoder_step(device, b) for b in (False, True))
    return BF16Support(device.type, True, fp32 / bf16, about)


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """What a requested precision means on `device`: "fp32" or "bf16" (see the module docstring)."""
    check_precision(precision)
    if precision == "fp32":
        return "fp32"
    support = bf16_support(torch.device(device).type)
    if precision == "bf16":
        if not support.supported:
            raise PrecisionError(f"--precision bf16 is not available: {support.about}; use --precision fp32 or auto")
        return "bf16"
    chosen = "bf16" if support.faster else "fp32"
    _say_once(support, chosen)
    return chosen


@functools.cache
def _say_once(support: BF16Support, chosen: str) -> None:
    if not support.supported:
        why = support.about
    elif support.speedup is None:
        why = support.about
    else:
        why = f"{support.about}; a decoder step runs {support.speedup:.2f}x as fast in bf16"
    log.info("precision auto: %s on %s (%s)", chosen, support.device_type, why)
