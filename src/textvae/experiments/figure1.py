"""Figure 1: how D, R, LogDetCov, ||mu||^2 and AU move as C grows, for each model.

`run_figure1` trains and evaluates every (model, C) run, then writes results.json / .csv,
figure1.png and report.md, which sets the observed trends next to the paper's (docs/method.md, "What the paper reports").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from textvae.experiments.plots import PlotsUnavailable, plot_figure1
from textvae.experiments.results import METRIC_COLUMNS, cell, markdown_table, spread_cell, time_text, write_results
from textvae.experiments.settings import MODELS, Experiment, ExperimentKind, register_experiment
from textvae.experiments.stats import differs, every_run, seed_means, seeds_text
from textvae.experiments.sweep import plan_runs, prepare, rows_of, run_all
from textvae.serialization import write_text
from textvae.training import read_metrics

log = logging.getLogger(__name__)

FIGURE1_C = (3.0, 5.0, 10.0, 15.0, 30.0, 60.0, 100.0)
RATE_TOLERANCE = 0.10  # |R - C| / C allowed for C >= RATE_CHECKED_FROM
RATE_CHECKED_FROM = 5.0
# nats: a rise of D smaller than this between neighbouring C counts as noise. Measured: across
# three seeds of LSTM-LSTM on Yelp at the cpu-small preset, D at one C had a standard deviation
# of 0.4 to 0.7 nats, so two single-seed runs differ by about 0.8 nats (one sd) by chance alone.
DISTORTION_NOISE = 1.0


@dataclass
class Trend:
    model: str
    quantity: str
    paper: str
    observed: str
    agrees: bool | None  # None: the paper states no trend
    why: str = ""


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Rank correlation (no ties expected among measured values)."""
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    return float(np.corrcoef(rx, ry)[0, 1]) if len(x) > 1 else float("nan")


def _train_rate_at_end(row: dict[str, Any], runs_dir: Any) -> float | None:
    train_records = [r for r in read_metrics(runs_dir / row["run"]) if r["split"] == "train"]
    return train_records[-1]["rate"] if train_records else None


def misses_c(row: dict[str, Any]) -> bool:
    """Whether a cell's rate misses its C: by more than RATE_TOLERANCE of C, and, where there are
    seeds, with C outside the 95% interval of the rate as well."""
    measured = row.get("spread", {}).get("rate")
    if abs(row["rate"] - row["C"]) / row["C"] <= RATE_TOLERANCE:
        return False
    return measured is None or measured.half_width is None or not measured.low <= row["C"] <= measured.high


def rate_trend(model: str, rows: Sequence[dict[str, Any]], runs_dir: Any = None) -> Trend:
    checked = [r for r in rows if r["C"] >= RATE_CHECKED_FROM]
    gaps = [(abs(r["rate"] - r["C"]) / r["C"], r) for r in checked]
    worst_gap, worst = max(gaps, key=lambda g: g[0]) if gaps else (0.0, None)
    observed = ", ".join(f"{spread_cell(r, 'rate', 1)} at C={r['C']:g}" for r in rows)
    agrees = not any(misses_c(r) for r in checked)
    why = ""
    if not agrees and worst is not None:
        train_rate = _train_rate_at_end(worst, runs_dir) if runs_dir is not None else None
        if train_rate is not None and abs(train_rate - worst["C"]) / worst["C"] <= RATE_TOLERANCE:
            why = (f"at C={worst['C']:g} the training rate reached {train_rate:.1f} but the test rate is "
                   f"{worst['rate']:.1f}: the encoder's rate does not carry over to unseen sentences")
        else:
            why = (f"at C={worst['C']:g} training ended before the rate reached C (last training rate "
                   f"{train_rate if train_rate is not None else float('nan'):.1f}): train longer")
    return Trend(model, "R against C", "R follows C (no collapse at any C > 0)",
                 f"{observed}; largest gap for C >= {RATE_CHECKED_FROM:g}: {100 * worst_gap:.1f}%", agrees, why)


