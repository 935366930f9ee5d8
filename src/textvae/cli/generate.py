"""Commands that decode sentences from a trained run: `sample` (from the prior) and `interpolate`
(along a line between two codes). Their decoding options are the fields of `Decoding`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from textvae.cli.common import (
    DecodePrecisionOption, DeviceOption, ForceOption, Precision, ProgressOption, RunDirArgument, RunLowercaseOption,
    RunTokenizeOption, ThreadsOption, WeightsOption, load_run, log, output_file, write_output,
)
from textvae.cli.options import Given, Source, config_fields, with_options
from textvae.generation.decoding import STRATEGIES, Decoding
from textvae.options import MAX_SEED

SeedOption = Annotated[int, typer.Option(min=0, max=MAX_SEED, help="Seed of the prior draws and the sampling.")]


def sample(
    decoding: Given,
    run_dir: RunDirArgument,
    n: Annotated[int, typer.Option("-n", help="Sentences to draw (the first ones are the same for any n at one "
                                              "seed).", min=1)] = 10,
    seed: SeedOption = 0,
    precision: DecodePrecisionOption = Precision.auto,
    out: Annotated[Optional[Path], typer.Option(help="Write the sentences here instead of printing them.")] = None,
    force: ForceOption = False,
    weights: WeightsOption = "best",
    device: DeviceOption = "auto",
    threads: ThreadsOption = None,
    progress: ProgressOption = True,
) -> None:
    """Draw z from the prior and decode a sentence from each, one a line."""
    chosen = Decoding(**decoding)
    if out is not None:
        output_file(out, force)
    vae = load_run(run_dir, device, weights, precision.value, threads)
    vae.progress = progress
    sentences = vae.sample(n, chosen, seed=seed)
    text = "".join(f"{s}\n" for s in sentences)
    if out is None:
        typer.echo(text, nl=False)
    else:
        write_output(out, text)
        log.info("%d sentences (%s) written to %s", n, chosen.describe(), out)


def interpolate(
    decoding: Given,
    run_dir: RunDirArgument,
    start: Annotated[Optional[str], typer.Option("--from", help="First sentence [default: a prior draw].")] = None,
    end: Annotated[Optional[str], typer.Option("--to", help="Last sentence [default: a prior draw].")] = None,
    steps: Annotated[int, typer.Option(help="Points on the path, both ends included.", min=2)] = 8,
    decode: Annotated[str, typer.Option(help="Comma-separated strategies, one block each.")] = "greedy,top-k,top-p",
    seed: SeedOption = 0,
    precision: DecodePrecisionOption = Precision.auto,
    tokenize: RunTokenizeOption = None,
    lowercase: RunLowercaseOption = None,
    weights: WeightsOption = "best",
    device: DeviceOption = "auto",
    threads: ThreadsOption = None,
) -> None:
    """Decode sentences along z = (1 - s) z_from + s z_to, s from 0 to 1 (the paper's Table 2)."""
    decodings = [Decoding(**{**decoding, "strategy": strategy}) for strategy in _strategies(decode)]
    for name, sentence in (("--from", start), ("--to", end)):
        if sentence is not None and not sentence.split():
            raise typer.BadParameter(f"{name} is empty; give a sentence, or leave it out for a prior draw")
    vae = load_run(run_dir, device, weights, precision.value, threads, tokenize, lowercase)
    blocks = []
    for chosen in decodings:
        path = vae.interpolate(start, end, steps, chosen, seed=seed)
        lines = [f"{i}. {sentence}" for i, sentence in enumerate(path.sentences, 1)]
        blocks.append("\n".join([f"# {chosen.describe()}", *lines]))
    typer.echo("\n\n".join(blocks))


def _strategies(names: str) -> list[str]:
    chosen = [name.strip() for name in names.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in STRATEGIES]
    if unknown or not chosen:
        raise typer.BadParameter(f"--decode takes a comma-separated list of {', '.join(STRATEGIES)}; got {names!r}")
    return chosen


def register(app: typer.Typer) -> None:
    app.command()(with_options(sample, [Source("decoding", config_fields(Decoding), defaults={"strategy": "sample"})]))
    app.command()(with_options(interpolate, [Source("decoding", config_fields(Decoding, exclude=("strategy",)))]))
