"""Seeds in an experiment's tables: each cell's mean, its spread between seeds, and a 95% interval.

A cell (a model at one C, or one variant of compare) runs once per seed. `Spread` summarises one
measurement over those runs: mean, sample standard deviation (n - 1), and the 95% confidence
interval of the mean from Student's t with n - 1 degrees of freedom, mean +- t * sd / sqrt(n).
With one seed there is no spread: sd and the interval are None, and the verdicts built on them
fall back to the allowances they state.

`seed_means` turns the rows of every run into one row per cell: each measurement is the mean over
the cell's seeds, and `row["spread"]` holds the `Spread` of each.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Spread:
    """One measurement over the seeds of a cell."""

    mean: float
    sd: float | None  # sample standard deviation; None with one seed
    n: int
    half_width: float | None  # of the 95% interval of the mean; None with one seed

    @property
    def low(self) -> float | None:
        return None if self.half_width is None else self.mean - self.half_width

    @property
    def high(self) -> float | None:
        return None if self.half_width is None else self.mean + self.half_width

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"low": self.low, "high": self.high}

    def text(self, digits: int = 2) -> str:
        """'36.91 +- 0.42' (the interval's half-width), or the mean alone with one seed."""
        if self.half_width is None:
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} +- {self.half_width:.{digits}f}"


def t_quantile(degrees_of_freedom: float) -> float:
    """Student's t at the two-sided CONFIDENCE level (scipy imported here: it costs the command line
    a second at start-up)."""
    from scipy import stats

    return float(stats.t.ppf(0.5 + CONFIDENCE / 2, df=degrees_of_freedom))


def spread(values: Sequence[float]) -> Spread:
    """Mean, sample standard deviation and 95% t-interval of `values` (at least one)."""
    if not values:
        raise ValueError("a spread needs at least one value")
    n = len(values)
    mean = math.fsum(values) / n
    if n == 1:
        return Spread(mean, None, 1, None)
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    t = t_quantile(n - 1)
    return Spread(mean, sd, n, t * sd / math.sqrt(n))


def differs(a: Spread, b: Spread) -> bool | None:
    """Whether two cells' means differ beyond their seeds' noise: Welch's t-test at the 5% level.
    None where either has one seed (no spread to judge by)."""
    if a.sd is None or b.sd is None:
        return None
    se2 = a.sd ** 2 / a.n + b.sd ** 2 / b.n
    if se2 == 0:
        return a.mean != b.mean
    t_value = abs(a.mean - b.mean) / math.sqrt(se2)
    df = se2 ** 2 / ((a.sd ** 2 / a.n) ** 2 / (a.n - 1) + (b.sd ** 2 / b.n) ** 2 / (b.n - 1))
    return bool(t_value > t_quantile(df))


def seed_means(rows: Sequence[dict[str, Any]], cell_of: Callable[[dict[str, Any]], Hashable],
               keys: Sequence[str]) -> list[dict[str, Any]]:
    """One row per cell (in the order cells first appear): the first seed's row, with each of `keys`
    replaced by its mean over the cell's seeds (None where a seed did not measure it; the value
    itself, an integer stays one, where the cell has one seed), and
    `spread` {key: Spread}, `seeds` and `runs` (every seed's run) added."""
    cells: dict[Hashable, list[dict[str, Any]]] = {}
    for row in rows:
        cells.setdefault(cell_of(row), []).append(row)
    merged = []
    for members in cells.values():
        row = dict(members[0])
        row["spread"] = {}
        for key in keys:
            values = [m.get(key) for m in members]
            if any(v is None for v in values):
                row[key] = None
                continue
            row["spread"][key] = spread([float(v) for v in values])
            row[key] = values[0] if len(values) == 1 else row["spread"][key].mean  # one seed: as measured
        row["seeds"] = [m.get("seed") for m in members]
        row["runs"] = [m["run"] for m in members]
        merged.append(row)
    return merged


def every_run(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The run of every seed behind `rows` (rows of `seed_means`, or one row per run)."""
    return [run for row in rows for run in row.get("runs", [row["run"]])]


def seeds_text(seeds: Sequence[int], unit: str = "cell") -> str:
    """How a report's numbers relate to its seeds, for its first paragraph."""
    if len(seeds) == 1:
        return f"seed {seeds[0]} (one seed: no spread)"
    return (f"seeds {', '.join(map(str, seeds))}: each {unit} is the mean of {len(seeds)} runs, +- the half-width "
            "of its 95% t-interval")
