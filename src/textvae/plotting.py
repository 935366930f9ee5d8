"""Figures (the `plot` extra: matplotlib): pyplot drawing into files, and the save, atomic, in the
format the file's extension names (PNG, SVG, PDF)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from textvae.errors import ConfigError
from textvae.serialization import write_atomic


class PlotsUnavailable(ConfigError):
    """matplotlib (the `plot` extra) is not installed."""


def pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise PlotsUnavailable("plots need matplotlib: pip install 'textvae[plot]'") from None
    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    return plt


def figure_bytes(plt: Any, fig: Any, file_format: str = "png") -> bytes:
    """The figure's file in `file_format` (png, svg, pdf); the figure is closed."""
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=110, format=file_format)
    plt.close(fig)
    return buffer.getvalue()


def save_figure(plt: Any, fig: Any, path: Path) -> None:
    """The figure as PNG (SVG, PDF by the file's extension), written atomically."""
    write_atomic(path, figure_bytes(plt, fig, Path(path).suffix.lstrip(".") or "png"))
