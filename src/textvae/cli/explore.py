"""`textvae explore`: the latent explorer in the browser (a thin shell over `textvae.explore`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from textvae.cli.common import DeviceOption, ThreadsOption, log


def explore(
    run_dirs: Annotated[list[Path], typer.Argument(help="One or more run directories written by `textvae train`.")],
    data: Annotated[Optional[Path], typer.Option(
        help="Sentences for the map, one a line [default: each run's validation split].")] = None,
    labels: Annotated[Optional[Path], typer.Option(
        help="Their labels (one a line, or JSON lines of factor -> value) to colour the map.")] = None,
    color_by: Annotated[Optional[str], typer.Option(
        help="The factor that colours the map where the labels hold several [default: the first].")] = None,
    max_points: Annotated[int, typer.Option(min=2, help="Sentences on the map, at most.")] = 2000,
    host: Annotated[str, typer.Option(help="Address to serve on (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to serve on.")] = 8000,
    device: DeviceOption = "auto",
    threads: ThreadsOption = None,
) -> None:
    """A latent explorer in the browser (and a JSON model server: /encode, /decode, /interpolate, /sample)."""
    from textvae.explore import build_service, create_app
    from textvae.runtime import set_threads

    set_threads(threads)
    server = create_app(build_service(run_dirs, data, labels, max_points, device, color_by))
    log.info("textvae explorer on http://%s:%d/ (Ctrl-C stops it)", host, port)
    server.run(host=host, port=port, threaded=False)


def register(app: typer.Typer) -> None:
    app.command()(explore)
