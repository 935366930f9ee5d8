"""TensorBoard event files of a run (`--tensorboard`, the tensorboard extra): a view of
metrics.jsonl, never its replacement.

Every session starts by writing RUN/tensorboard/ again, whole, from metrics.jsonl (which a resume
has already cut back to its checkpoint), then adds each evaluation's records as they are appended.
So a run killed and resumed shows exactly metrics.jsonl's points: none that the kill kept from
being flushed is missing, and none that the resume redid is there twice. Every number of a record
is a scalar named `SPLIT/KEY` (train/rate, valid/mi, ...) at its step; a validation record's prior
samples are text (`valid/prior samples`), and the run's configuration is text at step 0. Only the
process that writes the run directory writes them (rank 0 under torchrun).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from textvae.errors import ConfigError

TENSORBOARD_DIR = "tensorboard"
NOT_SCALARS = {"step"}  # the x axis; every other number of a record is drawn


def scalars_of(record: dict[str, Any]) -> dict[str, float]:
    """The numbers of a metrics.jsonl record as TensorBoard tags (booleans and missing values left out)."""
    split = record.get("split", "train")
    return {f"{split}/{key}": float(value) for key, value in record.items()
            if key not in NOT_SCALARS and isinstance(value, (int, float)) and not isinstance(value, bool)}


def samples_text(samples: Iterable[str]) -> str:
    """Sentences as a Markdown list (TensorBoard renders text as Markdown)."""
    return "\n".join(f"- {sentence or '(empty)'}" for sentence in samples)


class TensorBoardLog:
    """The event files of one run directory; `add` takes metrics.jsonl records."""

    def __init__(self, run_dir: Path, config: dict[str, Any], records: Iterable[dict[str, Any]]):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError("--tensorboard needs the tensorboard package: pip install -c constraints.txt -e "
                              "'.[tensorboard]'") from None
        directory = Path(run_dir) / TENSORBOARD_DIR
        shutil.rmtree(directory, ignore_errors=True)  # written again from metrics.jsonl, the source of truth
        self.writer = SummaryWriter(log_dir=str(directory))
        self.writer.add_text("config", "```\n" + json.dumps(config, indent=1) + "\n```", 0)
        self.add(records)

    def add(self, records: Iterable[dict[str, Any]]) -> None:
        for record in records:
            for tag, value in scalars_of(record).items():
                self.writer.add_scalar(tag, value, record["step"])
            if record.get("samples"):
                self.writer.add_text(f"{record.get('split', 'valid')}/prior samples", samples_text(record["samples"]),
                                     record["step"])
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
