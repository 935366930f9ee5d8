"""One writer at a time: an advisory lock on a run directory.

A writer (training, resuming, a sweep finishing a run) writes its pid, host and command to a
temporary file and links it to `RUN/.textvae.lock`: the link fails where the lock exists, so exactly
one of two racing processes gets it, and the lock is never seen half-written (a full disk fails the
temporary file, and no lock is left). The lock goes when the writer leaves, however it leaves short
of SIGKILL; a lock left by a killed process is stale, and the next writer on the same host sees that
its pid is gone and takes it over, as it takes over a lock file that is empty or not a lock (left by
an older version's interrupted write). A lock held from another host cannot be checked from here, so
it is refused with what to delete if that process is known to be gone. Taking a lock the same
process already holds nests.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from textvae.errors import RunDirError

log = logging.getLogger(__name__)

LOCK_FILE = ".textvae.lock"
DAMAGED_AFTER = 2.0  # seconds: a lock file still empty or unreadable this long after it was written is damage
_held: dict[Path, int] = {}  # lock path -> nesting depth, in this process


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """A process that has ended but not yet been reaped (a killed run's rank whose launcher died
    with it) still answers to its pid for a moment; it writes nothing any more. Linux only."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :].startswith("Z")  # the state follows the parenthesised name


def _holder(path: Path) -> dict[str, object] | None:
    """Who holds the lock file, or None when it is gone or unreadable (a writer mid-creation)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _try_create(path: Path) -> bool:
    """Create the lock with this process's record, whole or not at all; False where it exists."""
    record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                         "since": time.strftime("%Y-%m-%dT%H:%M:%S"), "command": " ".join(sys.argv)})
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=".tmp")
    except OSError as err:
        raise RunDirError(f"{path.parent}: cannot take its lock: {err.strerror or err}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(record)
        os.chmod(tmp, 0o644)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError as err:  # a filesystem without hard links: create it exclusively, then write
            if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise
            return _create_exclusively(path, record)
        return True
    except OSError as err:
        raise RunDirError(f"{path.parent}: cannot take its lock: {err.strerror or err}") from None
    finally:
        Path(tmp).unlink(missing_ok=True)


def _create_exclusively(path: Path, record: str) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(record)
    except OSError:
        path.unlink(missing_ok=True)  # never leave an empty lock behind
        raise
    return True


def _damaged(path: Path) -> bool:
    """A lock file that holds no lock record and was written more than DAMAGED_AFTER seconds ago."""
    try:
        age = time.time() - path.stat().st_mtime
    except OSError:
        return False
    return age > DAMAGED_AFTER and _holder(path) is None


def acquire(run_dir: Path, wait: float = 0.0) -> Path:
    """Take the lock of `run_dir` (which must exist), or raise RunDirError naming its holder; with
    `wait`, keep trying for that many seconds first."""
    path = (Path(run_dir) / LOCK_FILE).resolve()
    if path in _held:
        _held[path] += 1
        return path
    deadline = time.monotonic() + wait
    while True:
        try:
            return _acquire_once(path, run_dir)
        except RunDirError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)


def _acquire_once(path: Path, run_dir: Path) -> Path:
    for _ in range(3):  # a stale lock is removed and the creation retried; racing takers may each try
        if _try_create(path):
            _held[path] = 1
            return path
        holder = _holder(path)
        settled = time.monotonic() + DAMAGED_AFTER + 0.5
        while holder is None and path.exists() and not _damaged(path) and time.monotonic() < settled:
            time.sleep(0.05)  # being written this instant (by a taker of an older version)
            holder = _holder(path)
        if holder is None:
            if path.exists():
                log.warning("%s: empty or not a lock (left by an interrupted write); taken over", path)
                path.unlink(missing_ok=True)
            continue
        pid, host = holder.get("pid"), holder.get("host")
        if host == socket.gethostname() and isinstance(pid, int) and not _alive(pid):
            path.unlink(missing_ok=True)  # its process is gone: stale
            continue
        where = "this machine" if host == socket.gethostname() else f"host {host}"
        raise RunDirError(
            f"{run_dir} is in use by process {pid} on {where} (since {holder.get('since')}: "
            f"{holder.get('command')}); wait for it to finish, or delete {path} if that process is gone")
    raise RunDirError(f"{run_dir}: could not take its lock {path}: other processes keep taking it; try again, "
                      f"and if no textvae process is using {run_dir}, delete {path}")


def lock_status(run_dir: Path | str) -> tuple[str, dict[str, object] | None]:
    """Who holds the lock of `run_dir`, read without taking it: ("free", None), ("held", holder) by a
    live process on this machine, ("stale", holder) where that process is gone (a killed writer), or
    ("elsewhere", holder) where it runs on another host and cannot be checked from here. A lock file
    that holds no record counts as stale."""
    path = Path(run_dir) / LOCK_FILE
    if not path.exists():
        return "free", None
    holder = _holder(path)
    if holder is None:
        return ("stale", None) if path.exists() else ("free", None)
    pid, host = holder.get("pid"), holder.get("host")
    if host != socket.gethostname():
        return "elsewhere", holder
    return ("held" if isinstance(pid, int) and _alive(pid) else "stale"), holder


def release(path: Path) -> None:
    depth = _held.get(path, 0)
    if depth > 1:
        _held[path] = depth - 1
        return
    _held.pop(path, None)
    holder = _holder(path)
    if holder is not None and holder.get("pid") == os.getpid():
        path.unlink(missing_ok=True)


@contextmanager
def run_lock(run_dir: Path | str, wait: float = 0.0) -> Iterator[None]:
    """Hold the lock of an existing run directory for the duration of a `with` block (waiting up to
    `wait` seconds for another holder to let go)."""
    path = acquire(Path(run_dir), wait)
    try:
        yield
    finally:
        release(path)
