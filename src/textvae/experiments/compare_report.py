"""What `textvae experiment compare` writes: compare.csv (a line per run, every seed), compare.md (a
row per variant: the mean over seeds with its 95% interval, the language model's floor, and the
table in words next to He et al. 2019's Table 1), and the aggressive runs' MI over training.

Verdicts are judged against the seeds' spread: a variant has collapsed when the whole 95% interval
of its rate lies under COLLAPSED_BELOW, keeps a rate when the whole interval lies above it, and is
undecided otherwise; with one seed, its rate alone decides.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from textvae.evaluation import perplexity
from textvae.experiments.results import cell, markdown_table, spread_cell, time_text
from textvae.experiments.stats import Spread, differs, every_run, seeds_text
from textvae.serialization import read_json
from textvae.training import CONFIG_FILE, read_metrics

COLLAPSED_BELOW = 1.0  # nats of rate: a run under this has (all but) collapsed
COLUMNS = ("rate", "mi", "au", "distortion", "nll_iw", "ppl_iw", "bleu4", "mu_norm_sq")
SEED_MEANS = (*COLUMNS, "elbo")  # averaged over seeds; the ELBO for whether the objective prefers collapse


def lm_name(floor: dict[str, Any]) -> str:
    """'LSTM', 'Transformer': the floor language model's kind, for tables and plots."""
    return {"lstm": "LSTM", "gru": "GRU", "cnn": "gated CNN"}.get(floor["kind"], floor["kind"].capitalize())


def compare_csv(runs: Sequence[dict[str, Any]]) -> str:
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["variant", "C", "seed", *COLUMNS])
    for row in runs:
        writer.writerow([row["variant"], "" if row["C"] is None else f"{row['C']:g}", row.get("seed"),
                         *(row.get(k) for k in COLUMNS)])
    return table.getvalue()


def collapse_verdict(row: dict[str, Any]) -> bool | None:
    """True: collapsed; False: keeps a rate; None: the seeds' interval spans COLLAPSED_BELOW."""
    rate = row.get("spread", {}).get("rate")
    if rate is None or rate.half_width is None:
        return row["rate"] < COLLAPSED_BELOW
    if rate.high < COLLAPSED_BELOW:
        return True
    return False if rate.low >= COLLAPSED_BELOW else None


def compare_markdown(experiment: Any, rows: Sequence[dict[str, Any]], floor: dict[str, Any], iw_samples: int,
                     wall_seconds: float, figures: dict[str, Path | None]) -> str:
    header = ["variant", "R", "MI", "AU", "D", f"NLL (IW, K={iw_samples})", "PPL (IW)", "BLEU-4", "||mu||^2"]
    body = [[row["variant"], *(spread_cell(row, k, 3 if k == "mu_norm_sq" else 2) for k in COLUMNS)] for row in rows]
    body.append([f"{lm_name(floor)} language model (no z)", "-", "-", "-", "-", cell(floor["nll"]),
                 cell(perplexity(floor["cross_entropy"])), "-", "-"])
    aggressive = [row for row in rows if row["variant"] == "aggressive"]
    lines = [
        "# Remedies for posterior collapse, compared",
        "",
        f"Preset `{experiment.preset}` ({experiment.settings.about}); {experiment.models[0]}; {seeds_text(rows[0].get('seeds') or [rows[0].get('seed')], 'row')}; "
        f"trained on `{experiment.train}`, best-validation weights, every number on the test split `{experiment.test}` "
        f"(nats per sentence). NLL by importance sampling with K = {iw_samples}; BLEU-4 of greedy reconstructions from "
        "the posterior mean (all lengths); MI by He et al.'s estimator over the whole test split. "
        + time_text(experiment.root / "runs", every_run(rows), wall_seconds),
        "",
        markdown_table(header, body),
        "",
        *([f"![NLL and MI against the rate]({figures['compare'].name})", ""] if figures.get("compare") else []),
        "What each run is:",
        "",
        *(f"- `{row['variant']}`: {row['about']}" for row in rows),
        "",
        "## Reading",
        "",
        *reading(rows, floor),
        "",
    ]
    if aggressive:
        lines += aggressive_section(rows, aggressive[0], figures.get("aggressive"))
    lines += ["## Greedy samples from the prior (first seed)", "",
              *(f"- `{row['variant']}`: " + " / ".join(row["samples"]) for row in rows), ""]
    return "\n".join(lines)


