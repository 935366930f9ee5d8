"""Writing a sweep's results: JSON with every setting, CSV for spreadsheets, markdown cells."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from textvae.experiments.sweep import Experiment
from textvae.serialization import read_json, write_atomic, write_json
from textvae.training import CONFIG_FILE

METRIC_COLUMNS = ("distortion", "rate", "elbo", "nll_iw", "ppl_iw", "ppl_elbo", "mi", "au", "log_det_cov",
                  "mu_norm_sq", "sentences", "tokens")


def write_results(experiment: Experiment, rows: Sequence[dict[str, Any]], wall_seconds: float,
                  stem: str = "results") -> None:
    """STEM.json (the experiment's settings, each run's config and measurements: every seed's) and
    STEM.csv (a line per run)."""
    runs = [row | {"config": read_json(experiment.root / "runs" / row["run"] / CONFIG_FILE)} for row in rows]
    write_json(experiment.root / f"{stem}.json",
               {"experiment": experiment.to_dict(), "wall_seconds": round(wall_seconds, 1), "runs": runs})
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["model", "C", "seed", *METRIC_COLUMNS])
    for row in rows:
        writer.writerow([row["model"], f"{row['C']:g}", row.get("seed"), *(row.get(k) for k in METRIC_COLUMNS)])
    write_atomic(experiment.root / f"{stem}.csv", table.getvalue().encode("utf-8"))


def cell(value: float | int | None, digits: int = 2) -> str:
    """A number for a markdown table; '-' when it was not measured (or is not finite)."""
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def spread_cell(row: dict[str, Any], key: str, digits: int = 2) -> str:
    """A mean over seeds with its 95% interval ('36.91 +- 0.42'), or the value of a one-seed row."""
    measured = row.get("spread", {}).get(key)
    return measured.text(digits) if measured is not None else cell(row.get(key), digits)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(header), "|" + "---|" * len(header), *(line(row) for row in rows)])
