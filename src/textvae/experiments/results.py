"""Writing a sweep's results: JSON with every setting, CSV for spreadsheets, markdown cells."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from pathlib import Path

from textvae.experiments.sweep import Experiment
from textvae.serialization import read_json, write_atomic, write_json
from textvae.training import CONFIG_FILE, read_metrics

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


def training_seconds(run_dir: Path) -> float | None:
    """What training a run cost: the seconds its last metrics record counts (steps, evaluations and
    saving, over every session); None for a run trained before textvae recorded them."""
    records = [r for r in read_metrics(run_dir) if r.get("split") == "train"]
    return records[-1].get("seconds") if records else None


def time_text(runs_dir: Path, runs: Sequence[str], wall_seconds: float) -> str:
    """'Training time of the 7 runs in this table: 2.4 h (from their metrics); wall time of this
    invocation: 0.1 min (finished runs are reused).' A reused run costs nothing now but did once."""
    seconds = [training_seconds(runs_dir / run) for run in runs]
    known = [s for s in seconds if s is not None]
    unknown = len(seconds) - len(known)
    total = sum(known)
    amount = f"{total / 3600:.1f} h" if total >= 3600 else f"{total / 60:.1f} min"
    text = f"Training time of the {len(runs)} runs in this table: {amount}"
    if unknown:
        text += (f" for {len(known)} of them ({unknown} trained before textvae recorded training time)" if known
                 else " unknown (trained before textvae recorded training time)")
    return text + (f", summed over runs (from their metrics.jsonl); wall time of this invocation: "
                   f"{wall_seconds / 60:.1f} min (finished runs are reused, not retrained).")


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
    if measured is None or measured.half_width is None:
        return cell(row.get(key), digits)
    return measured.text(digits)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(header), "|" + "---|" * len(header), *(line(row) for row in rows)])
