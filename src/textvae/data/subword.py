"""A subword vocabulary: a pretrained model's Hugging Face tokenizer behind the interface the pipeline
uses of `Vocabulary` (`textvae.data.vocab.TokenVocabulary`).

A sentence is still a list of words (as the run's --tokenize made them); `encode` joins them with
spaces and lets the tokenizer cut the text into its own pieces, and `decode` gives the decoded text
split on whitespace. The ids are the tokenizer's, so a pretrained model's embeddings line up with
them, with at most two more past its last id for what it lacks:
  eos  the tokenizer's end-of-sequence token (its separator where it has none); it ends every
       sentence and starts decoding, as `<eos>` does;
  pad  the tokenizer's padding token, or a new id past the tokenizer where it has none (or where its
       padding token is its eos, as GPT-2 is often set up): padding must not be a word the model
       predicts;
  unk  the tokenizer's unknown token, or a new id where it has none (byte-level BPE, as GPT-2's, can
       read any text; its unknown token is its eos). The tokenizer never gives the new id; word
       dropout puts it in the decoder's input.
Text never holds markers: the tokenizer's special tokens written in a sentence are read as the
characters they are made of.

`transformers` is optional: it is imported only when a tokenizer is loaded.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from textvae.data.vocab import UNK
from textvae.errors import ConfigError

MISSING_EXTRA = "pretrained tokenizers need the transformers extra: pip install 'textvae[transformers]'"


class SubwordVocabulary:
    """A Hugging Face tokenizer as a vocabulary of `len(tokenizer)` ids, and the one or two it lacks."""

    specials: tuple[str, ...] = ()  # no word of a text is a marker (see the module)

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        size = len(tokenizer)
        eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id
        if eos is None:
            raise ConfigError(f"the tokenizer {tokenizer.name_or_path!r} has neither an eos nor a sep token; a "
                              "sentence needs one to end with (set its eos_token and save it again)")
        self.eos_id: int = eos
        self.tokenizer_size = size
        pad = tokenizer.pad_token_id
        if pad is None or pad == eos:
            pad, size = size, size + 1
        self.pad_id: int = pad
        unk = tokenizer.unk_token_id
        self.tokenizer_unk_id: int | None = unk if unk is not None and unk not in (eos, pad) else None
        if self.tokenizer_unk_id is None:
            unk, size = size, size + 1
        self.unk_id: int = unk
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return f"SubwordVocabulary({self.tokenizer.name_or_path!r}, {self.size} ids)"

    def pieces(self, text: str) -> list[int]:
        """The tokenizer's ids of `text`, with no special token added or read from the text."""
        return list(self.tokenizer.encode(text, add_special_tokens=False, split_special_tokens=True))

    def __contains__(self, word: str) -> bool:
        """Whether the tokenizer reads `word` without its unknown token."""
        return self.tokenizer_unk_id is None or self.tokenizer_unk_id not in self.pieces(word)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, SubwordVocabulary) and (self.size, self.pad_id, self.unk_id, self.eos_id)
                == (other.size, other.pad_id, other.unk_id, other.eos_id)
                and self.tokenizer.get_vocab() == other.tokenizer.get_vocab())

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """The ids of the words joined by spaces, then eos; an eos or pad id the tokenizer gives
        (it should not, see the module) becomes unk."""
        ids = [self.unk_id if i in (self.pad_id, self.eos_id) else i for i in self.pieces(" ".join(tokens))]
        ids.append(self.eos_id)
        return ids

    def decode(self, ids: Iterable[int], stop_at_eos: bool = True) -> list[str]:
        """The words of the text `ids` decode to, cut at the first eos, padding left out; an id past
        the tokenizer reads `<unk>`."""
        words: list[str] = []
        run: list[int] = []

        def flush() -> None:
            if run:
                words.extend(self.tokenizer.decode(run, clean_up_tokenization_spaces=False).split())
                run.clear()

        for i in (int(i) for i in ids):
            if i == self.eos_id and stop_at_eos:
                break
            if i == self.pad_id:
                continue
            if 0 <= i < self.tokenizer_size:
                run.append(i)
            else:
                flush()
                words.append(UNK)
        flush()
        return words

    def save(self, directory: Path | str) -> None:
        """The tokenizer's files (`save_pretrained`) in `directory`."""
        self.tokenizer.save_pretrained(str(directory))

    @classmethod
    def load(cls, directory: Path | str) -> SubwordVocabulary:
        """The tokenizer saved in `directory` (by `save`, or beside a pretrained model)."""
        try:
            from transformers import AutoTokenizer
        except ImportError:
            raise ConfigError(MISSING_EXTRA) from None
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
        except (OSError, ValueError, ImportError) as error:
            text = " ".join(str(error).split())[:200]
            raise ConfigError(f"could not load the tokenizer saved in {directory}: {type(error).__name__}: "
                              f"{text}") from None
        return cls(tokenizer)
