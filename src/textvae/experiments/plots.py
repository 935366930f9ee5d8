"""Plots of sweep results (the `plot` extra: matplotlib)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from textvae.experiments.sweep import rows_of
from textvae.plotting import PlotsUnavailable, pyplot, save_figure

__all__ = ["PlotsUnavailable", "plot_aggressive", "plot_compare", "plot_figure1", "plot_table3"]

FIGURE1_PANELS = (  # (result key, axis label)
    ("distortion", "D: distortion (nats)"),
    ("rate", "R: rate (nats)"),
    ("log_det_cov", "LogDetCov of q(z)"),
    ("mu_norm_sq", "||mu||^2 of q(z) (log scale)"),
    ("au", "AU: active units"),
)


def probe_value(row: dict[str, Any], factor: str) -> float | None:
    """A run's probe score of a factor: held-out accuracy, or R^2 for length."""
    result = row.get("probes", {}).get(factor)
    if result is None:
        return None
    return (result["r2"] if result.get("r2") else result["accuracy"])["mean"]


def plot_figure1(rows: Sequence[dict[str, Any]], path: Path, latent_dim: int | None = None) -> Path:
    """Five panels against C (log scale), one line per model; R's panel has the R = C diagonal. Where
    the runs were probed, a panel per factor: the probe's accuracy (R^2 for length), with the
    majority baseline dashed."""
    plt = pyplot()
    models = list(dict.fromkeys(r["model"] for r in rows))
    targets = sorted({r["C"] for r in rows})
    factors = list(dict.fromkeys(f for r in rows for f in r.get("probes", {})))
    panels = [*FIGURE1_PANELS, *((f"probe:{f}", f"{f}: probe {'R^2' if f == 'length' else 'accuracy'}")
                                for f in factors)]
    columns = 3
    rows_of_panels = -(-(len(panels) + 1) // columns)
    fig, axes = plt.subplots(rows_of_panels, columns, figsize=(13, 3.75 * rows_of_panels), constrained_layout=True)
    for ax, (key, label) in zip(axes.flat, panels):
        value = (lambda r, f=key[6:]: probe_value(r, f)) if key.startswith("probe:") else (lambda r, k=key: r.get(k))
        for model in models:
            mine = [r for r in rows_of(rows, model) if value(r) is not None]
            spreads = [r.get("spread", {}).get(key) for r in mine]
            if any(s is not None and s.half_width is not None for s in spreads):  # seeds: 95% intervals
                errors = [0.0 if s is None or s.half_width is None else s.half_width for s in spreads]
                ax.errorbar([r["C"] for r in mine], [value(r) for r in mine], yerr=errors, marker="o", capsize=3,
                            label=model)
            else:
                ax.plot([r["C"] for r in mine], [value(r) for r in mine], marker="o", label=model)
        if key.startswith("probe:"):
            ax.set_ylim(0.0, 1.02)  # accuracy and R^2 on one scale, so noise does not look like a trend
        if key.startswith("probe:") and key != "probe:length":
            baseline = [r["probes"][key[6:]]["majority"]["mean"] for r in rows if key[6:] in r.get("probes", {})]
            ax.axhline(sum(baseline) / len(baseline), color="grey", linestyle=":", label="majority class")
        if key == "rate":
            ax.plot(targets, targets, linestyle="--", color="grey", label="R = C")
        if key == "mu_norm_sq":
            ax.set_yscale("log")  # it spans orders of magnitude across C
        if key == "au" and latent_dim is not None:
            ax.set_ylim(-0.5, latent_dim + 0.5)
        ax.set_xscale("log")
        ax.set_xticks(targets, [f"{c:g}" for c in targets])
        ax.minorticks_off()
        ax.set_xlabel("C: target rate (nats)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    legend_ax = axes.flat[-1]
    handles, labels = axes.flat[1].get_legend_handles_labels()
    legend_ax.legend(handles, labels, loc="center", fontsize=12, frameon=False)
    seeds = max((len(r.get("seeds", [None])) for r in rows), default=1)
    fig.suptitle("Test-split measurements against the target rate C" +
                 (f" (mean of {seeds} seeds, bars: 95% interval)" if seeds > 1 else ""))
    save_figure(plt, fig, path)
    return path


def plot_table3(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Forward cross-entropy per decoding scheme, a line per C with the spread over copies as error
    bars, and the real-data reference as a band."""
    plt = pyplot()
    schemes = list(dict.fromkeys(r["scheme"] for r in rows if r["C"] is not None))
    fig, ax = plt.subplots(figsize=(9, 5), constrained_layout=True)
    for c in dict.fromkeys(r["C"] for r in rows if r["C"] is not None):
        mine = {r["scheme"]: r for r in rows if r["C"] == c}
        xs = [i for i, s in enumerate(schemes) if s in mine]
        ax.errorbar(xs, [mine[schemes[i]]["cross_entropy"] for i in xs],
                    yerr=[mine[schemes[i]]["cross_entropy_std"] for i in xs], marker="o", capsize=3, label=f"C = {c:g}")
    for r in rows:
        if r["C"] is None:
            ax.axhline(r["cross_entropy"], color="grey", linestyle="--", label=r["scheme"])
            ax.axhspan(r["cross_entropy"] - r["cross_entropy_std"], r["cross_entropy"] + r["cross_entropy_std"],
                       color="grey", alpha=0.15)
    ax.set_xticks(range(len(schemes)), schemes, rotation=20)
    ax.set_xlabel("decoding scheme of the artificial training corpus")
    ax.set_ylabel("LM cross-entropy on the real test set (nats/token)")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("Forward cross-entropy (lower: samples cover the real data better)")
    save_figure(plt, fig, path)
    return path


def half_width(row: dict[str, Any], key: str) -> float:
    """The 95% interval's half-width of a row's measurement over seeds; 0 with one seed."""
    measured = row.get("spread", {}).get(key)
    return 0.0 if measured is None or measured.half_width is None else measured.half_width


def pad_limits(ax: Any, axis: str, values: Sequence[float], fraction: float = 0.1, low: float | None = None) -> None:
    """Limits of `axis` ("x" or "y") that hold every value with `fraction` of the span to spare, measured
    in the axis's own scale (symmetric log here), so that points and their labels at the extremes are
    not cut off by the frame; `low` fixes the lower limit."""
    transform = (ax.xaxis if axis == "x" else ax.yaxis).get_transform()
    start, end = transform.transform([min(values), max(values)])
    spare = fraction * ((end - start) or 1.0)
    lower, upper = transform.inverted().transform([start - spare, end + spare])
    (ax.set_xlim if axis == "x" else ax.set_ylim)(lower if low is None else low, upper)


def plot_compare(rows: Sequence[dict[str, Any]], language_model: dict[str, Any], path: Path) -> Path:
    """Against the rate, one labelled point per variant (the mean over seeds, with the 95% intervals
    of both coordinates where there are several): the test NLL above the language model's (the
    floor), and the MI with its two ceilings, MI = R and log N."""
    import math

    plt = pyplot()
    fig, (nll_ax, mi_ax) = plt.subplots(1, 2, figsize=(13, 5.5), constrained_layout=True)
    spans: dict[Any, list[float]] = {nll_ax: [0.0], mi_ax: [0.0]}
    for i, row in enumerate(rows):
        colour = "tab:blue" if row["C"] is None else "tab:orange"
        offset = (5, 10 * (i % 4) - 12)  # staggered, so that runs at the same rate stay legible
        for ax, value, key in (
                (nll_ax, None if row.get("nll_iw") is None else row["nll_iw"] - language_model["nll"], "nll_iw"),
                (mi_ax, row.get("mi"), "mi")):
            if value is None:
                continue
            ax.errorbar(row["rate"], value, xerr=half_width(row, "rate"), yerr=half_width(row, key), fmt="o",
                        color=colour, capsize=3)
            spans[ax] += [value - half_width(row, key), value + half_width(row, key)]
            ax.annotate(row["variant"], (row["rate"], value), textcoords="offset points", xytext=offset, fontsize=8)
    nll_ax.axhline(0.0, color="grey", linestyle="--",
                   label=f"{language_model.get('label', 'LSTM')} language model ({language_model['nll']:.2f})")
    nll_ax.set_yscale("symlog", linthresh=1.0)
    nll_ax.set_ylabel("test NLL minus the language model's (nats / sentence, symmetric log)")
    top = max([r["rate"] for r in rows] + [1.0])
    mi_ax.plot([0, top], [0, top], color="grey", linestyle="--", label="MI = R")
    sentences = rows[0].get("sentences")
    if sentences:
        mi_ax.axhline(math.log(sentences), color="grey", linestyle=":", label="log N: the estimate's ceiling")
    mi_ax.set_yscale("symlog", linthresh=1.0)
    mi_ax.set_ylabel("I(x; z) on the test split (nats, symmetric log)")
    rates = [r["rate"] + sign * half_width(r, "rate") for r in rows for sign in (-1, 1)]
    for ax in (nll_ax, mi_ax):
        ax.set_xscale("symlog", linthresh=1.0)
        pad_limits(ax, "x", rates, low=-0.1)
        pad_limits(ax, "y", spans[ax] + ([math.log(sentences)] if ax is mi_ax and sentences else []))
        ax.set_xlabel("R: rate (nats, symmetric log)")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left")
    seeds = len(rows[0].get("seeds") or [None])
    fig.suptitle("Remedies for posterior collapse (blue) and beta-C (orange), test split"
                 + (f": means of {seeds} seeds, bars = 95% intervals" if seeds > 1 else ""))
    save_figure(plt, fig, path)
    return path


def plot_aggressive(trajectories: dict[str, dict[str, Any]], path: Path, noise_band: float | None = None) -> Path:
    """The validation MI of aggressive runs at each evaluation, a line per run (filled markers while
    the phase was on, diamonds at its checks, a dotted line where it ended), over the band of 0 +-
    `noise_band` that the MI estimator scatters in on collapsed runs, where it is known."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 4), constrained_layout=True)
    if noise_band is not None:
        ax.axhspan(-noise_band, noise_band, color="grey", alpha=0.15,
                   label=f"MI estimator's noise on collapsed runs (+-{noise_band:.3f})")
    for index, (label, t) in enumerate(trajectories.items()):
        colour = f"C{index}"
        ax.plot(t["steps"], t["mi"], color=colour, label=label)
        points = list(zip(t["steps"], t["mi"], t["aggressive"], t["checks"]))
        on = [(s, m) for s, m, a, _ in points if a]
        off = [(s, m) for s, m, a, _ in points if not a]
        checked = [(s, m) for s, m, _, c in points if c]
        if on:
            ax.scatter(*zip(*on), color=colour, zorder=3)
        if off:
            ax.scatter(*zip(*off), facecolors="none", edgecolors=colour, zorder=3)
        if checked:
            ax.scatter(*zip(*checked), marker="D", s=60, color=colour, edgecolors="black", zorder=4,
                       label="the phase's checks" if index == 0 else None)
        if t.get("ended_at") is not None:
            ax.axvline(t["ended_at"], color=colour, linestyle=":")
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("validation I(x; z) (nats)")
    ax.set_title("Aggressive training: filled while the phase is on, dotted where it ended", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    save_figure(plt, fig, path)
    return path