def aggressive_section(rows: Sequence[dict[str, Any]], row: dict[str, Any], picture: Path | None) -> list[str]:
    """The aggressive runs' MI over training: the figure, a line per seed, and whether the phase's
    checks could tell a rising MI from the estimator's noise."""
    runs_dir = Path(row["run_dir"]).parent
    trajectories = [aggressive_trajectory(runs_dir / run) for run in row.get("runs", [row["run"]])]
    noise = phase_noise_line(trajectories, mi_noise(rows))
    return ["## Aggressive training over its runs", "",
            *((f"![validation MI of the aggressive runs]({picture.name})", "") if picture else ()),
            *aggressive_lines(row, trajectories), "", *((noise, "") if noise else ())]


def aggressive_trajectory(run_dir: Path) -> dict[str, Any]:
    """An aggressive run's validation MI at each evaluation, whether the steps before it were
    aggressive, which evaluations were the phase's checks (each epoch's end, or each
    aggressive_check_every steps; every evaluation for runs saved before that setting), where and how
    the phase ended (its metrics say), and the mean number of encoder updates a step while it lasted."""
    training = read_json(run_dir / CONFIG_FILE)["training"]
    every = training.get("aggressive_check_every", training.get("eval_every"))
    records = read_metrics(run_dir)
    valid = [r for r in records if r["split"] == "valid"]
    ended = next((r for r in valid if r.get("aggressive_ended_at") is not None), None)
    updates = [r["encoder_updates"] for r in records if r["split"] == "train" and r.get("encoder_updates")]
    return {"steps": [r["step"] for r in valid], "mi": [r["mi"] for r in valid],
            "aggressive": [bool(r.get("aggressive")) for r in valid],
            "checks": [bool(r.get("aggressive")) and (r["step"] % every == 0 if every
                                                      else float(r.get("epoch", 0.5)).is_integer()) for r in valid],
            "ended_at": None if ended is None else ended["aggressive_ended_at"],
            "ended_by": None if ended is None else ended["aggressive_ended_by"],
            "cap": training.get("aggressive_until"), "max_updates": training.get("aggressive_max_updates"),
            "mean_updates": sum(updates) / len(updates) if updates else None}


def mi_noise(rows: Sequence[dict[str, Any]]) -> Spread | None:
    """The MI estimator's scatter on runs known to carry no information: the test MI of the collapsed
    elbo row over its seeds (None without one)."""
    elbo = next((r for r in rows if r["variant"] == "elbo" and collapse_verdict(r)), None)
    return None if elbo is None else elbo.get("spread", {}).get("mi")


def noise_band(noise: Spread | None) -> float | None:
    """|mean| + 2 sd of `noise`: about 95% of single MI estimates on collapsed runs lie within it of 0
    (None with one seed)."""
    return None if noise is None or noise.sd is None else abs(noise.mean) + 2 * noise.sd


def aggressive_lines(row: dict[str, Any], trajectories: Sequence[dict[str, Any]] | None = None) -> list[str]:
    """For each seed: the MI at each check of the phase, where and why it ended, the inner loop's
    mean length, and whether a compute cap ended it (then said in bold). `trajectories`, one a seed
    in the row's order, where the caller has read them already."""
    runs = row.get("runs", [row["run"]])
    if trajectories is None:
        trajectories = [aggressive_trajectory(Path(row["run_dir"]).parent / run) for run in runs]
    lines = []
    for seed, run, t in zip(row.get("seeds", [row.get("seed")]), runs, trajectories):
        checked = ", ".join(f"{mi:.3f} (step {step})" for step, mi, c in zip(t["steps"], t["mi"], t["checks"]) if c)
        during = [mi for mi, on in zip(t["mi"], t["aggressive"]) if on]
        measured = (f"validation MI at the phase's checks {checked or 'none'}, at its evaluations between "
                    f"{min(during):.3f} and {max(during):.3f}" if during else "no validation MI measured in the phase")
        end = ("was still on at the end of training" if t["ended_at"] is None else
               f"ended at step {t['ended_at']}, " + (
                   f"**by the compute cap --aggressive-until {t['cap']}, not by the MI**" if t["ended_by"] == "cap"
                   else "when the validation MI fell"))
        updates = "-" if t["mean_updates"] is None else f"{t['mean_updates']:.1f}"
        lines.append(f"- seed {seed} (`{run}`): {measured}; the phase {end}; {updates} encoder updates a step on "
                     f"average (at most {t['max_updates']}).")
    return lines


