"""Process-wide settings of the `textvae` program. Importing this module changes nothing."""

from __future__ import annotations

import ctypes
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

MAX_THREADS = 4096  # PyTorch's thread count is a C int; more threads than this help no machine
# glibc mallopt parameters
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 512 << 20) -> bool:
    """Ask glibc to keep up to `trim_threshold` bytes of freed heap for reuse.

    Decoding and importance-weighted evaluation allocate vocabulary-sized tensors of tens of MB
    at every step. By default glibc returns them to the kernel on free and page-faults them back
    in at the next step, which cost top-p sampling about a third of its time. Blocks larger than
    `mmap_threshold` still come from mmap and go back at once, so the much larger tensors of IW
    evaluation passes cannot fragment the heap (thresholds of 2 GB let one evaluation grow to
    24 GB). Returns False where this does not apply (not glibc).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(mallopt(_M_TRIM_THRESHOLD, trim_threshold))


def set_threads(threads: int | None) -> int:
    """Run PyTorch's CPU work on `threads` threads (None leaves the current setting, by default
    one per core); returns the number in use. With other work on the machine, fewer threads than
    cores can be faster: waiting for a busy core stalls every thread of an operation."""
    import torch

    from textvae.errors import ConfigError

    if threads is not None:
        if not 1 <= threads <= MAX_THREADS:
            raise ConfigError(f"--threads must be from 1 to {MAX_THREADS}, got {threads}")
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def resolve_device(name: str) -> "torch.device":
    """The torch device a `--device` value names: "auto" is a GPU where PyTorch sees one, else the CPU."""
    import torch

    from textvae.errors import ConfigError

    if not name or not name.strip():
        raise ConfigError("--device is empty; give auto, cpu, cuda or cuda:N")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"--device {name!r} names no device; give auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} was asked for, but PyTorch sees no CUDA device")
    return device


def available_memory(device: "torch.device | str" = "cpu") -> int | None:
    """Bytes a computation on `device` can still take: the GPU's free memory, or the memory the
    kernel reports available (None where neither can be read)."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def describe_bytes(count: float) -> str:
    """e.g. "3.2 GB", "16.0 TB"."""
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if count < 1000 or unit == "PB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")


def check_fits(needed: float, what: str, device: "torch.device | str" = "cpu", advice: str = "") -> None:
    """Refuse, in one line, work that needs more memory than `device` has free (`what` needs
    `needed` bytes); where the free memory cannot be read, let it try."""
    from textvae.errors import ConfigError

    free = available_memory(device)
    if free is not None and needed > free:
        raise ConfigError(f"{what} needs {describe_bytes(needed)}, more than the {describe_bytes(free)} free on "
                          f"{device}{advice}")


def cpu_model() -> str:
    """The CPU's marketing name, e.g. "AMD EPYC 7B13" ("unknown" where it cannot be read)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown"


def environment(device: str = "cpu") -> dict[str, object]:
    """Where a run or a benchmark ran: versions, CPU, the instruction set PyTorch uses, threads."""
    import platform

    import torch

    from textvae.version import __version__

    record: dict[str, object] = {
        "textvae": __version__, "torch": torch.__version__, "python": platform.python_version(),
        "device": str(device), "cpu": cpu_model(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cores": os.cpu_count(), "threads": torch.get_num_threads(),
    }
    if str(device).startswith("cuda") and torch.cuda.is_available():
        record["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return record


def describe_environment(record: dict[str, object]) -> str:
    """One line for logs and benchmark output."""
    gpu = f", {record['gpu']}" if "gpu" in record else ""
    return (f"{record['cpu']} ({record['cores']} cores, PyTorch at {record['cpu_capability']}), "
            f"{record['threads']} threads, device {record['device']}{gpu}, torch {record['torch']}")
