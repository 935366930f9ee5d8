"""Table 1: for a few C, the test measurements next to greedy reconstruction BLEU / ROUGE by length."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from textvae.experiments.results import METRIC_COLUMNS, markdown_table, spread_cell, time_text, write_results
from textvae.experiments.stats import seed_means, seeds_text, spread
from textvae.experiments.settings import Experiment, ExperimentKind, register_experiment
from textvae.experiments.sweep import plan_runs, prepare, run_all
from textvae.serialization import write_text

TABLE1_C = (3.0, 15.0, 100.0)


RECONSTRUCTION_SCORES = ("bleu2", "bleu4", "rouge2", "rouge4")


def cell_rows(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (model, C): the measurements' means over seeds with their spread, and each length
    bucket's scores likewise (`bucket_spread`: one {score: Spread} per bucket)."""
    rows = seed_means(runs, lambda r: (r["model"], r["C"]), METRIC_COLUMNS)
    for row in rows:
        mine = [r for r in runs if (r["model"], r["C"]) == (row["model"], row["C"])]
        row["bucket_spread"] = [
            {k: spread(values) for k in RECONSTRUCTION_SCORES
             if None not in (values := [m["reconstruction"][i][k] for m in mine])}  # None: an empty bucket
            for i in range(len(row["reconstruction"]))]
    return rows


def table1_markdown(experiment: Experiment, runs: Sequence[dict[str, Any]], wall_seconds: float) -> str:
    """One block per (model, C): the measurements on its first line, then one line per length bucket;
    with seeds, each number is the mean +- the half-width of its 95% interval."""
    header = ["model", "C", "D", "R", "LogDetCov", "||mu||^2", "AU", "length", "sentences", "BLEU-2", "BLEU-4",
              "ROUGE-2", "ROUGE-4"]
    lines = []
    for row in cell_rows(runs):
        measured = [row["model"], f"{row['C']:g}", spread_cell(row, "distortion"), spread_cell(row, "rate"),
                    spread_cell(row, "log_det_cov"), spread_cell(row, "mu_norm_sq", 3), spread_cell(row, "au")]
        for i, bucket in enumerate(row["reconstruction"]):
            scores = [bucket["bucket"], str(bucket["sentences"])] + [
                spread_cell({"spread": row["bucket_spread"][i], **bucket}, k) for k in RECONSTRUCTION_SCORES]
            lines.append((measured if i == 0 else [""] * len(measured)) + scores)
    return "\n".join([
        "# Table 1: measurements and reconstruction by C",
        "",
        f"Preset `{experiment.preset}` ({experiment.settings.about}); {seeds_text(experiment.run_seeds)}; test split "
        f"`{experiment.test}`; best-validation weights. Reconstruction: z = posterior mean, greedy decoding; "
        "corpus BLEU (orders 2 and 4, no smoothing) and sentence-averaged ROUGE-2 / ROUGE-4 F1, x 100, by the "
        f"source's length in words. {time_text(experiment.root / 'runs', [r['run'] for r in runs], wall_seconds)}",
        "",
        markdown_table(header, lines),
        "",
    ])


def run_table1(experiment: Experiment, jobs: int = 1, progress: bool = True) -> list[dict[str, Any]]:
    """Train, evaluate and reconstruct each (model, C); write table1.json / .csv / .md."""
    started = time.perf_counter()
    prepare(experiment)
    specs = plan_runs(experiment, experiment.models, experiment.kl_targets, reconstruct=True)
    rows = run_all(specs, jobs, experiment.device, progress, experiment.only)
    if experiment.only is not None:  # one cell of a job array: the outputs wait for all of them
        return rows
    wall = time.perf_counter() - started
    write_results(experiment, rows, wall, stem="table1")
    write_text(experiment.root / "table1.md", table1_markdown(experiment, rows, wall))
    return rows


register_experiment("table1", ExperimentKind(
    run=lambda experiment, options, jobs, progress: run_table1(experiment, jobs, progress),
    about="Measurements and greedy-reconstruction BLEU / ROUGE by length at each C (table1.md / .json / .csv).",
    kl_targets=TABLE1_C, report="table1.md"))
