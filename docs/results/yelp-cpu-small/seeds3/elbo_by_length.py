"""Does the code pay for itself on longer sentences? The test -ELBO (D + R, nats a sentence) of the
collapsed elbo runs against the free-bits runs (R about 4 nats), by sentence length, over seeds 0-2.

    python docs/results/yelp-cpu-small/seeds3/elbo_by_length.py RUNS_DIR TEST_FILE

RUNS_DIR holds the compare runs with their weights (lstm-lstm-elbo, -elbo-seed1, ...); writes a
markdown table to standard output. He et al. 2019 model whole reviews; the shared Yelp data are
sentences of at most 15 words, so this is the only view of length these data allow."""

from __future__ import annotations

import sys
from pathlib import Path

import textvae
from textvae.experiments.stats import differs, spread

BUCKETS = ((1, 6), (7, 10), (11, 15))  # words; about 2,200, 3,700 and 4,100 test sentences
VARIANTS = ("elbo", "free-bits")
SEEDS = ("", "-seed1", "-seed2")


def measure(run: Path, sentences: list[str]) -> tuple[float, float]:
    """Mean distortion and rate a sentence of `sentences` under `run`'s best weights."""
    model = textvae.load(run, device="cpu", precision="fp32")
    result = textvae.evaluate(model, sentences, iw_samples=0, repeats=1, threads=1)
    return result.distortion, result.rate


def main(runs_dir: Path, test_file: Path) -> None:
    lines = [line.strip() for line in test_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    print("| words | sentences | -ELBO elbo | -ELBO free-bits | gap (free-bits - elbo) | D saved by z | R paid |"
          " gap beyond the seeds' spread? |")
    print("|---|---|---|---|---|---|---|---|")
    for low, high in BUCKETS:
        bucket = [s for s in lines if low <= len(s.split()) <= high]
        measured = {v: [measure(runs_dir / f"lstm-lstm-{v}{suffix}", bucket) for suffix in SEEDS] for v in VARIANTS}
        elbo = {v: spread([d + r for d, r in measured[v]]) for v in VARIANTS}
        distortion = {v: spread([d for d, _ in measured[v]]) for v in VARIANTS}
        rate = {v: spread([r for _, r in measured[v]]) for v in VARIANTS}
        gap = elbo["free-bits"].mean - elbo["elbo"].mean
        print(f"| {low}-{high} | {len(bucket):,} | {elbo['elbo'].text()} | {elbo['free-bits'].text()} | {gap:+.2f} | "
              f"{distortion['elbo'].mean - distortion['free-bits'].mean:.2f} | "
              f"{rate['free-bits'].mean - rate['elbo'].mean:.2f} | "
              f"{'yes' if differs(elbo['elbo'], elbo['free-bits']) else 'no'} |", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
