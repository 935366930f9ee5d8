"""`textvae data prepare`: a corpus file to the train / valid / test files the other commands take
(a thin shell over `textvae.data.prepare`; its options are PrepareConfig's fields)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from textvae.cli.common import JsonOption, ProgressOption
from textvae.cli.options import Given, Source, config_fields, with_options
from textvae.data.prepare import PrepareConfig


def prepare(
    settings: Given,
    input_file: Annotated[Path, typer.Argument(
        metavar="INPUT", help="A text file (one sentence or document a line), or a .csv, .tsv or .jsonl file.")],
    out: Annotated[Path, typer.Option(help="New directory for train.txt, valid.txt, test.txt (SPLIT.factors.jsonl "
                                           "with labels) and summary.json.")],
    as_json: JsonOption = False,
    progress: ProgressOption = True,
) -> None:
    """Split into sentences where asked, tokenize, filter by length, drop repeats and split with a seed;
    then say what each step did, the vocabulary at each minimum count and the length histogram."""
    from textvae.data.prepare import prepare_corpus, summary_lines, write_prepared
    from textvae.training.rundir import check_new_directory

    config = PrepareConfig(**settings)
    check_new_directory(out, "a prepared corpus")
    summary = write_prepared(prepare_corpus(input_file, config, progress), out, config)
    if as_json:
        typer.echo(json.dumps(summary))
        return
    for line in summary_lines(summary):
        typer.echo(line)
    typer.echo(f"written to {out}/: " + ", ".join(f"{s}.txt" for s in ("train", "valid", "test")) +
               (" with SPLIT.factors.jsonl" if summary["labels"] else "") + ", summary.json")


def register(app: typer.Typer) -> None:
    data_app = typer.Typer(help="Your own corpus: from a text, CSV, TSV or JSONL file to the files the commands take.",
                           no_args_is_help=True, rich_markup_mode=None)
    data_app.command("prepare")(with_options(prepare, [Source("settings", config_fields(PrepareConfig))]))
    app.add_typer(data_app, name="data")
