"""The `textvae` command line: a thin shell over the Python API.

The program is built when it runs (`build_app`), from one module per group of commands, each
adding its commands with `register(app)`; the options that set a config's fields are built from
those fields (`textvae.cli.options`), so they follow the configs and the registries. The built
program is kept while the registries stay as they are (building it costs a quarter of a second).
"""

from __future__ import annotations

import functools
import logging
import sys
from typing import Annotated, Any

import typer

from textvae import distributed
from textvae.cli import data, demo, evaluate, experiment, explore, generate, lm, train, workbench
from textvae.errors import DivergenceError, TextVAEError
from textvae.experiments import EXPERIMENTS
from textvae.models.contracts import DECODERS, ENCODERS
from textvae.objectives import OBJECTIVES

# The order of `textvae --help`
COMMAND_GROUPS = (data, train, evaluate, generate, demo, experiment, lm, explore, workbench)


def _configure(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors on stderr.")] = False,
) -> None:
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s", stream=sys.stderr)


def build_app() -> typer.Typer:
    app = typer.Typer(
        help="Sentence VAEs with an explicitly controlled KL term (beta-C VAE, Prokhorov et al. 2019).",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        rich_markup_mode=None,  # plain help: no boxes, no <bool> type column, readable when piped
    )
    app.callback()(_configure)
    for group in COMMAND_GROUPS:
        group.register(app)
    return app


def command() -> Any:
    """The `textvae` program as a click command, built for the registries' present entries."""
    registries = (OBJECTIVES, ENCODERS, DECODERS, EXPERIMENTS)
    return _built(tuple(tuple((name, id(entry)) for name, entry in r.items()) for r in registries))


@functools.lru_cache(maxsize=4)
def _built(registered: tuple[Any, ...]) -> Any:
    return typer.main.get_command(build_app())


def _usage_error(err: Exception) -> str:
    """A click usage error as one line, naming the command's --help."""
    message = err.format_message() if hasattr(err, "format_message") else str(err)
    context = getattr(err, "ctx", None)
    where = f" (see: {context.command_path} --help)" if context is not None else ""
    return " ".join(message.split()) + where


def main(argv: list[str] | None = None) -> None:
    """The `textvae` program: every failure the user can cause ends in one line on stderr and exit
    status 2 (130 on Ctrl-C), never a traceback."""
    from textvae.runtime import keep_freed_memory

    keep_freed_memory()
    try:
        code = command().main(args=argv, standalone_mode=False)  # usage errors come back to us, to say in one line
        distributed.end_process(code if isinstance(code, int) else 0)
    except DivergenceError as err:
        _fail(str(err), status=3)
    except TextVAEError as err:
        _fail(str(err))
    except typer.TyperException as err:  # click's usage errors (bad option values, unknown options)
        _fail(_usage_error(err))
    except OSError as err:  # writing where one cannot, a full disk, a file that vanished
        where = f"{err.filename}: " if err.filename else ""
        _fail(f"{where}{err.strerror or err}")
    except (KeyboardInterrupt, typer.Abort):
        code = 130
    if code == 130:
        typer.echo("textvae: interrupted", err=True)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, status: int = 2) -> None:
    typer.echo(f"textvae: error: {message}", err=True)
    distributed.end_process(status, cleanly=False)
    sys.exit(status)
