"""How a line of text becomes tokens: as given (split on whitespace), by the Moses tokenizer, or in
the Penn Treebank's style.

The paper's corpora come tokenized and lower-cased, so the default, `none`, only splits on
whitespace. Raw text ("The food wasn't great!") and public benchmarks given as plain sentences
need punctuation split off and, for a lower-cased vocabulary, lower-casing: `moses` (sacremoses,
the Moses tokenizer's rules, without its HTML escapes) with `lowercase=True`. Corpora in the Penn
Treebank's style (PTB, Marvin & Linzen's minimal pairs) split contractions before the apostrophe
("is n't", "ca n't") and write quotes as `` and '': `ptb` (NLTK's Treebank word tokenizer) gives
their tokens where Moses gives "isn 't". A run saves its
tokenizer in config.json, and everything that reads text for that run uses it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from textvae.errors import ConfigError

TOKENIZERS = ("none", "moses", "ptb")


@functools.cache
def _moses(language: str) -> Any:
    from sacremoses import MosesTokenizer

    return MosesTokenizer(lang=language)


@functools.cache
def _treebank() -> Any:
    from nltk.tokenize import TreebankWordTokenizer

    return TreebankWordTokenizer()


@dataclass(frozen=True)
class Tokenizer:
    kind: str = "none"  # none | moses | ptb
    lowercase: bool = False
    language: str = "en"  # Moses's rules for this language

    def __post_init__(self) -> None:
        if self.kind not in TOKENIZERS:
            raise ConfigError(f"--tokenize must be one of {', '.join(TOKENIZERS)}, got {self.kind!r}")

    def __call__(self, line: str) -> list[str]:
        if self.lowercase:
            line = line.lower()
        if self.kind == "none":
            return line.split()
        if self.kind == "ptb":
            return _treebank().tokenize(line)
        return _moses(self.language).tokenize(line, escape=False)

    def describe(self) -> str:
        return self.kind + (", lowercased" if self.lowercase else "")


AS_GIVEN = Tokenizer()