def rises_beyond_noise(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether D rises from row a to row b by more than noise: judged by the seeds' spread (Welch's
    t-test, 5%) where both have several seeds, else by the DISTORTION_NOISE allowance."""
    rise = b["distortion"] - a["distortion"]
    if rise <= 0:
        return False
    spreads = a.get("spread", {}).get("distortion"), b.get("spread", {}).get("distortion")
    judged = differs(*spreads) if None not in spreads else None
    return rise > DISTORTION_NOISE if judged is None else judged


def distortion_trend(model: str, rows: Sequence[dict[str, Any]]) -> Trend:
    steps = list(zip(rows, rows[1:]))
    rises = [(a, b) for a, b in steps if rises_beyond_noise(a, b)]
    small_rises = [(a, b) for a, b in steps if b["distortion"] > a["distortion"] and not rises_beyond_noise(a, b)]
    by_seeds = all(r.get("spread", {}).get("distortion") is not None and r["spread"]["distortion"].n > 1
                   for r in rows)
    noise = ("the spread between seeds (Welch's t-test, 5%)" if by_seeds
             else f"the {DISTORTION_NOISE:g}-nat allowance for seed-to-seed noise (one seed)")
    observed = " -> ".join(spread_cell(r, "distortion", 1) for r in rows)
    if small_rises:
        observed += "; " + ", ".join(f"+{b['distortion'] - a['distortion']:.2f} from C={a['C']:g} to C={b['C']:g}"
                                     for a, b in small_rises) + f" is within {noise}"
    why = ""
    if rises:
        why = "; ".join(f"D rises by {b['distortion'] - a['distortion']:.2f} nats from C={a['C']:g} to C={b['C']:g}"
                        for a, b in rises)
        why += f" (beyond {noise}). "
        high = rises[-1][1]
        if high.get("mu_norm_sq") is not None:
            # a shift m shared by every posterior mean costs ||m||^2 / 2 nats of KL and tells nothing about x
            why += (f"At C={high['C']:g}, about {high['mu_norm_sq'] / 2:.0f} of the {high['rate']:.0f} nats of rate sit "
                    "in a shift shared by all posterior means (||mu||^2 / 2), which carries nothing about the sentence "
                    "and which the decoder has to learn to discount: within this training budget the rate rose faster "
                    "than the decoder learned to use it")
        else:
            why += "The decoder has not learned to use the extra rate within this training budget"
    return Trend(model, "D against C", "D falls as C rises (better reconstruction)", observed, not rises, why)


def monotone_trend(model: str, rows: Sequence[dict[str, Any]], key: str, label: str, paper: str,
                   sign: int) -> Trend:
    values = [r[key] for r in rows]
    usable = [(r["C"], v) for r, v in zip(rows, values) if v is not None]
    if len(usable) < 2:
        return Trend(model, label, paper, " -> ".join(cell(v) for v in values), None,
                     "not measurable here (LogDetCov needs more test sentences than latent dimensions)")
    rho = spearman([c for c, _ in usable], [v for _, v in usable])
    observed = " -> ".join(cell(v) for v in values) + f" (Spearman rho with C {rho:+.2f})"
    agrees = rho * sign > 0.5
    why = ""
    if not agrees:
        start = _start_of_monotone_tail([v for _, v in usable], sign)
        why = f"the rank correlation with C is {rho:+.2f}, not clearly {'positive' if sign > 0 else 'negative'}"
        if 0 < start < len(usable) - 1:
            head, tail = usable[: start + 1], usable[start:]
            why += (f": it moves the paper's way only from C={tail[0][0]:g} on ({' -> '.join(cell(v) for _, v in tail)}), "
                    f"not below ({' -> '.join(cell(v) for _, v in head)})")
    return Trend(model, label, paper, observed, agrees, why)


def _start_of_monotone_tail(values: Sequence[float], sign: int) -> int:
    """The first index from which `values` move only in the direction `sign` (+1 up, -1 down)."""
    start = len(values) - 1
    while start > 0 and (values[start] - values[start - 1]) * sign > 0:
        start -= 1
    return start


def figure1_trends(rows: Sequence[dict[str, Any]], runs_dir: Any = None) -> list[Trend]:
    """The paper's qualitative claims, checked for each model on the measured rows."""
    trends = []
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = rows_of(rows, model)
        au = " -> ".join(cell(r["au"], 1) for r in mine)
        trends += [
            rate_trend(model, mine, runs_dir),
            distortion_trend(model, mine),
            monotone_trend(model, mine, "mu_norm_sq", "||mu||^2 against C",
                           "||mu||^2 rises with C (the aggregate posterior drifts from the prior)", +1),
            monotone_trend(model, mine, "log_det_cov", "LogDetCov against C",
                           "LogDetCov falls with C (the aggregate posterior shrinks)", -1),
            Trend(model, "AU against C", "not stated", au, None),
        ]
    return trends


