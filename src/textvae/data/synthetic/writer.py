"""Writing the built-in corpus: seeded train / valid / test splits, each text file with a factors
file beside it, and reading the factors back."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from textvae.data.synthetic.grammar import generate_sentences
from textvae.data.synthetic.lexicon import FACTOR_NAMES
from textvae.errors import ConfigError, DataError
from textvae.serialization import write_text


@dataclass(frozen=True)
class CorpusSplits:
    """Paths of the three text files; each has a factors file next to it (see factors_path)."""

    train: Path
    valid: Path
    test: Path

    def factors_path(self, split: str) -> Path:
        """The factors file of a split ("train", "valid" or "test"), e.g. train.factors.jsonl."""
        if split not in ("train", "valid", "test"):
            raise ConfigError(f"unknown split {split!r}; expected train, valid or test")
        text: Path = getattr(self, split)
        return text.with_name(f"{split}.factors.jsonl")


def write_corpus(out_dir: Path | str, n_sentences: int = 20_000, seed: int = 0,
                 valid_fraction: float = 0.05, test_fraction: float = 0.05) -> CorpusSplits:
    """Generate, shuffle and split a corpus; write {train,valid,test}.txt and .factors.jsonl.

    The directory is created if missing; existing files of those names are overwritten.
    Split sizes are round(n * fraction) for valid and test, the rest is train.
    """
    for name, fraction in (("valid_fraction", valid_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= fraction < 1.0:
            raise ConfigError(f"{name} must be in [0, 1), got {fraction!r}")
    sentences = generate_sentences(n_sentences, seed)
    n_valid = round(n_sentences * valid_fraction)
    n_test = round(n_sentences * test_fraction)
    if n_valid + n_test >= n_sentences:
        raise ConfigError(f"valid and test fractions leave no training sentences out of {n_sentences}")
    random.Random(f"textvae-synthetic-shuffle-{seed}").shuffle(sentences)
    parts = {"valid": sentences[:n_valid], "test": sentences[n_valid:n_valid + n_test],
             "train": sentences[n_valid + n_test:]}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    splits = CorpusSplits(train=out / "train.txt", valid=out / "valid.txt", test=out / "test.txt")
    for split, items in parts.items():
        write_text(getattr(splits, split), "".join(s.text + "\n" for s in items))
        rows = (json.dumps({k: s.factors[k] for k in FACTOR_NAMES}) + "\n" for s in items)
        write_text(splits.factors_path(split), "".join(rows))
    return splits


def read_factors(path: Path | str) -> list[dict[str, str]]:
    """Read a .factors.jsonl file back: one dict a line, in the order of the text file."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise DataError(path, f"cannot read factors file ({err.strerror or err})") from err
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(path, f"not a JSON object ({err.msg})", line=number) from err
        if not isinstance(row, dict) or not all(isinstance(v, str) for v in row.values()):
            raise DataError(path, "expected an object of string values", line=number)
        rows.append(row)
    return rows
