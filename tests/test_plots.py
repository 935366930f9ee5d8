"""Figures keep every point inside their frame."""

import math

import pytest


def test_limits_hold_the_extreme_points_with_room_on_a_symmetric_log_axis():
    """On compare's symmetric-log axes (linear within +-1), the limits leave a tenth of the span,
    measured on the axis's own scale, beyond the lowest and the highest value."""
    pytest.importorskip("matplotlib")
    from textvae.experiments.plots import pad_limits
    from textvae.plotting import pyplot

    plt = pyplot()
    fig, ax = plt.subplots()
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_xscale("symlog", linthresh=1.0)
    ax.plot([0.0, 100.0], [-0.2, 80.0], "o")
    pad_limits(ax, "y", [-0.2, 80.0])
    pad_limits(ax, "x", [0.0, 100.0], low=-0.1)
    scaled = ax.yaxis.get_transform().transform
    (low, high), (top_of_data,), (bottom_of_data,) = ax.get_ylim(), scaled([80.0]), scaled([-0.2])
    span = top_of_data - bottom_of_data
    assert scaled([high])[0] - top_of_data == pytest.approx(0.1 * span)
    assert bottom_of_data - scaled([low])[0] == pytest.approx(0.1 * span)
    # matplotlib's symlog (base 10, linthresh 1, linscale 1) stretches the linear part by
    # 1 / (1 - 1/10): 80 sits at 1.11 + log10(80) = 3.01, -0.2 at -0.22
    stretch = 1 / (1 - 1 / 10)
    assert span == pytest.approx(stretch * 1.2 + math.log10(80), rel=1e-6)
    left, right = ax.get_xlim()
    assert left == -0.1 and right > 100.0
    plt.close(fig)
