"""`textvae demo` (the main job: the built-in corpus, a small run, what it learned) and `textvae corpus`
(the built-in corpus alone)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from textvae.cli.common import ProgressOption, ThreadsOption, finite_float
from textvae.experiments.demo import DEMO_C, DEMO_STEPS, DEMO_TIME_BUDGET
from textvae.models.config import model_help
from textvae.options import MAX_SEED


def corpus(
    out: Annotated[Path, typer.Argument(help="Directory for train/valid/test .txt and .factors.jsonl.")],
    sentences: Annotated[int, typer.Option("--sentences", "-n", min=3, help="Sentences in all splits.")] = 20_000,
    seed: Annotated[int, typer.Option(min=0, max=MAX_SEED, help="Seed of the grammar's draws.")] = 0,
) -> None:
    """Write the built-in generated corpus (with the factors behind every sentence)."""
    from textvae.data.synthetic import write_corpus

    if out.exists() and not out.is_dir():
        raise typer.BadParameter(f"{out} is a file; give a directory")
    splits = write_corpus(out, n_sentences=sentences, seed=seed)
    for name, path in asdict(splits).items():
        typer.echo(f"{name}: {path}")


def demo(
    out: Annotated[Path, typer.Option(help="Where the corpus and the run go.")] = Path("textvae-demo"),
    kl_target: Annotated[float, typer.Option("--C", "--kl-target", callback=finite_float,
                                             help="Target rate C in nats.")] = DEMO_C,
    model: Annotated[str, typer.Option(help=model_help())] = "lstm-lstm",
    max_steps: Annotated[int, typer.Option(min=1, help="Training steps.")] = DEMO_STEPS,
    time_budget: Annotated[float, typer.Option(
        callback=finite_float, min=1.0,
        help="Seconds of training at most: on a slow or busy machine training stops there (and says so) rather than "
             "run past the demo's promise.")] = DEMO_TIME_BUDGET,
    seed: Annotated[int, typer.Option(
        min=0, max=MAX_SEED, help="Seed of the corpus, the training and the samples.")] = 0,
    threads: ThreadsOption = None,
    progress: ProgressOption = True,
) -> None:
    """Generate the built-in corpus, train a small model on it (about a minute on 2 cores), evaluate it and show
    samples and reconstructions."""
    from textvae.experiments.demo import run_demo

    report = run_demo(out, kl_target=kl_target, model=model, max_steps=max_steps, time_budget=time_budget, seed=seed,
                      progress=progress, threads=threads)
    typer.echo(report)


def register(app: typer.Typer) -> None:
    app.command()(corpus)
    app.command()(demo)
