"""Plots of sweep results (the `plot` extra: matplotlib)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from textvae.errors import ConfigError
from textvae.experiments.sweep import rows_of

FIGURE1_PANELS = (  # (result key, axis label)
    ("distortion", "D: distortion (nats)"),
    ("rate", "R: rate (nats)"),
    ("log_det_cov", "LogDetCov of q(z)"),
    ("mu_norm_sq", "||mu||^2 of q(z)"),
    ("au", "AU: active units"),
)


class PlotsUnavailable(ConfigError):
    """matplotlib (the `plot` extra) is not installed."""


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise PlotsUnavailable("plots need matplotlib: pip install 'textvae[plot]'") from None
    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    return plt


def plot_figure1(rows: Sequence[dict[str, Any]], path: Path, latent_dim: int | None = None) -> Path:
    """Five panels against C (log scale), one line per model; R's panel has the R = C diagonal."""
    plt = _pyplot()
    models = list(dict.fromkeys(r["model"] for r in rows))
    targets = sorted({r["C"] for r in rows})
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.5), constrained_layout=True)
    for ax, (key, label) in zip(axes.flat, FIGURE1_PANELS):
        for model in models:
            mine = [r for r in rows_of(rows, model) if r.get(key) is not None]
            ax.plot([r["C"] for r in mine], [r[key] for r in mine], marker="o", label=model)
        if key == "rate":
            ax.plot(targets, targets, linestyle="--", color="grey", label="R = C")
        if key == "au" and latent_dim is not None:
            ax.set_ylim(-0.5, latent_dim + 0.5)
        ax.set_xscale("log")
        ax.set_xticks(targets, [f"{c:g}" for c in targets])
        ax.minorticks_off()
        ax.set_xlabel("C: target rate (nats)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    legend_ax = axes.flat[-1]
    legend_ax.axis("off")
    handles, labels = axes.flat[1].get_legend_handles_labels()
    legend_ax.legend(handles, labels, loc="center", fontsize=12, frameon=False)
    fig.suptitle("Test-split measurements against the target rate C")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
