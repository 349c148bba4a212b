"""What every ``twin`` command shares: the consoles, the error boundary, the progress bar.

Kept free of heavy imports (no database, no GDAL, no tiles): every command module imports it,
and ``twin --help`` should cost only Typer and rich.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console

from geodata.errors import TwinError

if TYPE_CHECKING:
    from twin.settings import Settings

#: messages, progress and errors go to stderr; results (tables, tokens, summaries) to stdout
console = Console(stderr=True)
out = Console(soft_wrap=True)


#: set by a command that released everything it held (files, connections, child processes)
#: inside itself, so that its process may end without tearing the interpreter down
_quick_exit = False


def allow_quick_exit() -> None:
    """Let :func:`twin.cli.main` end this process without interpreter teardown (see there).

    Only for commands that hold nothing once they return: no multiprocessing pool (whose
    semaphores are released by finalizers), no temporary file left to a finalizer.
    """
    global _quick_exit
    _quick_exit = True


def quick_exit_allowed() -> bool:
    return _quick_exit


def hard_exit(status: int) -> NoReturn:
    """Flush the output and logs, then end the process at once.

    Tearing down an interpreter that has loaded pandas, pyarrow, GDAL and SQLAlchemy frees
    every object one by one: 0.15 to 0.3 s of CPU after the work is done (mypy's ``hard_exit``
    skips it for the same reason).
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):  # a closed pipe: nothing more to say
            stream.flush()
    os._exit(status)


@contextmanager
def user_errors() -> Iterator[None]:
    """Print a TwinError as one clear message and exit 1; Ctrl-C exits 130."""
    try:
        yield
    except TwinError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: nothing half-written was kept[/]")
        raise typer.Exit(130) from None


def settings() -> Settings:
    """The twin's settings, read now (a bad variable is a ConfigError inside user_errors)."""
    from twin.settings import get_settings

    return get_settings()


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int | None], None]]:
    """A rich progress bar fed by ``advance(n, total)`` callbacks from long work."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task(label, total=None)

        def advance(n: int, total: int | None) -> None:
            if total is not None:
                bar.update(task, total=total)
            bar.advance(task, n)

        yield advance
