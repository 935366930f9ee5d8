"""`textvae plot`: training curves of runs (a thin shell over `textvae.workbench`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from textvae.cli.common import log
from textvae.cli.options import choices

XAxis = choices("XAxis", ("step", "epoch", "time"))


def plot(
    runs: Annotated[list[Path], typer.Argument(help="Run directories, or folders of runs (a sweep's --out).")],
    out: Annotated[Optional[Path], typer.Option(
        help="The figure; PNG, SVG or PDF by its extension [default: RUN/curves.png for one run, else "
             "curves.png here].")] = None,
    x: Annotated[XAxis, typer.Option(help="The horizontal axis: step, epoch or time (seconds trained).")] = XAxis.step,
) -> None:
    """Training curves from metrics.jsonl: loss, D, R beside its target C, MI, AU and the learning rate."""
    from textvae.workbench.curves import find_runs, plot_curves, read_curves

    found = find_runs(runs)
    path = out or (found[0] / "curves.png" if len(found) == 1 else Path("curves.png"))
    plot_curves([read_curves(run) for run in found], path, x.value)
    log.info("%d run%s plotted: %s", len(found), "" if len(found) == 1 else "s", path)


def register(app: typer.Typer) -> None:
    app.command()(plot)
