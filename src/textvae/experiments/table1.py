"""Table 1: for a few C, the test measurements next to greedy reconstruction BLEU / ROUGE by length."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from textvae.experiments.results import cell, markdown_table, time_text, write_results
from textvae.experiments.settings import Experiment, ExperimentKind, register_experiment
from textvae.experiments.sweep import plan_runs, prepare, run_all
from textvae.serialization import write_text

TABLE1_C = (3.0, 15.0, 100.0)


def table1_markdown(experiment: Experiment, rows: Sequence[dict[str, Any]], wall_seconds: float) -> str:
    """One block per (model, C): the measurements on its first line, then one line per length bucket."""
    header = ["model", "C", "D", "R", "LogDetCov", "||mu||^2", "AU", "length", "sentences", "BLEU-2", "BLEU-4",
              "ROUGE-2", "ROUGE-4"]
    lines = []
    for row in rows:
        measured = [row["model"], f"{row['C']:g}", cell(row["distortion"]), cell(row["rate"]),
                    cell(row["log_det_cov"]), cell(row["mu_norm_sq"], 3), cell(row["au"])]
        for i, bucket in enumerate(row["reconstruction"]):
            scores = [bucket["bucket"], str(bucket["sentences"])] + [
                cell(bucket[k]) for k in ("bleu2", "bleu4", "rouge2", "rouge4")]
            lines.append((measured if i == 0 else [""] * len(measured)) + scores)
    return "\n".join([
        "# Table 1: measurements and reconstruction by C",
        "",
        f"Preset `{experiment.preset}` ({experiment.settings.about}); seed {experiment.seed}; test split "
        f"`{experiment.test}`; best-validation weights. Reconstruction: z = posterior mean, greedy decoding; "
        "corpus BLEU (orders 2 and 4, no smoothing) and sentence-averaged ROUGE-2 / ROUGE-4 F1, x 100, by the "
        f"source's length in words. {time_text(experiment.root / 'runs', [r['run'] for r in rows], wall_seconds)}",
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
