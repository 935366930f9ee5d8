"""Is the decoder's strength what makes the ELBO prefer collapse here? He et al. 2019 train their
LSTM decoder with dropout 0.5 on its input words and on its outputs, which weakens it where z does
not help. This trains the compare runs of the elbo and free-bits variants (seeds 0-2) again with
decoder_dropout 0.5, every other setting as each run saved it, and sets their test -ELBO (D + R,
nats a sentence, best weights) against that of the runs without it.

    python docs/results/yelp-cpu-small/seeds3/decoder_dropout.py EXPERIMENT_DIR OUT [--only RUN]

EXPERIMENT_DIR is the compare's --out: its vocab.txt, experiment.json (the test split) and runs/
with each run's config.json and evaluation.json. The new runs go to OUT/RUN (resumed where one is
there). With --only RUN (e.g. lstm-lstm-elbo-seed1) the script trains and evaluates that run and
stops, so that runs can go side by side; without it, it does what is missing and prints a markdown
table to standard output."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import textvae
from textvae.experiments.stats import Spread, differs, spread
from textvae.training import holds_run, load_config, train

DROPOUT = 0.5
RUNS = [f"lstm-lstm-{variant}{suffix}" for variant in ("elbo", "free-bits") for suffix in ("", "-seed1", "-seed2")]
TEST_RECORD = "test-elbo.json"


def train_with_dropout(experiment: Path, out: Path, name: str) -> dict[str, float]:
    """Train `name` again with decoder dropout into OUT/name (or resume it) and measure it on the
    test split; the measurements are kept in OUT/name/test-elbo.json."""
    run = out / name
    record = run / TEST_RECORD
    if record.exists():
        return json.loads(record.read_text())
    if holds_run(run):
        train(run, resume=True, progress=False, threads=1)
    else:
        saved = load_config(experiment / "runs" / name)
        model = dataclasses.replace(saved.model, decoder_options=dataclasses.replace(
            saved.model.decoder_options, decoder_dropout=DROPOUT))
        data = dataclasses.replace(saved.data, vocab=str(experiment / "vocab.txt"))
        train(run, data, model, saved.training, progress=False, threads=1)
    test_file = json.loads((experiment / "experiment.json").read_text())["test"]
    sentences = [s.strip() for s in Path(test_file).read_text(encoding="utf-8").splitlines() if s.strip()]
    result = textvae.evaluate(textvae.load(run, device="cpu", precision="fp32"), sentences, iw_samples=0,
                              repeats=1, threads=1)
    measured = {"distortion": result.distortion, "rate": result.rate, "mi": result.mi, "au": result.au}
    record.write_text(json.dumps(measured, indent=1))
    return measured


def saved_measurements(experiment: Path, name: str) -> dict[str, float]:
    return json.loads((experiment / "runs" / name / "evaluation.json").read_text())


def row(label: str, measured: list[dict[str, float]]) -> tuple[str, Spread]:
    elbo = spread([m["distortion"] + m["rate"] for m in measured])
    cells = [spread([m[k] for m in measured]).text() for k in ("rate", "mi", "distortion")]
    return f"| {label} | {' | '.join(cells)} | {elbo.text()} |", elbo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiment", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--only", choices=RUNS)
    args = parser.parse_args()
    if args.only:
        train_with_dropout(args.experiment, args.out, args.only)
        return
    with_dropout = {name: train_with_dropout(args.experiment, args.out, name) for name in RUNS}
    print("| variant, decoder dropout | R | MI | D | -ELBO |")
    print("|---|---|---|---|---|")
    elbos = {}
    for variant in ("elbo", "free-bits"):
        names = [n for n in RUNS if n.startswith(f"lstm-lstm-{variant}")]
        for dropout, measured in ((0.0, [saved_measurements(args.experiment, n) for n in names]),
                                  (DROPOUT, [with_dropout[n] for n in names])):
            line, elbos[variant, dropout] = row(f"{variant}, {dropout:g}", measured)
            print(line)
    print()
    for dropout in (0.0, DROPOUT):
        low, high = elbos["elbo", dropout], elbos["free-bits", dropout]
        print(f"- decoder dropout {dropout:g}: -ELBO of free-bits minus elbo {high.mean - low.mean:+.2f} nats, "
              f"{'beyond' if differs(low, high) else 'within'} the seeds' spread")


if __name__ == "__main__":
    main()
