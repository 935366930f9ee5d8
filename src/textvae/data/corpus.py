"""Reading corpora: text files with one sentence a line (tokenized as given, or by `Tokenizer`), encoded
as id arrays with a vocabulary."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from textvae.data.files import read_lines
from textvae.data.tokenize import AS_GIVEN, Tokenizer
from textvae.data.vocab import TokenVocabulary
from textvae.errors import ConfigError, DataError

log = logging.getLogger(__name__)


def read_sentences(path: Path | str, tokenizer: Tokenizer = AS_GIVEN) -> list[list[str]]:
    """Tokenized sentences of a corpus file; blank lines are skipped, and counted in a warning."""
    lines = [tokenizer(line) for _, line in read_lines(path)]
    sentences = [s for s in lines if s]
    if not sentences:
        raise DataError(path, "holds no sentence (only blank lines)")
    if len(sentences) < len(lines):
        log.warning("%s: %d blank line%s skipped", path, len(lines) - len(sentences),
                    "" if len(lines) - len(sentences) == 1 else "s")
    return sentences


@dataclass
class EncodedCorpus:
    """Sentences as id arrays, each ending with `<eos>`."""

    ids: list[np.ndarray]
    truncated: int = 0  # sentences cut to max_length
    unknown_tokens: int = 0
    unknown_words: Counter[str] = field(default_factory=Counter)  # out-of-vocabulary words and their counts
    special_words: Counter[str] = field(default_factory=Counter)  # <pad>, <unk>, <eos> written in the text
    # Words of the text (after any cut) plus one end of sentence each: what a per-word perplexity
    # divides by. With a word vocabulary it equals num_tokens; with subwords it is fewer.
    words: int | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(s) for s in self.ids), dtype=np.int64, count=len(self.ids))

    @property
    def num_tokens(self) -> int:
        """Tokens the decoder predicts, `<eos>` included."""
        return int(self.lengths.sum())

    @property
    def num_words(self) -> int:
        """Words of the text, one end of sentence each counted (`num_tokens` where not recorded)."""
        return self.num_tokens if self.words is None else self.words


def encode_corpus(
    sentences: Sequence[Sequence[str]], vocab: TokenVocabulary, max_length: int | None = None
) -> EncodedCorpus:
    """Map words to ids, appending `<eos>`; sentences longer than `max_length` words are cut."""
    if max_length is not None and max_length < 1:
        raise ConfigError(f"max_length must be at least 1, got {max_length}")
    ids, truncated, unknown_words, special_words, words = [], 0, Counter(), Counter(), 0
    for tokens in sentences:
        if max_length is not None and len(tokens) > max_length:
            tokens = tokens[:max_length]
            truncated += 1
        words += len(tokens) + 1
        encoded = vocab.encode(tokens)
        special_words.update(t for t in tokens if t in vocab.specials)
        if vocab.unk_id in encoded:  # a word is unknown where the vocabulary cannot read it without <unk>
            unknown_words.update(t for t in tokens if t not in vocab.specials and t not in vocab)
        ids.append(np.asarray(encoded, dtype=np.int64))
    unknown = sum(int((s == vocab.unk_id).sum()) for s in ids)
    return EncodedCorpus(ids, truncated=truncated, unknown_tokens=unknown, unknown_words=unknown_words,
                         special_words=special_words, words=words)


def unknown_words_note(unknown_words: Counter[str], examples: int = 3) -> str:
    """E.g. "7 occurrences of 4 words, such as 'gr8' (3), 'servce' (2), 'amazin' (1)"."""
    shown = ", ".join(f"{word!r} ({count})" for word, count in unknown_words.most_common(examples))
    total = sum(unknown_words.values())
    return (f"{total} occurrence{'s' if total != 1 else ''} of {len(unknown_words)} "
            f"word{'s' if len(unknown_words) != 1 else ''}, such as {shown}")


def report_corpus(corpus: EncodedCorpus, name: str, max_length: int | None, warn_unknown: bool = False) -> None:
    """Log a corpus's size, and warn once about what was cut and (if asked) what is unknown."""
    log.info("%s: %d sentences, %d tokens (with <eos>), %d unknown", name, len(corpus), corpus.num_tokens,
             corpus.unknown_tokens)
    if corpus.truncated:
        log.warning("%s: %d of %d sentences are longer than %d words and were cut to %d (--max-length sets the limit)",
                    name, corpus.truncated, len(corpus), max_length, max_length)
    if corpus.special_words:
        counts = ", ".join(f"{word} {count}" for word, count in sorted(corpus.special_words.items()))
        log.warning("%s: the text holds textvae's special tokens (%s); each reads as <unk>, the unknown word",
                    name, counts)
    if warn_unknown and corpus.unknown_words:
        log.warning("%s: not in the vocabulary, read as <unk>: %s", name, unknown_words_note(corpus.unknown_words))


def load_corpus(
    path: Path | str, vocab: TokenVocabulary, max_length: int | None = None, name: str | None = None,
    tokenizer: Tokenizer = AS_GIVEN, warn_unknown: bool = False,
) -> EncodedCorpus:
    """Read and encode a corpus file, logging its size and what was cut or unknown."""
    corpus = encode_corpus(read_sentences(path, tokenizer), vocab, max_length)
    report_corpus(corpus, name or str(path), max_length, warn_unknown)
    return corpus
