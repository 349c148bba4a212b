"""The ``twin`` command: one entry point for every operation on a twin.

One module per command group (``db``, ``users`` with ``audit``, ``tokens``, ``data``,
``export``, ``serve``, ``tiles``, ``devices``, ``rules``, ``opendata``, ``gtfs``, ``broker``
with ``bridge``, ``simulate``, ``analyse`` with a module per analysis), each importing only
Typer and rich at module level: what a command needs (the database, GDAL, the tiles, the
server) loads when that command runs, so ``twin --help`` and ``twin import`` start without the
tiles or FastAPI. Shared pieces (consoles, error boundary, progress bar) are in
:mod:`twin.cli.common`.
"""

from __future__ import annotations

import copy
import logging
import os
import sys
from typing import Annotated

import typer
from typer.main import get_command_name

from twin.cli.analyse import analyse_app
from twin.cli.bridge import bridge, broker_app
from twin.cli.common import console, hard_exit, quick_exit_allowed
from twin.cli.data import demo, import_
from twin.cli.db import db_app, init
from twin.cli.devices import devices_app
from twin.cli.export import export_
from twin.cli.gtfs import gtfs_app
from twin.cli.opendata import opendata_app
from twin.cli.rules import rules_app
from twin.cli.scenarios import scenarios_app
from twin.cli.serve import serve
from twin.cli.simulate import simulate
from twin.cli.tiles import tiles_app
from twin.cli.tokens import tokens_app
from twin.cli.users import audit_, users_app

app = typer.Typer(
    help="Urban digital twin server: PostGIS model, OGC 3D Tiles, OGC API Features, live IoT.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(devices_app, name="devices")
app.add_typer(opendata_app, name="opendata")
app.add_typer(rules_app, name="rules")
app.add_typer(scenarios_app, name="scenarios")
app.add_typer(analyse_app, name="analyse")
app.command()(init)
app.command("import")(import_)
app.command("export")(export_)
app.command()(demo)
app.command()(serve)
app.add_typer(tiles_app, name="tiles")
app.command("audit")(audit_)
app.add_typer(gtfs_app, name="gtfs")
app.add_typer(broker_app, name="broker")
app.command()(bridge)
app.command()(simulate)


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more.")] = False,
) -> None:
    from rich.logging import RichHandler

    # pyarrow's default allocator (mimalloc) keeps the pages of freed batches: an import's
    # peak RSS is 25 to 35 MB lower on the system allocator, at no measurable cost in time
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False, show_time=False)],
    )
    for noisy in ("alembic.runtime.migration", "alembic.runtime.plugins", "httpx", "pyogrio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def invoked(argv: list[str]) -> typer.Typer:
    """The app holding only the command ``argv[1]`` names (the whole app for anything else:
    options, help, an unknown name, shell completion).

    Typer turns every command into a click command before parsing: it reads each function's
    signature and type hints and builds its options, ~50 ms for the ~50 commands here, paid
    by every ``twin import`` for the one command it runs. Help, errors and parsing of the
    command are the same: they come from the same command object.
    """
    name = argv[1] if len(argv) > 1 else ""
    commands = [
        c
        for c in app.registered_commands
        if (c.name or get_command_name(getattr(c.callback, "__name__", ""))) == name
    ]
    groups = [g for g in app.registered_groups if g.name == name]
    if not commands and not groups:
        return app
    only = copy.copy(app)
    only.registered_commands, only.registered_groups = commands, groups
    return only


def main() -> None:
    """The ``twin`` script: run the command; when it allowed it (``allow_quick_exit``), end
    the process without the interpreter's teardown once everything is flushed."""
    # OpenBLAS starts a spinning thread per core when numpy loads: ~0.1 s of CPU for every
    # command, and none of them multiplies matrices large enough to gain from it
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        invoked(sys.argv)()
    except SystemExit as exc:
        if not quick_exit_allowed():
            raise
        hard_exit(exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1)
    if quick_exit_allowed():
        hard_exit(0)
