"""The run directory: reading and writing what a run holds (config.json, vocab.txt or tokenizer/,
pretrained/, metrics.jsonl, weights and checkpoints), and the checks that name a damaged or
mismatched file.

Every write is atomic (`textvae.serialization`); one process writes a run at a time (`run_lock`).
The format is described in docs/ARCHITECTURE.md; the file names are in `training.config`.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from torch import nn

from textvae.data.corpus import read_sentences
from textvae.data.subword import SubwordVocabulary
from textvae.data.vocab import TokenVocabulary, Vocabulary
from textvae.errors import ConfigError, RunDirError
from textvae.models.config import ModelConfig
from textvae.serialization import read_json, write_atomic, write_directory, write_json
from textvae.training.config import (
    CONFIG_FILE, DIVERGED_FILE, METRICS_FILE, PRETRAINED_DIR, TOKENIZER_DIR, VOCAB_FILE, WEIGHTS, DataConfig,
    RunConfig,
)

ROLES = ("encoder", "decoder")

log = logging.getLogger(__name__)


def holds_run(run_dir: Path | str) -> bool:
    return (Path(run_dir) / CONFIG_FILE).is_file()


def check_new_directory(out: Path | str, what: str = "a run", own: tuple[str, ...] = ()) -> None:
    """A directory for a new run (or language model) must be new or empty: textvae never writes
    beside, or over, a user's own files. Hidden files (a stale lock, a cut-off temporary file)
    do not count, nor do the entries named in `own` (written by textvae for this run)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunDirError(f"--out {out} is a file; {what} is a directory")
    if not out.is_dir():
        return
    theirs = sorted(p.name for p in out.iterdir() if not p.name.startswith(".") and p.name not in own)
    if theirs:
        shown = ", ".join(theirs[:3]) + (f" and {len(theirs) - 3} more" if len(theirs) > 3 else "")
        raise RunDirError(f"--out {out} holds files that are not {what} ({shown}); give a new or empty "
                          "directory, so that nothing of yours is overwritten")


def load_config(run_dir: Path | str) -> RunConfig:
    """A run's config.json; a missing or damaged one is a RunDirError naming it."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        raise RunDirError(f"{run_dir}: not a textvae run directory (no {CONFIG_FILE})")
    saved = read_json(path)
    try:
        return RunConfig.from_dict(saved)
    except ConfigError as err:
        raise RunDirError(f"{path}: {err}") from None
    except (KeyError, TypeError, AttributeError) as err:
        raise RunDirError(f"{path}: damaged, not a run config ({type(err).__name__}: {err})") from None


def save_config(run_dir: Path | str, config: RunConfig) -> None:
    write_json(Path(run_dir) / CONFIG_FILE, config.to_dict())


def load_vocabulary(run_dir: Path | str, config: RunConfig) -> TokenVocabulary:
    """A run's vocabulary: its tokenizer/ where it has one (a run with a pretrained model), else its
    vocab.txt; one that does not match the model's vocabulary size is damaged."""
    tokenizer, words = Path(run_dir) / TOKENIZER_DIR, Path(run_dir) / VOCAB_FILE
    if not tokenizer.is_dir() and not words.exists():
        raise RunDirError(f"{run_dir}: holds neither {VOCAB_FILE} nor {TOKENIZER_DIR}/, the run's vocabulary")
    vocab = SubwordVocabulary.load(tokenizer) if tokenizer.is_dir() else Vocabulary.load(words)
    if len(vocab) != config.model.vocab_size:
        raise RunDirError(f"{tokenizer if tokenizer.is_dir() else words}: holds {len(vocab)} words, but the model in "
                          f"{CONFIG_FILE} was built for {config.model.vocab_size}; the file is damaged or from "
                          "another run")
    return vocab


def vocabulary_saved(run_dir: Path | str) -> bool:
    return (Path(run_dir) / VOCAB_FILE).exists() or (Path(run_dir) / TOKENIZER_DIR).is_dir()


def save_vocabulary(run_dir: Path | str, vocab: TokenVocabulary) -> None:
    """vocab.txt, or a subword vocabulary's tokenizer in tokenizer/ (written whole, then renamed)."""
    if isinstance(vocab, SubwordVocabulary):
        write_directory(Path(run_dir) / TOKENIZER_DIR, vocab.save)
    else:
        vocab.save(Path(run_dir) / VOCAB_FILE)


def prepare_vocabulary(data: DataConfig, sentences: Sequence[Sequence[str]] | None = None,
                       model: ModelConfig | None = None) -> TokenVocabulary:
    """The run's vocabulary: the tokenizer of the model's pretrained decoder, else of its pretrained
    encoder (`ComponentOptions.tokenizer`); else the vocabulary file named by `data`, or one built
    from the training split (`sentences`, when already read)."""
    if model is not None:
        for options in (model.decoder_options, model.encoder_options):
            tokenizer = options.tokenizer()
            if tokenizer is not None:
                given = [flag for flag, value in (("--vocab", data.vocab), ("--max-vocab", data.max_vocab),
                                                  ("--min-count", data.min_count != 1)) if value]
                if given:
                    raise ConfigError(f"{', '.join(given)} do not apply to model {model.model}: its pretrained "
                                      "model's tokenizer is the vocabulary")
                return SubwordVocabulary(tokenizer)
    if data.vocab is not None:
        return Vocabulary.load(data.vocab)
    if sentences is None:
        sentences = read_sentences(data.train, data.tokenizer)
    if data.max_length is not None:
        sentences = [s[: data.max_length] for s in sentences]
    return Vocabulary.build(sentences, min_count=data.min_count, max_size=data.max_vocab)


