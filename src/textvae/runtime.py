"""Process-wide settings of the `textvae` program. Importing this module changes nothing."""

from __future__ import annotations

import ctypes
import sys

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
