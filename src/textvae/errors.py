"""Errors that the command line reports as one clear line instead of a traceback."""

from __future__ import annotations

from pathlib import Path


class TextVAEError(Exception):
    """Base class for errors caused by the user's input, not by a bug."""


class DataError(TextVAEError):
    """A corpus or vocabulary file that cannot be used, with the place it went wrong."""

    def __init__(self, path: Path | str, message: str, line: int | None = None):
        self.path = Path(path)
        self.line = line
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {message}")


class RunDirError(TextVAEError):
    """A run directory that is missing files or does not match the request."""


class ConfigError(TextVAEError, ValueError):
    """An option or configuration value that cannot be used."""


class DivergenceError(TextVAEError):
    """Training produced a non-finite loss, gradient or validation measurement and stopped."""


class WriteError(TextVAEError):
    """A file could not be written (a full disk, a read-only mount); its previous version is intact."""
