"""Table 2: interpolations decoded with greedy, top-k (k=15) and top-p (p=0.9), for each C."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from textvae.experiments.results import markdown_table, spread_cell, time_text
from textvae.experiments.stats import seed_means
from textvae.experiments.settings import Experiment, ExperimentKind, ExperimentOptions, register_experiment
from textvae.experiments.sweep import plan_runs, prepare, run_all
from textvae.generation import Decoding
from textvae.options import option
from textvae.serialization import write_text

TABLE2_C = (3.0, 15.0, 100.0)
TABLE2_DECODINGS = (Decoding("greedy"), Decoding("top-k", top_k=15), Decoding("top-p", top_p=0.9))
DEFAULT_FROM, DEFAULT_TO = "the food was great .", "the service was slow ."


def interpolation_block(vae: Any, start: str | None, end: str | None, steps: int, seed: int) -> str:
    """A markdown table: one row per step of the path, one column per decoding."""
    columns = [vae.interpolate(start, end, steps=steps, decoding=d, seed=seed) for d in TABLE2_DECODINGS]
    rows = [[f"{s:.2f}", *(c.sentences[i] for c in columns)] for i, s in enumerate(columns[0].weights.tolist())]
    return markdown_table(["s", *(d.describe() for d in TABLE2_DECODINGS)], rows)


def table2_markdown(experiment: Experiment, rows: Sequence[dict[str, Any]], start: str, end: str, steps: int,
                    wall_seconds: float) -> str:
    from textvae.api import load

    lines = [
        "# Table 2: interpolations by C",
        "",
        f"Preset `{experiment.preset}` ({experiment.settings.about}); {paths_from(experiment)}; best-validation "
        f"weights. Each path has {steps} points z = (1 - s) z_start + s z_end; every point is decoded with "
        "each strategy (sampling seeded, so the table is reproducible). Prior draws: z_start, z_end ~ N(0, I). "
        "Sentences: z = posterior mean of each. "
        + time_text(experiment.root / "runs", [r["run"] for r in rows], wall_seconds),
    ]
    for row in seed_means(rows, lambda r: (r["model"], r["C"]), ["rate"]):  # the first seed's run, the mean rate
        vae = load(experiment.root / "runs" / row["run"], device=experiment.device, precision=experiment.precision)
        lines += [
            "", f"## {row['model']}, C = {row['C']:g} (test rate {spread_cell(row, 'rate')})",
            "", "Between two prior draws:", "", interpolation_block(vae, None, None, steps, experiment.seed),
            "", f'From "{start}" to "{end}":', "", interpolation_block(vae, start, end, steps, experiment.seed),
        ]
    return "\n".join(lines) + "\n"


def paths_from(experiment: Experiment) -> str:
    seeds = experiment.run_seeds
    if len(seeds) == 1:
        return f"seed {seeds[0]}"
    return (f"paths of the seed {seeds[0]} model; seeds {', '.join(map(str, seeds))} trained, the test rate their "
            "mean +- the half-width of its 95% t-interval")


def run_table2(experiment: Experiment, start: str = DEFAULT_FROM, end: str = DEFAULT_TO, steps: int = 8,
               jobs: int = 1, progress: bool = True) -> list[dict[str, Any]]:
    """Train (or reuse) each (model, C) run and write table2.md with its interpolations."""
    started = time.perf_counter()
    prepare(experiment)
    rows = run_all(plan_runs(experiment, experiment.models, experiment.kl_targets), jobs, experiment.device, progress,
                   experiment.only)
    if experiment.only is not None:  # one cell of a job array: the outputs wait for all of them
        return rows
    text = table2_markdown(experiment, rows, start, end, steps, time.perf_counter() - started)
    write_text(experiment.root / "table2.md", text)
    return rows


@dataclass
class Table2Options(ExperimentOptions):
    start: str = option(DEFAULT_FROM, "First sentence of the sentence path.", flags=("--from",))
    end: str = option(DEFAULT_TO, "Last sentence of the sentence path.", flags=("--to",))
    steps: int = option(8, "Points on each path.", min=2)


register_experiment("table2", ExperimentKind(
    run=lambda experiment, options, jobs, progress: run_table2(experiment, options.start, options.end, options.steps,
                                                               jobs, progress),
    about="Interpolations between two prior draws and between --from and --to, with greedy, top-k 15 and top-p 0.9 "
          "(table2.md).",
    kl_targets=TABLE2_C, report="table2.md", options=Table2Options))
