"""Reading corpora: text files with one whitespace-tokenized sentence a line."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from textvae.data.vocab import Vocabulary
from textvae.errors import DataError

log = logging.getLogger(__name__)


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


def read_sentences(path: Path | str) -> list[list[str]]:
    """Tokenized sentences of a corpus file; blank lines are skipped."""
    sentences = [line.split() for _, line in read_lines(path)]
    sentences = [s for s in sentences if s]
    if not sentences:
        raise DataError(path, "holds no sentence (only blank lines)")
    return sentences


@dataclass
class EncodedCorpus:
    """Sentences as id arrays, each ending with `<eos>`."""

    ids: list[np.ndarray]
    truncated: int = 0
    unknown_tokens: int = 0

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(s) for s in self.ids), dtype=np.int64, count=len(self.ids))

    @property
    def num_tokens(self) -> int:
        """Tokens the decoder predicts, `<eos>` included."""
        return int(self.lengths.sum())


def encode_corpus(
    sentences: Sequence[Sequence[str]], vocab: Vocabulary, max_length: int | None = None
) -> EncodedCorpus:
    """Map words to ids, appending `<eos>`; sentences longer than `max_length` words are cut."""
    ids, truncated, unknown = [], 0, 0
    for tokens in sentences:
        if max_length is not None and len(tokens) > max_length:
            tokens = tokens[:max_length]
            truncated += 1
        encoded = np.asarray(vocab.encode(tokens), dtype=np.int64)
        unknown += int((encoded == vocab.unk_id).sum())
        ids.append(encoded)
    return EncodedCorpus(ids, truncated=truncated, unknown_tokens=unknown)


def load_corpus(
    path: Path | str, vocab: Vocabulary, max_length: int | None = None, name: str | None = None
) -> EncodedCorpus:
    """Read and encode a corpus file, logging what was truncated or unknown."""
    corpus = encode_corpus(read_sentences(path), vocab, max_length)
    name = name or str(path)
    truncation = "" if max_length is None else f", {corpus.truncated} truncated to {max_length} words"
    log.info("%s: %d sentences, %d tokens (with <eos>), %d unknown%s",
             name, len(corpus), corpus.num_tokens, corpus.unknown_tokens, truncation)
    return corpus
