"""The ``twin`` command: one entry point for every operation on a twin.

One module per command group (``db``, ``users``, ``data``, ``serve``, ``tiles``), each
importing only Typer and rich at module level: what a command needs (the database, GDAL, the
tiles, the server) loads when that command runs, so ``twin --help`` and ``twin import`` start
without the tiles or FastAPI. Shared pieces (consoles, error boundary, progress bar) are in
:mod:`twin.cli.common`.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from twin.cli.common import console
from twin.cli.data import demo, import_
from twin.cli.db import db_app, init
from twin.cli.serve import serve
from twin.cli.tiles import tiles_app
from twin.cli.users import users_app

app = typer.Typer(
    help="Urban digital twin server: PostGIS model, OGC 3D Tiles, OGC API Features, live IoT.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.command()(init)
app.command("import")(import_)
app.command()(demo)
app.command()(serve)
app.add_typer(tiles_app, name="tiles")


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more.")] = False,
) -> None:
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False, show_time=False)],
    )
    for noisy in ("alembic.runtime.migration", "alembic.runtime.plugins", "httpx", "pyogrio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main() -> None:  # pragma: no cover
    sys.exit(app())
