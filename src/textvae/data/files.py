"""Reading the text files textvae takes (corpora, vocabularies, labels), and their checksums."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from textvae.errors import DataError


def file_checksum(path: Path | str) -> str:
    """SHA-256 of a file's bytes, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_lines(path: Path | str) -> Iterator[tuple[int, str]]:
    """Yield (line number, text) for every line of a UTF-8 file, numbered from 1.

    Raises DataError for a missing or empty file and for bytes that are not UTF-8.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(path, "no such file")
    if path.is_dir():
        raise DataError(path, "is a directory, expected a text file")
    data = path.read_bytes()
    if not data:
        raise DataError(path, "file is empty")
    for lineno, raw in enumerate(data.splitlines(), start=1):
        try:
            yield lineno, raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise DataError(path, f"not valid UTF-8 (byte {raw[err.start]:#04x} at column {err.start + 1})", lineno) from None