# -- pretrained/: what rebuilds a pretrained encoder or decoder without its original files -------------
def save_pretrained_configurations(run_dir: Path | str, model: nn.Module) -> None:
    """PRETRAINED_DIR/encoder and .../decoder: the configuration of each part of `model` (a
    SentenceVAE) that starts from a pretrained model (`save_configuration`, optional in the contracts)."""
    for role in ROLES:
        save = getattr(getattr(model, role), "save_configuration", None)
        if save is not None:
            write_directory(Path(run_dir) / PRETRAINED_DIR / role, save)


def model_for_saved_weights(run_dir: Path | str, model: ModelConfig) -> ModelConfig:
    """`model` with each pretrained part rebuilt from the configuration the run saved
    (`rebuilt_from`): the model to load the run's weights into, without the pretrained model's own
    files. A part the run saved nothing for is built as `model` says."""
    changes = {}
    for role in ROLES:
        saved = Path(run_dir) / PRETRAINED_DIR / role
        if saved.is_dir():
            changes[f"{role}_options"] = getattr(model, f"{role}_options").rebuilt_from(saved)
    return replace(model, **changes) if changes else model


def weights_file(run_dir: Path | str, which: str = "best") -> Path:
    """The weights `which` names ("best": lowest validation loss, "last"), which must exist."""
    if which not in WEIGHTS:
        raise ConfigError(f"weights must be 'best' or 'last', got {which!r}")
    path = Path(run_dir) / WEIGHTS[which]
    if not path.exists():
        raise RunDirError(f"{run_dir}: no {WEIGHTS[which]} (has training evaluated at least once?)")
    return path


# -- metrics.jsonl: one JSON object a line, appended at each evaluation ---------------------------------
def json_line(record: dict[str, Any]) -> str:
    """One JSON object a line; a non-finite number becomes null, so the file stays valid JSON."""
    clean = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in record.items()}
    return json.dumps(clean, allow_nan=False) + "\n"


def append_metrics(run_dir: Path | str, records: Iterable[dict[str, Any]]) -> None:
    with open(Path(run_dir) / METRICS_FILE, "a", encoding="utf-8") as f:
        f.write("".join(json_line(r) for r in records))


def write_metrics(run_dir: Path | str, records: Iterable[dict[str, Any]]) -> None:
    """Replace metrics.jsonl with `records`, atomically."""
    write_atomic(Path(run_dir) / METRICS_FILE, "".join(json_line(r) for r in records).encode("utf-8"))


CLOCK_FIELDS = ("seconds",)  # what the clock measured: runs that compute the same numbers differ in these


def reproducible_metrics(run_dir: Path | str) -> list[dict[str, Any]]:
    """The records of metrics.jsonl without `CLOCK_FIELDS`: what a killed and resumed run shares,
    to the last bit, with one that was never stopped."""
    return [{k: v for k, v in record.items() if k not in CLOCK_FIELDS} for record in read_metrics(run_dir)]


def read_metrics(run_dir: Path | str, repair: bool = False) -> list[dict[str, Any]]:
    """The records of metrics.jsonl. A last line cut short (the process was killed while appending)
    is dropped, with a warning, and with `repair` also removed from the file; a damaged line
    elsewhere is a RunDirError naming it."""
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise RunDirError(f"{path}: damaged, not UTF-8 text") from None
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                log.warning("%s: its last line was cut short (an interrupted write)%s", path,
                            "; removed" if repair else "; ignored")
                if repair:
                    write_metrics(run_dir, records)
                break
            raise RunDirError(f"{path}:{number}: damaged, not a JSON object") from None
        if not isinstance(record, dict) or "step" not in record:
            raise RunDirError(f"{path}:{number}: damaged, not a metrics record")
        records.append(record)
    return records


def keep_metrics_until(run_dir: Path | str, step: int) -> None:
    """Drop the records of evaluations after `step` (a resume redoes them)."""
    write_metrics(run_dir, [r for r in read_metrics(run_dir, repair=True) if r["step"] <= step])



# -- diverged.json: why the last session stopped, where its numbers stopped being finite ----------------
def record_divergence(run_dir: Path | str, step: int, message: str) -> None:
    write_json(Path(run_dir) / DIVERGED_FILE, {"step": step, "message": message})


def clear_divergence(run_dir: Path | str) -> None:
    (Path(run_dir) / DIVERGED_FILE).unlink(missing_ok=True)


def read_divergence(run_dir: Path | str) -> dict[str, Any] | None:
    path = Path(run_dir) / DIVERGED_FILE
    return read_json(path) if path.exists() else None