def phase_noise_line(trajectories: Sequence[dict[str, Any]], noise: Spread | None) -> str | None:
    """Whether every validation MI of the aggressive phases lies within the scatter of the MI estimator
    on runs known to have collapsed (`noise`: the elbo variant's test MI over its seeds; mean +- 2 sd
    holds about 95% of single estimates). Then each check's 'did the MI rise?' compared noise with
    noise, and the phase's length (its cost) was chance."""
    band = noise_band(noise)
    if band is None:
        return None
    during = [mi for t in trajectories for mi, on in zip(t["mi"], t["aggressive"]) if on]
    if not during or max(abs(mi) for mi in during) > band:
        return None
    updates = [t["mean_updates"] for t in trajectories if t.get("mean_updates")]
    cost = f" (about {sum(updates) / len(updates):.0f} encoder updates a step)" if updates else ""
    return (f"The validation MI stayed within +-{band:.3f} nats of 0 throughout the phase (largest "
            f"{max(during, key=abs):.3f}), the scatter of the MI estimator on the collapsed elbo runs (test MI "
            f"{noise.mean:.2f}, sd {noise.sd:.2f} over {noise.n} seeds): whether a check found the MI rising, and so "
            f"whether the phase{cost} went on, was decided by the estimator's noise, not by information entering z.")


def negative_elbo(row: dict[str, Any]) -> Spread:
    """A row's test -ELBO (D + R) over its seeds, from each run's own ELBO: between seeds D and R
    trade against each other (more rate, less distortion), so their sum varies far less than the two
    apart would suggest."""
    measured = row.get("spread", {}).get("elbo")
    if measured is None:
        return Spread(row["distortion"] + row["rate"], None, 1, None)
    return Spread(-measured.mean, measured.sd, measured.n, measured.half_width)


SPREAD_SAID = {True: ", beyond the seeds' spread", None: " (one seed: no spread to judge by)"}


def elbo_preference(rows: Sequence[dict[str, Any]], verdicts: dict[str, bool | None]) -> str | None:
    """Whether the objective itself prefers collapse on this data: the lowest -ELBO among the
    collapsed rows against the lowest among the rows that keep a rate (Welch's t-test on the runs'
    -ELBOs). Where a collapsed row's is lower beyond the seeds' spread, a procedure that optimises
    the ELBO better (aggressive training) has no reason to keep a rate; where it is higher, the
    collapsed rows sit in the worse optimum that He et al. blame on a lagging encoder."""
    collapsed = [r for r in rows if verdicts[r["variant"]]]
    keeping = [r for r in rows if verdicts[r["variant"]] is False]
    if not collapsed or not keeping:
        return None
    best_collapsed = min(collapsed, key=lambda r: negative_elbo(r).mean)
    best_keeping = min(keeping, key=lambda r: negative_elbo(r).mean)
    low, high = negative_elbo(best_collapsed), negative_elbo(best_keeping)
    gap = high.mean - low.mean
    beyond = differs(low, high)
    text = (f"- **Does the ELBO itself prefer collapse here?** The lowest test -ELBO (D + R) of a collapsed run is "
            f"{low.text()} ({best_collapsed['variant']}), of a run that keeps a rate {high.text()} "
            f"({best_keeping['variant']}): ")
    if beyond is False:
        return text + "the two lie within the seeds' spread, so the data do not say which optimum the ELBO prefers."
    if gap > 0:
        return text + (f"{gap:.2f} nats in favour of collapse{SPREAD_SAID[beyond]}. "
                       "On this data and model the information in z costs the ELBO more than it saves, so a procedure "
                       "that optimises the ELBO better, as aggressive training does, is not expected to keep a rate; "
                       "only an objective that asks for one (free bits, beta-C) does. In He et al.'s whole Yelp "
                       "reviews z pays for itself: their aggressive VAE's NLL (357.0) is below their language "
                       "model's (357.3).")
    return text + (f"{-gap:.2f} nats in favour of the rate{SPREAD_SAID[beyond]}: "
                   "the collapsed runs stopped in the worse optimum, the one He et al. trace to an encoder that lags "
                   "behind the decoder.")


