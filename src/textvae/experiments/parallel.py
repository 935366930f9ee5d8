"""Running independent jobs at once: `parallel_map` hands items to fresh processes (one GPU each
in turn where several are visible, CPU threads split between them), and stops them all when the
caller stops, however it stops."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import torch

from textvae.errors import ConfigError

T, R = TypeVar("T"), TypeVar("R")


def devices_for(device: str) -> list[str]:
    """Where parallel jobs go: one GPU each, in turn, when several are visible and none is named."""
    if device == "auto" and torch.cuda.device_count() > 1:
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return [device]


def _exit_with_parent(parent: int) -> None:
    """Exit this worker within a second of the sweep's process dying, even by SIGKILL, so that no
    orphan keeps training a run that the next invocation resumes. (Not PR_SET_PDEATHSIG: that
    kills workers when the pool thread that started them ends, possibly while one holds the task
    queue's lock, and the pool's shutdown then waits for that lock forever.)"""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _start_worker(threads: int, log_level: int, parent: int) -> None:
    _exit_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; it terminates us on Ctrl-C
    torch.set_num_threads(threads)
    logging.basicConfig(level=log_level, format="%(message)s")


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _call(job: tuple[Callable[..., Any], Any, str]) -> Any:
    function, item, device = job
    return function(item, device, False)


def parallel_map(function: Callable[[T, str | None, bool], R], items: Sequence[T], jobs: int = 1,
                 device: str = "auto", progress: bool = True) -> Iterator[R]:
    """function(item, device, progress) for every item, as they finish: in this process when
    jobs == 1 (device None: the item's own), else `jobs` at a time (progress False) in fresh
    processes (one GPU each in turn where several are visible, CPU threads split between jobs).
    `function` must be importable (a module-level function). Stopping the caller (Ctrl-C,
    SIGTERM, even SIGKILL) stops every job."""
    if jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {jobs}")
    if jobs == 1 or len(items) <= 1:
        for item in items:
            yield function(item, None, progress)
        return
    devices = devices_for(device)
    # CPU threads in use here (--threads, or one per core) are shared out between the jobs
    threads = 1 if devices[0].startswith("cuda") else max(1, torch.get_num_threads() // jobs)
    work = [(function, item, devices[i % len(devices)]) for i, item in enumerate(items)]
    previous_handler = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        context = multiprocessing.get_context("spawn")
        # maxtasksperchild=1: a fresh process per item, so none inherits another's memory
        with context.Pool(min(jobs, len(items)), _start_worker,
                          (threads, logging.getLogger().getEffectiveLevel(), os.getpid()),
                          maxtasksperchild=1) as pool:
            yield from pool.imap_unordered(_call, work)
            pool.close()  # a clean shutdown; leaving early (an error, Ctrl-C) terminates instead
            pool.join()
    finally:  # leaving the with block terminates the workers, whatever happened
        signal.signal(signal.SIGTERM, previous_handler)