def figure1_report(experiment: Experiment, rows: Sequence[dict[str, Any]], wall_seconds: float) -> str:
    trends = figure1_trends(rows, experiment.root / "runs")
    verdict = {True: "agrees", False: "**differs**", None: "-"}
    lines = [
        "# Figure 1: D, R, LogDetCov, ||mu||^2 and AU against C",
        "",
        f"Preset `{experiment.preset}` ({experiment.settings.about}); models {', '.join(experiment.models)}; "
        f"C in {', '.join(f'{c:g}' for c in experiment.kl_targets)}; {seeds_text(experiment.run_seeds)}. "
        f"Measured on the test split `{experiment.test}` ({int(rows[0]['sentences']):,} sentences) with each run's "
        f"best-validation weights. {time_text(experiment.root / 'runs', every_run(rows), wall_seconds)}",
        "",
        "![Figure 1](figure1.png)" if (experiment.root / "figure1.png").exists() else "(no figure1.png: "
        "install the plot extra, pip install 'textvae[plot]', and re-run to draw it)",
        "",
        "## Measurements",
        "",
        markdown_table(
            ["model", "C", "D", "R", "LogDetCov", "||mu||^2", "AU", "MI", "NLL (IW)", "PPL (IW)"],
            [[r["model"], f"{r['C']:g}", *(spread_cell(r, key, digits) for key, digits in MEASURED)] for r in rows],
        ),
        "",
        "## Trends next to the paper's",
        "",
        f"Checks: R within {100 * RATE_TOLERANCE:g}% of C for every C >= {RATE_CHECKED_FROM:g}; D never rises from "
        "one C to the next by more than the seeds' spread (Welch's t-test at 5%; with one seed, more than "
        f"{DISTORTION_NOISE:g} nat, the spread measured between seeds before); ||mu||^2 and "
        "LogDetCov have a Spearman rank correlation with C beyond +-0.5 in the paper's direction.",
        "",
        markdown_table(["model", "quantity", "paper", "observed here", "verdict"],
                       [[t.model, t.quantity, t.paper, t.observed, verdict[t.agrees]] for t in trends]),
    ]
    differing = [t for t in trends if t.agrees is False]
    lines += ["", "## Where this run differs from the paper, and why", ""]
    lines += [f"- {t.model}, {t.quantity}: {t.why}." for t in differing] or ["- Nowhere: every checked trend agrees."]
    if any("probes" in r for r in rows):
        lines += ["", *probe_section(experiment, rows)]
    return "\n".join(lines) + "\n"


MEASURED = (("distortion", 2), ("rate", 2), ("log_det_cov", 2), ("mu_norm_sq", 3), ("au", 1), ("mi", 2),
            ("nll_iw", 2), ("ppl_iw", 2))  # the report's columns after model and C, with their digits


