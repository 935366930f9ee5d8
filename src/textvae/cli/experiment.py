"""`textvae experiment NAME`: one command per registered experiment (`textvae.experiments`), whose
options are the fields of `Experiment` and of the experiment's own options."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Optional

import typer

from textvae.cli.common import ProgressOption
from textvae.cli.options import Given, Source, config_fields, with_options
from textvae.experiments import EXPERIMENTS, Experiment, ExperimentKind

JobsOption = Annotated[int, typer.Option(
    help="Runs trained at once, in separate processes (one GPU each where several are visible).", min=1)]
ExperimentThreadsOption = Annotated[Optional[int], typer.Option(
    min=1, help="CPU threads in all, split between --jobs [default: one per core].")]


def experiment_command(name: str, kind: ExperimentKind) -> Callable[..., Any]:
    def command(settings: Given, options: Given, jobs: JobsOption = 1, threads: ExperimentThreadsOption = None,
                progress: ProgressOption = True) -> None:
        from textvae.runtime import set_threads

        set_threads(threads)
        experiment = Experiment(name=name, **settings)
        kind.run(experiment, kind.options(**options) if kind.options is not None else None, jobs, progress)
        if experiment.only is not None:
            return  # one cell: the outputs come from a call without --only
        typer.echo((experiment.root / kind.report).read_text(encoding="utf-8"), nl=False)

    command.__name__ = name
    command.__doc__ = f"{kind.about} Trains every run it needs (reusing finished ones), evaluates each on --test."
    own_options = config_fields(kind.options) if kind.options is not None else list
    return with_options(command, [
        Source("settings", config_fields(Experiment, exclude=("name",)),
               defaults={"models": list(kind.models), "kl_targets": list(kind.kl_targets)}),
        Source("options", own_options),
    ])


def register(app: typer.Typer) -> None:
    listed = "\n\n".join(f"{name}: {kind.about}" for name, kind in EXPERIMENTS.items())
    experiments = typer.Typer(
        help="Reproduce the paper's Figure 1 or Tables 1-4, or compare remedies for posterior collapse: train every "
             f"run, evaluate, report. Experiments that share --out reuse each other's runs.\n\n{listed}",
        no_args_is_help=True, rich_markup_mode=None)
    for name, kind in EXPERIMENTS.items():
        experiments.command(name)(experiment_command(name, kind))
    app.add_typer(experiments, name="experiment")
