"""`textvae lm train|evaluate`: the plain language model. Its options are the fields of DataConfig,
LMConfig and LMTrainConfig."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from textvae.cli.common import DeviceOption, JsonOption, ProgressOption, ThreadsOption
from textvae.cli.options import Given, Source, config_fields, with_options
from textvae.models.lm import LMConfig
from textvae.training.config import DataConfig, LMTrainConfig


def lm_train(
    data: Given,
    model: Given,
    training: Given,
    out: Annotated[Path, typer.Option(help="Directory for config.json, vocab.txt, model.safetensors, metrics.jsonl.")],
    threads: ThreadsOption = None,
    progress: ProgressOption = True,
) -> None:
    """Train a language model; prints the validation cross-entropy of each epoch."""
    from textvae.runtime import set_threads
    from textvae.training import train_lm

    set_threads(threads)
    history = train_lm(out, DataConfig(**data), LMConfig(**model), LMTrainConfig(**training), progress)
    for record in history:
        typer.echo(json.dumps(record))


def lm_evaluate(
    lm_dir: Annotated[Path, typer.Argument(help="A directory written by `textvae lm train`.")],
    data: Annotated[Path, typer.Option(help="Sentences to score, one a line.")],
    as_json: JsonOption = False,
    device: DeviceOption = "auto",
    threads: ThreadsOption = None,
) -> None:
    """Cross-entropy (nats per token, `<eos>` counted) and perplexity of a corpus."""
    from textvae.data.corpus import load_corpus
    from textvae.evaluation import evaluate_lm
    from textvae.runtime import set_threads
    from textvae.training import load_lm, saved_data_settings

    set_threads(threads)
    model, vocab = load_lm(lm_dir, device)
    tokenizer, max_length = saved_data_settings(lm_dir)
    result = evaluate_lm(model, load_corpus(data, vocab, max_length, tokenizer=tokenizer, warn_unknown=True))
    if as_json:
        typer.echo(json.dumps(result.to_dict()))
    else:
        typer.echo(f"cross-entropy {result.cross_entropy:.4f} nats/token, perplexity {result.perplexity:.2f} "
                   f"({result.sentences} sentences, {result.tokens} tokens)")


def register(app: typer.Typer) -> None:
    lm_app = typer.Typer(help="A plain LSTM language model (the scorer of Table 3's forward cross-entropy).",
                         no_args_is_help=True, rich_markup_mode=None)
    sources = [Source("data", config_fields(DataConfig)), Source("model", config_fields(LMConfig)),
               Source("training", config_fields(LMTrainConfig))]
    lm_app.command("train")(with_options(lm_train, sources))
    lm_app.command("evaluate")(lm_evaluate)
    app.add_typer(lm_app, name="lm")
