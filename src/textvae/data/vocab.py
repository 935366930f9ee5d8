"""Vocabulary: words <-> ids, with `<pad>`=0, `<unk>` and `<eos>`.

`TokenVocabulary` is what the pipeline (corpora, training, evaluation, generation) uses of a
vocabulary: `Vocabulary` here, or `textvae.data.subword.SubwordVocabulary` over a pretrained
model's tokenizer."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

from textvae.data.files import read_lines
from textvae.errors import DataError
from textvae.serialization import write_text

PAD, UNK, EOS = "<pad>", "<unk>", "<eos>"
SPECIALS = (PAD, UNK, EOS)


class TokenVocabulary(Protocol):
    """Sentences (lists of words) <-> ids. Every sentence's ids end with `eos_id`, which also starts
    decoding; `pad_id` fills batches after it; `unk_id` stands for what the vocabulary cannot hold
    (and replaces dropped decoder inputs). `specials` are the words of a text that the vocabulary
    reads as markers, not as words (each becomes `unk_id`)."""

    pad_id: int
    unk_id: int
    eos_id: int
    specials: tuple[str, ...]

    def __len__(self) -> int: ...

    def __contains__(self, word: str) -> bool: ...  # the word is read without `unk_id`

    def encode(self, tokens: Iterable[str]) -> list[int]: ...  # the ids, then eos_id

    def decode(self, ids: Iterable[int], stop_at_eos: bool = True) -> list[str]: ...  # words


class Vocabulary:
    """A fixed list of words; the id of a word is its position in the list.

    `<pad>` is always id 0. `<eos>` ends every sentence and also starts decoding.
    """

    def __init__(self, words: Sequence[str]):
        if not words or words[0] != PAD:
            raise ValueError(f"the first word of a vocabulary must be {PAD}")
        missing = [w for w in SPECIALS if w not in words]
        if missing:
            raise ValueError(f"vocabulary lacks {', '.join(missing)}")
        self.words: list[str] = list(words)
        self.index: dict[str, int] = {w: i for i, w in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise ValueError("vocabulary has duplicate words")
        self.pad_id = self.index[PAD]
        self.unk_id = self.index[UNK]
        self.eos_id = self.index[EOS]
        self.specials = SPECIALS

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.words == other.words

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Ids of `tokens` followed by `<eos>`; unknown words become `<unk>`, and so do `<pad>` and
        `<eos>` written in the text (they are markers, not words a sentence can hold)."""
        ids = [self.index.get(t, self.unk_id) for t in tokens]
        ids = [self.unk_id if i == self.pad_id or i == self.eos_id else i for i in ids]
        ids.append(self.eos_id)
        return ids

    def decode(self, ids: Iterable[int], stop_at_eos: bool = True) -> list[str]:
        """Words for `ids`, cut at the first `<eos>` and without padding."""
        out = []
        for i in ids:
            if i == self.eos_id and stop_at_eos:
                break
            if i != self.pad_id:
                out.append(self.words[i])
        return out

    @classmethod
    def build(
        cls,
        sentences: Iterable[Sequence[str]],
        min_count: int = 1,
        max_size: int | None = None,
    ) -> "Vocabulary":
        """Words seen at least `min_count` times, most frequent first (ties by spelling).

        `max_size` bounds the whole vocabulary, the three special entries included.
        """
        counts = Counter(t for s in sentences for t in s)
        for special in SPECIALS:
            counts.pop(special, None)
        ranked = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        if max_size is not None:
            ranked = ranked[: max(0, max_size - len(SPECIALS))]
        return cls([*SPECIALS, *ranked])

    def save(self, path: Path | str) -> None:
        write_text(path, "".join(w + "\n" for w in self.words))

    @classmethod
    def load(cls, path: Path | str) -> "Vocabulary":
        """Read one word a line; the file must list `<pad>` first, and `<unk>` and `<eos>`."""
        entries = [(lineno, line.strip()) for lineno, line in read_lines(path)]
        for lineno, word in entries:
            if not word:
                raise DataError(path, "blank line: a vocabulary holds one word a line (a word's id is its line "
                                      "number - 1)", lineno)
            if len(word.split()) != 1:
                raise DataError(path, f"a vocabulary line must hold one word, got {word!r}", lineno)
        first_line, first = entries[0]
        if first != PAD:
            raise DataError(path, f"the first entry must be {PAD} (id 0), got {first!r}", first_line)
        words = [w for _, w in entries]
        missing = [w for w in SPECIALS if w not in words]
        if missing:
            raise DataError(path, f"missing required entries: {', '.join(missing)}")
        seen: set[str] = set()
        for lineno, word in entries:
            if word in seen:
                raise DataError(path, f"duplicate entry {word!r}", lineno)
            seen.add(word)
        return cls(words)
