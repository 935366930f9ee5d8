"""Progress of long work: a tqdm bar on a terminal, and plain lines everywhere else.

tqdm draws one line that it rewrites in place, which is right for a terminal and useless in a
log file, a pipe or a CI job (there tqdm's own default is to say nothing at all). Off a terminal,
`progress` gives a `LineProgress` instead: the same calls, and one full line at the start, then
every `LINE_INTERVAL` seconds from a background thread (so a long step never goes quiet), and
at the end.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
LINE_INTERVAL = 20.0  # seconds between plain progress lines


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class LineProgress:
    """A progress report that prints whole lines: `update`, `set_postfix`, `close` and iteration
    behave as tqdm's."""

    def __init__(self, iterable: Iterable[Any] | None = None, total: int | None = None, desc: str = "",
                 unit: str = "it", initial: int = 0, interval: float = LINE_INTERVAL, file: IO[str] | None = None):
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total, self.desc, self.unit, self.n, self.initial = total, desc, unit, initial, initial
        self.file = file if file is not None else sys.stderr
        self.postfix: dict[str, Any] = {}
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._closed = False
        self.print_line()
        self._thread = threading.Thread(target=self._report, args=(interval,), name=f"progress-{desc}", daemon=True)
        self._thread.start()

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        done = self.n - self.initial
        rate = done / elapsed if elapsed > 0 and done > 0 else None
        count = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        parts = [f"{self.desc}: {count} {self.unit}"]
        if self.total:
            parts[0] += f" ({100 * self.n / self.total:.0f}%)"
        timing = f"{tqdm.format_interval(elapsed)} elapsed"
        if rate and self.total:
            timing += f", {tqdm.format_interval((self.total - self.n) / rate)} left"
        if rate:
            timing += f", {rate:.3g} {self.unit}/s" if rate >= 1 else f", {1 / rate:.3g} s/{self.unit}"
        parts.append(timing)
        if self.postfix:
            parts.append(" ".join(f"{k}={v}" for k, v in self.postfix.items()))
        return ", ".join(parts)

    def print_line(self) -> None:
        with self._lock:
            self.file.write(self.line() + "\n")
            self.file.flush()

    def _report(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.print_line()

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix(self, **values: Any) -> None:
        self.postfix = values

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self.print_line()

    def __iter__(self) -> Iterator[Any]:
        assert self.iterable is not None, "LineProgress was not given an iterable"
        try:
            for item in self.iterable:
                yield item
                self.update()
        finally:
            self.close()

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress(iterable: Iterable[T] | None = None, *, total: int | None = None, desc: str = "", unit: str = "it",
             initial: int = 0, enabled: bool = True, file: IO[str] | None = None) -> Any:
    """A progress bar for `iterable` (or updated by hand): a tqdm bar on a terminal, a
    `LineProgress` elsewhere, and a silent tqdm when `enabled` is False."""
    file = file if file is not None else sys.stderr
    if not enabled:
        return tqdm(iterable, total=total, initial=initial, disable=True)
    if _is_terminal(file) or "ipykernel" in sys.modules:  # tqdm.auto draws a widget in a notebook
        return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial, file=file, dynamic_ncols=True)
    return LineProgress(iterable, total=total, desc=desc, unit=unit, initial=initial, file=file)


def duration_text(seconds: float) -> str:
    """A duration as a person reads it in a notice: seconds, minutes or hours."""
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min" if seconds >= 90 else \
        f"{seconds:.0f} s"


def say(message: str) -> None:
    """A log line that does not break a progress bar drawn on the terminal."""
    tqdm.write(message, file=sys.stderr)
