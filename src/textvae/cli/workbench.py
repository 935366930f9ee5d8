"""`textvae plot` and `textvae runs`: training curves of runs, and a table of them (thin shells over
`textvae.workbench`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from textvae.cli.common import log
from textvae.cli.options import choices

XAxis = choices("XAxis", ("step", "epoch", "time"))
Column = choices("Column", ("run", "model", "objective", "C", "seed", "steps", "planned", "status", "D", "R", "MI",
                            "AU", "seconds"))


def plot(
    runs: Annotated[list[Path], typer.Argument(help="Run directories, or folders of runs (a sweep's --out).")],
    out: Annotated[Optional[Path], typer.Option(
        help="The figure; PNG, SVG or PDF by its extension [default: RUN/curves.png for one run, else "
             "curves.png here].")] = None,
    x: Annotated[XAxis, typer.Option(help="The horizontal axis: step, epoch or time (seconds trained).")] = XAxis.step,
) -> None:
    """Training curves from metrics.jsonl: loss, D, R beside its target C, MI, AU and the learning rate."""
    from textvae.workbench.curves import plot_curves, read_curves
    from textvae.workbench.runs import find_runs

    found = find_runs(runs)
    path = out or (found[0] / "curves.png" if len(found) == 1 else Path("curves.png"))
    plot_curves([read_curves(run) for run in found], path, x.value)
    log.info("%d run%s plotted: %s", len(found), "" if len(found) == 1 else "s", path)


def runs(
    folders: Annotated[list[Path], typer.Argument(help="Folders of runs (a sweep's --out), or run directories.")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON: a list of rows.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV: a header and a line per run.")] = False,
    sort: Annotated[Optional[Column], typer.Option(help="Sort by this column (missing values last).")] = None,
    descending: Annotated[bool, typer.Option(help="With --sort: largest first.")] = False,
) -> None:
    """A table of every run under the folders: model, objective, C, steps done and planned, status
    (finished, running, killed, diverged, time budget, interrupted, not started), D, R, MI and AU at the
    best validation, and the training time. Reads the run directories only; never takes a lock."""
    from textvae.errors import ConfigError
    from textvae.workbench.runs import list_runs, rows_csv, rows_json, rows_table

    if as_json and as_csv:
        raise ConfigError("--json and --csv exclude each other: give one")
    rows = list_runs(folders, sort.value if sort else None, descending)
    typer.echo(rows_json(rows) if as_json else rows_csv(rows) if as_csv else rows_table(rows), nl=False)


def register(app: typer.Typer) -> None:
    app.command()(plot)
    app.command()(runs)
