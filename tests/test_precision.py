"""Precision that fits the machine: the bf16 probe, `auto`, and the error where bf16 cannot run."""

from __future__ import annotations

import pytest
import torch

from textvae import precision
from textvae.errors import ConfigError
from textvae.precision import BF16Support, PrecisionError, resolve_precision


def pretend(monkeypatch, support: BF16Support) -> None:
    monkeypatch.setattr(precision, "bf16_support", lambda device_type="cpu": support)


def test_fp32_is_always_fp32_and_unknown_names_are_errors():
    assert resolve_precision("fp32", "cpu") == "fp32"
    with pytest.raises(ConfigError, match="precision must be one of fp32, bf16, auto"):
        resolve_precision("fp16", "cpu")
    with pytest.raises(ValueError, match="resolve 'auto'"):
        precision.autocast("cpu", "auto")


def test_where_bf16_cannot_run_bf16_is_an_error_and_auto_is_fp32(monkeypatch, caplog):
    pretend(monkeypatch, BF16Support("cpu", False, None, "this CPU lacks avx512_bf16 and AMX"))
    with pytest.raises(PrecisionError, match="--precision bf16 is not available: this CPU lacks avx512_bf16 and AMX; "
                                             "use --precision fp32 or auto"):
        resolve_precision("bf16", "cpu")
    with caplog.at_level("INFO"):
        assert resolve_precision("auto", "cpu") == "fp32"
    assert "precision auto: fp32 on cpu (this CPU lacks avx512_bf16 and AMX)" in caplog.text


@pytest.mark.parametrize("speedup, chosen", [(2.5, "bf16"), (1.05, "fp32"), (0.6, "fp32")])
def test_auto_picks_bf16_only_where_it_is_faster(monkeypatch, speedup, chosen):
    pretend(monkeypatch, BF16Support("cpu", True, speedup, "avx512_bf16; PyTorch runs at AVX512"))
    assert resolve_precision("auto", "cpu") == chosen
    assert resolve_precision("bf16", "cpu") == "bf16"  # asked for explicitly, it runs even where slower


def test_the_probe_leaves_the_random_stream_alone_and_describes_the_cpu():
    before = torch.get_rng_state()
    support = precision.bf16_support.__wrapped__("cpu")  # the probe itself, not the cached answer
    assert torch.equal(before, torch.get_rng_state())
    assert support.device_type == "cpu"
    if support.supported:
        assert support.speedup is not None and support.speedup > 0
    else:
        assert "avx512_bf16" in support.about and support.speedup is None
    assert precision.bf16_support("cpu") is precision.bf16_support("cpu")  # once per process
