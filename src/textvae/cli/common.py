"""What several commands share: options that are not a config's (device, threads, progress,
weights, --force), loading a run for a command, checking where a command will write, joining the
processes of a torchrun job."""

from __future__ import annotations

import logging
import math
import os
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from textvae.cli.options import choices
from textvae.data.tokenize import TOKENIZERS
from textvae.errors import ConfigError
from textvae.options import MAX_SEED
from textvae.serialization import write_text
from textvae.runtime import MAX_THREADS
from textvae.precision import PRECISIONS

log = logging.getLogger("textvae")

Tokenize = choices("Tokenize", TOKENIZERS)
Precision = choices("Precision", PRECISIONS)

RunDirArgument = Annotated[Path, typer.Argument(help="A run directory written by `textvae train`.")]
DeviceOption = Annotated[str, typer.Option(help="auto (a GPU where PyTorch sees one, else the CPU), cpu, cuda or "
                                                "cuda:N.")]
WeightsOption = Annotated[str, typer.Option(help="best (lowest validation loss) or last.")]
ThreadsOption = Annotated[Optional[int], typer.Option(
    min=1, max=MAX_THREADS, help="CPU threads for PyTorch [default: PyTorch's, one per core]. With other work on the machine, "
                "fewer can be much faster.")]
ProgressOption = Annotated[bool, typer.Option(
    help="Report progress: a bar on a terminal, a line every 20 s when output goes to a file or pipe.")]
ForceOption = Annotated[bool, typer.Option("--force", help="Overwrite --out if it exists.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
SeedOption = Annotated[int, typer.Option(min=0, max=MAX_SEED, help="Seed of every random draw.")]
DecodePrecisionOption = Annotated[Precision, typer.Option(
    help="auto: bf16 autocast where this machine runs it faster (one log line says which), else fp32. bf16 where "
         "the CPU cannot run it is an error.")]
RunTokenizeOption = Annotated[Optional[Tokenize], typer.Option(
    "--tokenize", help="How lines become tokens: none (split on whitespace) or moses [default: the run's, as its "
                       "training data was read].")]
RunLowercaseOption = Annotated[Optional[bool], typer.Option(
    "--lowercase/--no-lowercase", help="Lower-case the text first [default: the run's].")]


def finite_float(value: float | None) -> float | None:
    """A float option's check (its callback): nan and inf mean nothing for any of textvae's options."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value


def load_run(run_dir: Path, device: str, weights: str, precision: str = "auto", threads: int | None = None,
             tokenize: Any = None, lowercase: bool | None = None) -> Any:
    """A run loaded for a command, its tokenizer overridden where the options say so."""
    from textvae.api import load

    vae = load(run_dir, device=device, weights=weights, precision=precision, threads=threads)
    if tokenize is not None:
        vae.tokenizer = replace(vae.tokenizer, kind=tokenize.value)
    if lowercase is not None:
        vae.tokenizer = replace(vae.tokenizer, lowercase=lowercase)
    return vae


def output_file(path: Path, force: bool) -> Path:
    """Check where a command will write, before it works (and before it makes anything): not a
    directory, not an existing file unless forced, in a directory that exists or can be made, and
    can be written."""
    if path.is_dir():
        raise ConfigError(f"--out {path} is a directory; give a file name")
    if path.exists() and not force:
        raise ConfigError(f"--out {path} exists; pass --force to overwrite it")
    existing = next(parent for parent in path.absolute().parents if parent.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise ConfigError(f"--out {path}: cannot write in {existing} (permission denied, read-only or a file)")
    if path.exists() and not os.access(path, os.W_OK):
        raise ConfigError(f"--out {path}: the file exists and cannot be written")
    return path


def write_output(path: Path, text: str) -> None:
    """Write a command's output file, atomically (its directory made where it is missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, text)


def join_processes(device: str) -> tuple[Any, str]:
    """Under torchrun, join the process group (one process otherwise); returns it and the device this
    rank computes on. Ranks other than 0 say only warnings and errors."""
    from textvae import distributed

    group = distributed.init_from_environment(device)
    if not group.main:
        logging.getLogger().setLevel(logging.WARNING)
    return group, distributed.rank_device(device, group)


def interval(value: Any, digits: int) -> str:
    """A mean with its 95% interval, e.g. "0.912 [0.901, 0.923]"."""
    return f"{value.mean:.{digits}f} [{value.low:.{digits}f}, {value.high:.{digits}f}]"
