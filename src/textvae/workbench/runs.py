"""`textvae runs DIR`: one row per run under a folder (a sweep's --out, or any folder of runs), read
from what each run directory holds, without taking its lock or loading its weights.

A row's status comes from four files: the lock (`textvae.locking.lock_status`), diverged.json, the
checkpoint's header (its step, whether it finished, whether a time budget stopped it) and
metrics.jsonl (the validation records and the seconds trained). The measurements are those of the
best validation evaluation (the lowest validation loss: the weights in model.safetensors).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from textvae.errors import ConfigError, RunDirError
from textvae.evaluation import collapse_note
from textvae.locking import lock_status
from textvae.serialization import checkpoint_state, read_json
from textvae.training import CHECKPOINT_FILE, CONFIG_FILE, read_metrics
from textvae.training.rundir import read_divergence

# Every status, in the order a table sorted by status shows them, with what it means for the user
STATUSES = {
    "running": "its lock is held by a live process on this machine (a finished run in use stays finished)",
    "running elsewhere": "locked by a process on another host (cannot be checked from here)",
    "killed": "its lock is stale: the process that held it is gone (killed, crashed); --resume continues it",
    "diverged": "stopped where a number stopped being finite (diverged.json says where); lower --lr",
    "time budget": "stopped by --time-budget before its last step; --resume continues it",
    "interrupted": "stopped before its last step with its lock released (Ctrl-C, a signal); --resume continues it",
    "not started": "no step saved yet",
    "finished": "trained every planned step",
    "damaged": "a file of the run directory cannot be read (the note says which)",
}
COLUMNS = ("run", "model", "objective", "C", "seed", "steps", "planned", "status", "D", "R", "MI", "AU",
           "seconds", "note")


@dataclass
class RunRow:
    """One run, as `textvae runs` shows it; None where the run directory does not say."""

    run: str  # its path, relative to the folder listed
    model: str
    objective: str
    C: float | None  # the final target rate (objectives that steer the rate to one)
    seed: int | None
    steps: int  # steps done (saved in the checkpoint)
    planned: int | None
    status: str  # a key of STATUSES
    D: float | None  # at the best validation evaluation
    R: float | None
    MI: float | None
    AU: int | None
    seconds: float | None  # training time over every session (steps, evaluations, saving)
    note: str  # what else holds: collapse, divergence, who holds the lock


def find_runs(paths: Iterable[Path | str]) -> list[Path]:
    """The run directories named: a run itself, or every VAE run anywhere under a folder (a
    language model's directory is not a run), in path order."""
    found: list[Path] = []
    for path in map(Path, paths):
        if _is_vae_run(path):
            found.append(path)
            continue
        if not path.is_dir():
            raise RunDirError(f"{path}: no such run directory")
        runs = sorted(p.parent for p in path.rglob(CONFIG_FILE) if _is_vae_run(p.parent))
        if not runs:
            raise RunDirError(f"{path}: not a run directory and holds none (no {CONFIG_FILE} of a VAE run)")
        found += runs
    return found


def _is_vae_run(path: Path) -> bool:
    config = path / CONFIG_FILE
    if not config.is_file():
        return False
    try:
        saved = read_json(config)
    except RunDirError:
        return True  # damaged: listed, and its row says so
    return isinstance(saved, dict) and "model" in saved and "training" in saved


def run_row(run_dir: Path, root: Path | None = None) -> RunRow:
    """The row of one run directory."""
    name = str(run_dir.relative_to(root)) if root is not None and run_dir != root else run_dir.name
    saved = read_json(run_dir / CONFIG_FILE)
    training, model = saved.get("training", {}), saved.get("model", {})
    options = training.get("objective_options") or {}
    records = read_metrics(run_dir)
    state = _checkpoint(run_dir) or _state_from_records(records, training)
    valid = [r for r in records if r.get("split") == "valid"]
    best = min(valid, key=lambda r: math.inf if r.get("loss") is None else r["loss"]) if valid else {}
    seconds = next((r["seconds"] for r in reversed(records) if r.get("seconds") is not None), state.get("seconds"))
    status, note = run_status(run_dir, state)
    last = valid[-1] if valid else {}
    if last and collapse_note(last["rate"], last.get("mi"), last.get("mi_sentences"), "validation") is not None:
        note = "; ".join(filter(None, [note, f"rate met by a shift (MI {last['mi']:.2f} of R {last['rate']:.2f})"]))
    return RunRow(
        run=name, model=model.get("model", "?"), objective=training.get("objective", "?"), C=options.get("kl_target"),
        seed=training.get("seed"), steps=int(state.get("step", 0)), planned=state.get("total_steps")
        or training.get("max_steps"), status=status, D=best.get("distortion"), R=best.get("rate"),
        MI=best.get("mi"), AU=best.get("au"), seconds=seconds, note=note,
    )


def _checkpoint(run_dir: Path) -> dict[str, Any]:
    path = run_dir / CHECKPOINT_FILE
    return checkpoint_state(path) if path.exists() else {}


def _state_from_records(records: list[dict[str, Any]], training: dict[str, Any]) -> dict[str, Any]:
    """A run copied without its checkpoint (its records only, as a sweep's shards are gathered):
    its step and whether it finished, from metrics.jsonl and the planned steps; {} when it has no record."""
    if not records:
        return {}
    step, planned = records[-1]["step"], training.get("max_steps")
    return {"step": step, "finished": planned is not None and step >= planned, "records_only": True}


def run_status(run_dir: Path, state: dict[str, Any]) -> tuple[str, str]:
    """The status of a run (a key of STATUSES) and a note that says more where there is more."""
    lock, holder = lock_status(run_dir)
    if lock == "held" and state.get("finished"):  # trained; an experiment is evaluating or reusing it
        return "finished", f"in use by pid {holder.get('pid')}" if holder else "in use"
    if lock == "held":
        return "running", f"pid {holder.get('pid')}" if holder else ""
    if lock == "elsewhere":
        return "running elsewhere", f"host {holder.get('host')}, pid {holder.get('pid')}" if holder else ""
    if lock == "stale":
        return "killed", f"stale lock of pid {holder.get('pid')}" if holder else "stale lock"
    diverged = read_divergence(run_dir)
    if diverged is not None:
        return "diverged", f"at step {diverged.get('step')}"
    if not state:
        return "not started", ""
    if state.get("finished"):
        return "finished", "records only, no weights" if state.get("records_only") else ""
    if state.get("stopped_by") == "time budget":
        return "time budget", ""
    return "interrupted", ""


def list_runs(paths: Sequence[Path | str], sort: str | None = None, descending: bool = False) -> list[RunRow]:
    """A row per run under `paths`, in path order or sorted by the column `sort` (missing values last)."""
    rows = []
    for path in map(Path, paths):
        root = path if path.is_dir() and not _is_vae_run(path) else None
        rows += [_row_or_damage(run, root) for run in find_runs([path])]
    if sort is None:
        return rows
    if sort not in COLUMNS:
        raise ConfigError(f"--sort takes a column ({', '.join(COLUMNS)}), not {sort!r}")
    order = list(STATUSES)
    def key(row: RunRow) -> tuple[bool, Any]:
        value = getattr(row, sort)
        value = order.index(value) if sort == "status" else value
        return value is None, value if value is not None else 0
    present = sorted((r for r in rows if getattr(r, sort) is not None), key=key, reverse=descending)
    return present + [r for r in rows if getattr(r, sort) is None]


def _row_or_damage(run_dir: Path, root: Path | None) -> RunRow:
    """A damaged run directory is a row that says what is damaged, not the end of the listing."""
    try:
        return run_row(run_dir, root)
    except RunDirError as err:
        name = str(run_dir.relative_to(root)) if root is not None else run_dir.name
        return RunRow(name, "?", "?", None, None, 0, None, "damaged", None, None, None, None, None, str(err))


# -- output -------------------------------------------------------------------------------------------
def rows_json(rows: Sequence[RunRow]) -> str:
    return json.dumps([asdict(r) for r in rows], indent=1)


def rows_csv(rows: Sequence[RunRow]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[f.name for f in fields(RunRow)], lineterminator="\n")
    writer.writeheader()
    writer.writerows(asdict(r) for r in rows)
    return buffer.getvalue()


def rows_table(rows: Sequence[RunRow]) -> str:
    """An aligned plain-text table, readable in a terminal and as Markdown."""
    cells = [[_cell(column, getattr(row, column)) for column in COLUMNS] for row in rows]
    header = [c if c != "seconds" else "time" for c in COLUMNS]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(header)]
    def line(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths)) + " |"
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, cells)]) + "\n"


def _cell(column: str, value: Any) -> str:
    if value is None:
        return "-"
    if column == "seconds":
        return f"{value / 60:.1f} min"
    if isinstance(value, float):
        return f"{value:.2f}" if column != "C" else f"{value:g}"
    return str(value)
