"""Training curves of runs (`textvae plot`): what metrics.jsonl holds, drawn against the step, the
epoch or the seconds trained.

Six panels: the loss, D, R beside its target C_t, the MI and the active units (validation only:
training records carry no MI), and the learning rate. Training records are solid lines, validation
records dashed with markers. Several runs share the panels, a colour each, labelled by what
differs between their configs (C, model, objective, seed first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textvae.errors import ConfigError, RunDirError
from textvae.plotting import figure_bytes, pyplot, save_figure
from textvae.serialization import read_json
from textvae.training import CONFIG_FILE, read_metrics

X_AXES = {"step": "step", "epoch": "epoch", "time": "seconds trained"}
PANELS = (  # (record key, title, which splits draw it)
    ("loss", "loss: the objective (validation: at its final C or weight)", ("train", "valid")),
    ("distortion", "D: distortion (nats)", ("train", "valid")),
    ("rate", "R: rate (nats); dotted: the target C_t", ("train", "valid")),
    ("mi", "MI: I(x; z) on validation (nats)", ("valid",)),
    ("au", "AU: active units on validation", ("valid",)),
    ("lr", "learning rate", ("train",)),
)
LABEL_FIRST = ("model", "objective", "kl_target", "seed")  # what a legend names first where it differs
# Settings that leave the numbers as they are: never what tells two runs apart in a legend
BOOKKEEPING = {"device", "checkpoint_every", "eval_batch_size", "time_budget", "tensorboard", "vocab_size"}


@dataclass
class RunCurves:
    """One run's records, split by kind."""

    name: str
    config: dict[str, Any]
    train: list[dict[str, Any]]
    valid: list[dict[str, Any]]


def read_curves(run_dir: Path) -> RunCurves:
    records = read_metrics(run_dir)  # a line cut short by a kill is left out, with a warning
    config = flat_config(read_json(run_dir / CONFIG_FILE))
    # records from before the learning rate was kept: the rate was the config's all along (no decay then)
    train = [{"lr": config.get("lr"), **r} for r in records if r.get("split") == "train"]
    return RunCurves(run_dir.name, config, train, [r for r in records if r.get("split") == "valid"])


def flat_config(saved: dict[str, Any]) -> dict[str, Any]:
    """A run's model and training settings as one mapping, the objective's options included."""
    training = dict(saved.get("training", {}))
    options = training.pop("objective_options", None) or {}
    model = dict(saved.get("model", {}))
    return {**{k: v for k, v in model.items() if not isinstance(v, dict)}, **training, **options}


def labels(runs: Sequence[RunCurves], most: int = 3) -> list[str]:
    """A legend entry per run from the settings that differ between them: those of LABEL_FIRST
    where any does (an objective's own options follow from it), else the others, at most `most`;
    a setting a run does not have is left out of its entry. The run's name where nothing differs
    or there is one run."""
    if len(runs) < 2:
        return [r.name for r in runs]
    keys = sorted({k for r in runs for k in r.config} - BOOKKEEPING)
    differing = [k for k in keys if len({repr(r.config.get(k)) for r in runs}) > 1]
    first = [k for k in LABEL_FIRST if k in differing]
    chosen = (first or differing)[:most]
    if not chosen:
        return [r.name for r in runs]
    short = {"kl_target": "C"}
    return [" ".join(f"{short.get(k, k)}={format_value(r.config[k])}" for k in chosen if r.config.get(k) is not None)
            or r.name for r in runs]


def format_value(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def x_of(records: Sequence[dict[str, Any]], x: str, seconds_at: dict[int, float]) -> list[float]:
    if x == "time":
        return [seconds_at[r["step"]] for r in records]
    return [r[x] for r in records]


def plot_curves(runs: Sequence[RunCurves], path: Path, x: str = "step") -> Path:
    """The six panels for `runs`, written to `path` (PNG, SVG or PDF by its extension)."""
    plt, fig = draw_curves(runs, x)
    save_figure(plt, fig, path)
    return path


def curves_png(runs: Sequence[RunCurves], x: str = "step") -> bytes:
    """The six panels as PNG bytes (the explorer's curves)."""
    return figure_bytes(*draw_curves(runs, x))


def draw_curves(runs: Sequence[RunCurves], x: str = "step") -> tuple[Any, Any]:
    """The six panels for `runs`: (pyplot, figure)."""
    if x not in X_AXES:
        raise ConfigError(f"--x takes {', '.join(X_AXES)}, not {x!r}")
    if not any(r.train or r.valid for r in runs):
        raise RunDirError("no run has a record in metrics.jsonl yet: the first comes at its first evaluation")
    if x == "time" and any(r.train and "seconds" not in r.train[-1] for r in runs):
        old = next(r.name for r in runs if r.train and "seconds" not in r.train[-1])
        raise RunDirError(f"{old} was trained before textvae recorded training time; plot it with --x step")
    plt = pyplot()
    fig, axes = plt.subplots(2, 3, figsize=(15, 8), constrained_layout=True)
    for index, (run, label) in enumerate(zip(runs, labels(runs))):
        colour = f"C{index % 10}"
        seconds_at = {r["step"]: r.get("seconds", 0.0) for r in run.train}
        for ax, (key, title, splits) in zip(axes.flat, PANELS):
            for split, records in (("train", run.train), ("valid", run.valid)):
                points = [r for r in records if r.get(key) is not None]
                if split not in splits or not points:
                    continue
                style = {"linestyle": "-"} if split == "train" else {"linestyle": "--", "marker": "o", "markersize": 3}
                ax.plot(x_of(points, x, seconds_at), [r[key] for r in points], color=colour,
                        label=f"{label} ({split})" if ax is axes.flat[0] else None, **style)
            if key == "rate":
                targets = [r for r in run.train if r.get("kl_target") is not None]
                if targets:
                    ax.plot(x_of(targets, x, seconds_at), [r["kl_target"] for r in targets], color=colour,
                            linestyle=":")
            ax.set_title(title, fontsize=10)
    for ax in axes.flat:
        ax.set_xlabel(X_AXES[x])
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    return plt, fig