def reading(rows: Sequence[dict[str, Any]], floor: dict[str, Any]) -> list[str]:
    """The table in words, next to He et al. 2019's Table 1 on Yelp."""
    by = {row["variant"]: row for row in rows}
    verdicts = {row["variant"]: collapse_verdict(row) for row in rows}
    several = any(len(row.get("seeds", [])) > 1 for row in rows)
    judged = "The whole 95% interval of R" if several else "R"
    lines = [f"- **Collapse.** {judged} under {COLLAPSED_BELOW:g} nat: "
             f"{', '.join(v for v, c in verdicts.items() if c) or 'none'}; above it (a rate the code keeps): "
             f"{', '.join(v for v, c in verdicts.items() if c is False) or 'none'}"
             + (f"; undecided (the interval spans {COLLAPSED_BELOW:g} nat): "
                f"{', '.join(v for v, c in verdicts.items() if c is None)}" if None in verdicts.values() else "")
             + "."]
    he = []
    for name, paper in (("elbo", "the VAE collapses (KL 0.0)"),
                        ("anneal", "the VAE with annealing collapses too (KL 0.0)")):
        if name in by:
            r = by[name]
            he.append(f"{paper}; here {name} ends at R = {spread_cell(r, 'rate')}, MI = {spread_cell(r, 'mi')}: "
                      + {True: "the same", False: "it does not collapse here", None: "undecided"}[verdicts[name]])
    if "aggressive" in by:
        r = by["aggressive"]
        he.append(f"aggressive training keeps KL 3.7-3.8 and MI 2.3-2.6; here R = {spread_cell(r, 'rate')}, "
                  f"MI = {spread_cell(r, 'mi')}, AU = {spread_cell(r, 'au')}"
                  + {True: ": it collapses here (see 'Aggressive training over its runs')",
                     False: ": it keeps a rate here too", None: ": undecided between seeds"}[verdicts["aggressive"]])
    if he:
        lines.append("- **Against He et al. 2019, Table 1 (Yelp).** In their table " + "; ".join(he) + ".")
    preference = elbo_preference(rows, verdicts)
    if preference:
        lines.append(preference)
    with_nll = [r for r in rows if r.get("nll_iw") is not None]
    if with_nll:
        order = sorted(with_nll, key=lambda r: r["nll_iw"])
        gaps = ", ".join(f"{r['variant']} {r['nll_iw'] - floor['nll']:+.2f}"
                         + (f" (+- {r['spread']['nll_iw'].half_width:.2f})"
                            if r.get("spread", {}).get("nll_iw") and r["spread"]["nll_iw"].half_width else "")
                         for r in order)
        lines.append(f"- **NLL against the language model's floor** ({floor['nll']:.2f} nats a sentence, one run), "
                     f"best first: {gaps}. In He et al. the VAEs' NLLs lie close to their LSTM language model's, the "
                     "best slightly below it; a run far above it paid for its rate with a decoder that has not "
                     "caught up.")
    targets = [r for r in rows if r["C"] is not None]
    if targets:
        gaps = [(abs(r["rate"] - r["C"]) / r["C"], r) for r in targets if r["C"] > 0]
        worst = max(gaps, key=lambda g: g[0]) if gaps else None
        cap = math.log(targets[0]["sentences"])
        lines.append("- **beta-C.** " + ", ".join(f"C = {r['C']:g}: R = {spread_cell(r, 'rate')}, MI = "
                                                   f"{spread_cell(r, 'mi')}" for r in targets)
                     + (f"; the largest |R - C| is {100 * worst[0]:.1f}% of C" if worst else "")
                     + f". The MI estimate cannot exceed log N = {cap:.2f} for {targets[0]['sentences']:,} test "
                       "sentences, so near that value it says the codes tell every sentence apart, not how many "
                       "nats they hold.")
    lines.append("- **Why numbers differ from He et al.** They model whole Yelp reviews (an NLL in the hundreds of "
                 "nats a review) with larger LSTMs (1024 units, dropout 0.5 on the decoder's inputs and outputs, which "
                 "weakens the decoder without z) trained with SGD for up to 100 epochs on a GPU; here "
                 "each sentence has at most 15 words, the model is small and a run is a few thousand steps on a CPU. "
                 "Absolute NLLs are not comparable; the ordering and the collapse pattern are what carry over.")
    return lines