def cell_means(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (model, C): the mean over its seeds, with each measurement's spread."""
    return seed_means(rows, lambda r: (r["model"], r["C"]), METRIC_COLUMNS)


TAKEN_UP = 0.10  # a factor is taken up once the probe finds 10% of its entropy in z (for length: R^2 0.10)


def first_informative_c(rows: Sequence[dict[str, Any]], factor: str) -> float | None:
    """The smallest C at which the code holds a share TAKEN_UP of the factor: the probe's information
    (H - CE, the whole 95% interval) at least that share of the factor's entropy; for length, R^2."""
    for row in sorted(rows, key=lambda r: r["C"]):
        result = row.get("probes", {}).get(factor)
        if result is None:
            continue
        if result.get("r2"):
            if result["r2"]["low"] >= TAKEN_UP:
                return row["C"]
        elif result["entropy"] and result["information"]["low"] >= TAKEN_UP * result["entropy"]:
            return row["C"]
    return None


def probe_section(experiment: Experiment, rows: Sequence[dict[str, Any]]) -> list[str]:
    """Probe accuracy by factor and C, and the order in which z takes the factors up."""
    from textvae.experiments.plots import probe_value

    factors = list(dict.fromkeys(f for r in rows for f in r.get("probes", {})))
    targets = sorted({r["C"] for r in rows})
    lines = ["## What z encodes: linear probes of the test split", "",
             f"Labels `{experiment.probe_labels}`. A logistic-regression probe from the posterior mean to each factor "
             "(5 stratified folds of the test split's first 10,000 sentences): held-out accuracy, against the "
             "majority-class baseline; for length, a linear regression's R^2. A factor counts as taken up from the "
             f"first C at which the probe finds at least {100 * TAKEN_UP:.0f}% of its entropy in z (H(factor) - "
             f"cross-entropy, over the whole 95% interval; for length, R^2 >= {TAKEN_UP:g}).", ""]
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = rows_of(rows, model)
        table = []
        for factor in factors:
            probed = [r for r in mine if factor in r.get("probes", {})]
            baseline = ("-" if factor == "length" else
                        cell(float(np.mean([r["probes"][factor]["majority"]["mean"] for r in probed])), 3))
            by_c = {r["C"]: probe_value(r, factor) for r in probed}
            table.append([factor, baseline, *(cell(by_c.get(c), 3) for c in targets)])
        lines += [f"### {model}", "", markdown_table(["factor", "majority", *(f"C={c:g}" for c in targets)], table), ""]
        firsts = sorted(((first_informative_c(mine, f), f) for f in factors), key=lambda x: (x[0] is None, x[0] or 0))
        taken = [f"{f} (from C = {c:g})" for c, f in firsts if c is not None]
        never = [f for c, f in firsts if c is None]
        lines.append(f"Order in which {model}'s code takes the factors up as C grows: "
                     + (", ".join(taken) if taken else "none at any C")
                     + (f"; not taken up at any C: {', '.join(never)}" if never and taken else "") + ".")
        lines.append("")
    return lines


def run_figure1(experiment: Experiment, jobs: int = 1, progress: bool = True) -> list[dict[str, Any]]:
    """Train and evaluate every (model, C) run, then write the figure's results, plot and report."""
    started = time.perf_counter()
    prepare(experiment)
    rows = run_all(plan_runs(experiment, experiment.models, experiment.kl_targets), jobs, experiment.device, progress,
                   experiment.only)
    if experiment.only is not None:  # one cell of a job array: the outputs wait for all of them
        return rows
    wall = time.perf_counter() - started
    write_results(experiment, rows, wall)
    means = cell_means(rows)
    try:
        plot_figure1(means, experiment.root / "figure1.png", latent_dim=experiment.settings.model["latent_dim"])
    except PlotsUnavailable as err:
        log.warning("no figure1.png: %s", err)
    write_text(experiment.root / "report.md", figure1_report(experiment, means, wall))
    return rows


register_experiment("figure1", ExperimentKind(
    run=lambda experiment, options, jobs, progress: run_figure1(experiment, jobs, progress),
    about="D, R, LogDetCov, ||mu||^2 and AU against C for each model (results.json/.csv, figure1.png, report.md), "
          "with probes of what z encodes where the test split has labels.",
    kl_targets=FIGURE1_C, report="report.md", models=MODELS))
