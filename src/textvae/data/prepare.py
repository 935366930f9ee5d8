"""Your own corpus in one step (`textvae data prepare`): a text, CSV, TSV or JSONL file becomes the
train / valid / test files every command takes, one tokenized sentence a line.

The steps, in order: read the text (and labels) of each row; split it into sentences where asked
(pysbd); tokenize and lower-case (`Tokenizer`); drop sentences outside the length bounds; drop
repeats (after tokenizing, so "Great!" and "great !" are one sentence when lower-cased); shuffle
with the seed and cut into the three splits. Every step's count is kept for the summary, with the
vocabulary at several minimum counts and how many tokens of valid and test it leaves unknown.
Labels are written beside each split as SPLIT.factors.jsonl (one JSON object of factor -> value a
line), the form the probes read (`experiment --labels-test`; found beside --test by default).
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from textvae.data.tokenize import TOKENIZERS, Tokenizer
from textvae.errors import ConfigError, DataError
from textvae.options import MAX_SEED, check_options, option
from textvae.progress import progress as progress_bar

SPLITS = ("train", "valid", "test")
FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}  # else: text
MIN_COUNTS = (1, 2, 3, 5, 10)  # the summary's vocabulary sizes
LENGTH_BIN = 5  # tokens a bar of the summary's length histogram


@dataclass
class PrepareConfig:
    """How `data prepare` turns a file into the three splits."""

    text_column: str | None = option(None, "CSV, TSV or JSONL: the column (key) that holds the text.")
    label_columns: list[str] = option(help="CSV, TSV or JSONL: comma-separated columns written as the probes' "
                                           "labels (SPLIT.factors.jsonl).", default_factory=list)
    split_sentences: bool = option(False, "Split each line (a document) into sentences first (pysbd's rules).")
    tokenize: str = option("none", "none (split on whitespace), moses (Moses rules) or ptb (Penn Treebank: "
                                   "\"is n't\", quotes as `` '').", choices=TOKENIZERS)
    lowercase: bool = option(False, "Lower-case the text.")
    min_length: int = option(1, "Drop sentences of fewer tokens.", min=1)
    max_length: int | None = option(None, "Drop sentences of more tokens.", min=1, default_text="no limit")
    dedupe: bool = option(True, "Keep the first of sentences that repeat (after tokenizing).")
    split: list[float] = option(help="Shares of train, valid and test, comma-separated.", min=0, min_open=True,
                                default_factory=lambda: [0.9, 0.05, 0.05])
    seed: int = option(0, "Seed of the shuffle before the split.", min=0, max=MAX_SEED)

    def __post_init__(self) -> None:
        check_options(self)
        if len(self.split) != 3 or abs(sum(self.split) - 1.0) > 1e-6:
            raise ConfigError(f"--split takes three shares (train, valid, test) that add up to 1, got "
                              f"{','.join(f'{s:g}' for s in self.split)}")
        if self.max_length is not None and self.max_length < self.min_length:
            raise ConfigError(f"--max-length {self.max_length} is below --min-length {self.min_length}")

    @property
    def tokenizer(self) -> Tokenizer:
        return Tokenizer(self.tokenize, self.lowercase)


@dataclass
class Row:
    text: str
    labels: dict[str, str]


@dataclass
class PreparedCorpus:
    """The three splits (token lists with their labels) and what each step did."""

    splits: dict[str, list[tuple[list[str], dict[str, str]]]]
    counts: dict[str, int]  # rows, sentences, blank, too_short, too_long, duplicates, kept
    labels: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        train_counts = Counter(t for tokens, _ in self.splits["train"] for t in tokens)
        lengths = [len(tokens) for split in self.splits.values() for tokens, _ in split]
        vocabulary = []
        for min_count in MIN_COUNTS:
            words = {w for w, c in train_counts.items() if c >= min_count}
            unknown = {f"{s}_unknown_tokens": unknown_rate(self.splits[s], words) for s in ("valid", "test")}
            vocabulary.append({"min_count": min_count, "words": len(words), **unknown})
        histogram = Counter((n - 1) // LENGTH_BIN for n in lengths)
        return {
            "counts": self.counts,
            "sentences": {s: len(v) for s, v in self.splits.items()},
            "tokens": {s: sum(len(t) for t, _ in v) for s, v in self.splits.items()},
            "vocabulary": vocabulary,
            "lengths": {f"{b * LENGTH_BIN + 1}-{(b + 1) * LENGTH_BIN}": histogram[b] for b in sorted(histogram)},
            "labels": self.labels,
        }


def unknown_rate(split: Sequence[tuple[list[str], dict[str, str]]], words: set[str]) -> float:
    """The share of a split's tokens outside `words`."""
    tokens = [t for sentence, _ in split for t in sentence]
    return sum(t not in words for t in tokens) / len(tokens) if tokens else 0.0


