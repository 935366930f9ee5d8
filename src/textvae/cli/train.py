"""`textvae train`: its options are the fields of DataConfig, ModelConfig (with the options of every
registered encoder and decoder kind) and TrainConfig (with the options of every registered
objective), built by `textvae.cli.options`; a new field or a new registered kind is a new flag."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from textvae.cli.common import ProgressOption, ThreadsOption, join_processes, log
from textvae.cli.options import Given, Source, choices, config_fields, registered_fields, with_options
from textvae.models.config import PRESETS, kind_fields
from textvae.models.contracts import DECODERS, ENCODERS
from textvae.objectives import OBJECTIVES, objective_fields
from textvae.options import flag_of
from textvae.training.config import DataConfig, TrainConfig

Preset = choices("Preset", PRESETS)


def _preset_help() -> str:
    sizes = ", ".join(f"{name} {p['embedding_dim']}/{p['hidden_dim']}/{p['latent_dim']}" for name, p in PRESETS.items())
    return (f"Model sizes (embedding / hidden / latent): {sizes} (cpu-small is the size of `experiment --preset "
            "cpu-small`; transformer-paper, 3 blocks each side, is a Transformer of the paper LSTM's parameter count). The "
            "size options override it.")


def _kind_class(owner: str) -> type:
    role, name = owner.split(" ", 1)
    return (ENCODERS if role == "encoder" else DECODERS)[name].options


def sources() -> list[Source]:
    from textvae.models.config import ModelConfig

    return [
        Source("data", config_fields(DataConfig), optional=("train",)),
        Source("model", lambda: config_fields(ModelConfig)() + registered_fields(
            kind_fields, lambda: len(ENCODERS) + len(DECODERS), _kind_class)()),
        Source("training", lambda: config_fields(TrainConfig)() + registered_fields(
            objective_fields, lambda: len(OBJECTIVES), lambda name: OBJECTIVES[name])()),
    ]


def train(
    data: Given,
    model: Given,
    training: Given,
    out: Annotated[Path, typer.Option(help="Run directory to create (or resume with --resume).")],
    data_file: Annotated[Optional[Path], typer.Option(
        "--data", help="One corpus file in place of --train and --valid: a text file, or CSV / TSV / JSONL with a "
                       "'text' column, split 0.9 / 0.05 / 0.05 with --seed into OUT/data/ as `textvae data prepare` "
                       "does (its test.txt is for `evaluate`).")] = None,
    resume: Annotated[bool, typer.Option(
        help="Continue the run in --out; its saved configs replace the other options.")] = False,
    preset: Annotated[Preset, typer.Option(help=_preset_help())] = Preset.paper,
    threads: ThreadsOption = None,
    progress: ProgressOption = True,
) -> None:
    """Train a sentence VAE (the beta-C objective unless --objective says otherwise); under torchrun, on every
    process it starts."""
    from textvae.models.config import ModelConfig
    from textvae.training import train as run_training

    group, device = join_processes(training.pop("device", "auto"))
    if resume:
        tensorboard = training.pop("tensorboard", None)  # what a run shows may change when it resumes
        ignored = [flag_of_option(key) for key in (*data, *model, *training)]
        if ignored:
            log.warning("--resume continues the run with the settings it started with; ignored: %s",
                        ", ".join(ignored))
        result = run_training(out, resume=True, progress=progress, threads=threads, tensorboard=tensorboard)
    else:
        if data_file is not None:
            data.update(split_data_file(data_file, out, data, training.get("seed", 0)))
        if "train" not in data or "valid" not in data:
            raise typer.BadParameter("--train and --valid are needed (or --data; unless --resume)")
        # An option of another objective or model, given out of habit, is said and left out.
        model_config = ModelConfig.from_flat(model, defaults=PRESETS[preset.value], unused="warn")
        training_config = TrainConfig.from_flat({**training, "device": device}, unused="warn")
        result = run_training(out, DataConfig(**data), model_config, training_config, progress=progress,
                              threads=threads)
    if not group.main:
        return
    v = result.valid
    typer.echo(f"finished {result.steps} steps: valid D {v.distortion:.3f}  R {v.rate:.3f}  ELBO {v.elbo:.3f}  "
               f"PPL {v.ppl_elbo:.2f}")
    note = v.collapse_note()
    if note is not None:  # said at the first evaluation it held; still true at the end
        log.warning("at the end: %s", note)
    typer.echo(f"run directory: {result.run_dir}")


def split_data_file(data_file: Path, out: Path, data: dict, seed: int) -> dict[str, str]:
    """--data: the file's splits, written into the new run directory's data/ (the run reads them from there)."""
    from textvae.data.prepare import PrepareConfig, input_format, prepare_corpus, summary_lines, write_prepared
    from textvae.errors import ConfigError, DataError
    from textvae.training.config import PREPARED_DATA_DIR
    from textvae.training.rundir import check_new_directory

    if not data_file.is_file():
        raise DataError(data_file, "no such file" if not data_file.exists() else "is a directory, expected a file")
    if "train" in data or "valid" in data:
        raise typer.BadParameter("--data replaces --train and --valid: give one or the other")
    check_new_directory(out, "a textvae run", own=(PREPARED_DATA_DIR,))  # data/ of a start that failed is redone
    settings = PrepareConfig(text_column=None if input_format(data_file) == "text" else "text", seed=seed)
    prepared = out / PREPARED_DATA_DIR
    try:
        corpus = prepare_corpus(data_file, settings)
    except DataError as err:
        if settings.text_column is None or "no column" not in str(err) and "no key" not in str(err):
            raise
        raise ConfigError(f"{err}; --data reads the column 'text': for another, run `textvae data prepare {data_file} "
                          "--text-column NAME --out DIR` and train on DIR's files") from None
    summary = write_prepared(corpus, prepared, settings)
    log.info("--data %s: %s", data_file, "; ".join(summary_lines(summary)[:2]))
    return {"train": str(prepared / "train.txt"), "valid": str(prepared / "valid.txt")}


def flag_of_option(key: str) -> str:
    for source in sources():
        for spec in source.specs():
            if spec.key == key:
                return flag_of(spec.field)
    return key


def register(app: typer.Typer) -> None:
    app.command()(with_options(train, sources()))