# -- reading ---------------------------------------------------------------------------------------
def input_format(path: Path) -> str:
    return FORMATS.get(path.suffix.lower(), "text")


def read_text(path: Path) -> str:
    """The whole file as text; a missing, empty, binary or non-UTF-8 file is a DataError."""
    if not path.is_file():
        raise DataError(path, "no such file" if not path.exists() else "is a directory, expected a file")
    data = path.read_bytes()
    if not data.strip():
        raise DataError(path, "file is empty")
    if b"\x00" in data[:8192]:
        raise DataError(path, "is a binary file, not text (a NUL byte near its start); give a text, CSV, TSV or "
                              "JSONL file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise DataError(path, f"not valid UTF-8 (byte {data[err.start]:#04x})", line) from None


def read_rows(path: Path, config: PrepareConfig) -> Iterator[Row]:
    """The text (and labels) of every row of a text, CSV, TSV or JSONL file."""
    kind, text = input_format(path), read_text(path)
    if kind == "text":
        if config.text_column is not None or config.label_columns:
            raise ConfigError(f"{path} is read as plain text (one sentence or document a line): --text-column and "
                              "--label-columns are for .csv, .tsv and .jsonl files")
        for line in text.splitlines():
            yield Row(line, {})
        return
    if config.text_column is None:
        raise ConfigError(f"{path}: give --text-column, the {'key' if kind == 'jsonl' else 'column'} that holds "
                          "the text")
    if kind == "jsonl":
        yield from _jsonl_rows(path, text, config)
        return
    reader = csv.DictReader(io.StringIO(text), delimiter="," if kind == "csv" else "\t")
    columns = reader.fieldnames or []
    missing = [c for c in [config.text_column, *config.label_columns] if c not in columns]
    if missing:
        raise DataError(path, f"no column {', '.join(missing)}; its columns are: {', '.join(columns)}")
    for row in reader:
        yield Row(row[config.text_column] or "", {c: row[c] or "" for c in config.label_columns})


def _jsonl_rows(path: Path, text: str, config: PrepareConfig) -> Iterator[Row]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise DataError(path, "not a JSON object", number) from None
        if not isinstance(record, dict):
            raise DataError(path, "not a JSON object", number)
        missing = [c for c in [config.text_column, *config.label_columns] if c not in record]
        if missing:
            raise DataError(path, f"no key {', '.join(missing)}; its keys are: {', '.join(record)}", number)
        yield Row(str(record[config.text_column]), {c: str(record[c]) for c in config.label_columns})


# -- the steps ---------------------------------------------------------------------------------------
def sentence_splitter() -> Any:
    import pysbd

    return pysbd.Segmenter(language="en", clean=False)


def prepare_corpus(path: Path | str, config: PrepareConfig, progress: bool = False) -> PreparedCorpus:
    """Read, split into sentences, tokenize, filter, de-duplicate, shuffle and split a corpus file."""
    path = Path(path)
    tokenizer, splitter = config.tokenizer, sentence_splitter() if config.split_sentences else None
    counts = Counter(rows=0, sentences=0, blank=0, too_short=0, too_long=0, duplicates=0)
    kept: list[tuple[list[str], dict[str, str]]] = []
    seen: set[tuple[str, ...]] = set()
    rows = list(read_rows(path, config))  # the file is read whole anyway; counted, the bar has an end
    for row in progress_bar(rows, desc="prepare", unit="line", enabled=progress):
        counts["rows"] += 1
        for sentence in splitter.segment(row.text) if splitter is not None and row.text.strip() else [row.text]:
            tokens = tokenizer(sentence)
            counts["sentences"] += 1
            if not tokens:
                counts["blank"] += 1
            elif len(tokens) < config.min_length:
                counts["too_short"] += 1
            elif config.max_length is not None and len(tokens) > config.max_length:
                counts["too_long"] += 1
            elif config.dedupe and tuple(tokens) in seen:
                counts["duplicates"] += 1
            else:
                seen.add(tuple(tokens))
                kept.append((tokens, row.labels))
    counts["kept"] = len(kept)
    order = np.random.default_rng(config.seed).permutation(len(kept))
    sizes = split_sizes(len(kept), config.split)
    for name, size in zip(SPLITS, sizes):
        if size == 0:
            raise DataError(path, f"the {name} split would be empty: {len(kept)} sentences kept "
                                  f"({describe_counts(counts)}); give a larger corpus or other --split shares")
    bounds = np.cumsum([0, *sizes])
    splits = {name: [kept[i] for i in order[bounds[k]: bounds[k + 1]]] for k, name in enumerate(SPLITS)}
    return PreparedCorpus(splits, dict(counts), list(config.label_columns))


def split_sizes(n: int, shares: Sequence[float]) -> list[int]:
    """Sentences of valid and test rounded from their shares; train takes the rest."""
    valid, test = round(n * shares[1]), round(n * shares[2])
    return [n - valid - test, valid, test]


def describe_counts(counts: dict[str, int]) -> str:
    dropped = [f"{counts[k]} {k.replace('_', ' ')}" for k in ("blank", "too_short", "too_long", "duplicates")
               if counts.get(k)]
    return f"{counts['sentences']} read" + (f"; dropped {', '.join(dropped)}" if dropped else "")


def write_prepared(corpus: PreparedCorpus, out: Path | str, config: PrepareConfig) -> dict[str, Any]:
    """SPLIT.txt (and SPLIT.factors.jsonl with labels), summary.json with the settings; the summary."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, split in corpus.splits.items():
        (out / f"{name}.txt").write_text("".join(" ".join(tokens) + "\n" for tokens, _ in split), encoding="utf-8")
        if corpus.labels:
            (out / f"{name}.factors.jsonl").write_text("".join(json.dumps(labels) + "\n" for _, labels in split),
                                                       encoding="utf-8")
    summary = corpus.summary() | {"settings": asdict(config)}
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return summary


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The summary as a few lines for the terminal."""
    sentences, tokens = summary["sentences"], summary["tokens"]
    lines = [f"{describe_counts(summary['counts'])}; kept {summary['counts']['kept']}",
             "split: " + ", ".join(f"{s} {sentences[s]} sentences ({tokens[s]} tokens)" for s in SPLITS),
             "vocabulary of train at each minimum count (and the tokens of valid / test it leaves unknown):"]
    lines += [f"  min count {v['min_count']:>2}: {v['words']:>7} words   unknown "
              f"{100 * v['valid_unknown_tokens']:.2f}% / {100 * v['test_unknown_tokens']:.2f}%" for v in summary["vocabulary"]]
    most = max(summary["lengths"].values(), default=1)
    lines.append("sentence lengths (tokens):")
    lines += [f"  {span:>7}: {count:>7} {'#' * max(1, round(40 * count / most))}"
              for span, count in summary["lengths"].items()]
    return lines
