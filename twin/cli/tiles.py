"""``twin tiles build|list``: OGC 3D Tiles 1.1 of the twin (the tiles package loads only here)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from twin.cli.common import console, out, settings, user_errors

if TYPE_CHECKING:
    from twin.runtime import Runtime

tiles_app = typer.Typer(help="OGC 3D Tiles 1.1 of the twin, under $TWIN_DATA_DIR/tiles/{name}.")


def build_tiles(
    rt: Runtime,
    *,
    layer: str | None = None,
    scenario: str | None = None,
    full: bool = False,
    workers: int | None = None,
) -> None:
    """Build tilesets with one progress bar per tileset, then print what was done."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.table import Table

    from tiles.build import build_all

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(name: str, phase: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=2 * total)
            # two passes: assigning features to tiles, then meshing them
            bar.update(
                tasks[name],
                completed=done if phase == "index" else total + done,
                description=f"{name} ({'tiling' if phase == 'index' else 'meshing'})",
            )

        reports = build_all(
            rt.engine,
            rt.settings.tiles_dir,
            layer=layer,
            scenario=scenario,
            full=full,
            progress=progress,
            workers=workers,
        )
    table = Table(
        "tileset", "features", "tiles", "written", "reused", "MB", "first view", "seconds"
    )
    for r in reports:
        if r.empty:
            table.add_row(r.name, "0", "-", "-", "-", "-", "-", f"{r.seconds:.1f}")
            continue
        table.add_row(
            r.name,
            f"{r.features:,}",
            str(r.tiles),
            str(r.written),
            str(r.reused),
            f"{r.bytes / 1e6:.1f}",
            f"{r.first_view_fraction:.1%}",
            f"{r.seconds:.1f}",
        )
    out.print(table)
    console.print(f"tilesets written under {rt.settings.tiles_dir}")


@tiles_app.command("build")
def tiles_build(
    layer: Annotated[
        str | None,
        typer.Option(
            help="Only this layer or tileset: buildings, networks, water, gas, ..., furniture, "
            "cameras, scenario-SLUG, project-SLUG."
        ),
    ] = None,
    scenario: Annotated[
        str | None, typer.Option(help="Only the tileset of this scenario (slug or id).")
    ] = None,
    full: Annotated[
        bool,
        typer.Option("--full", help="Rebuild every tile, even those whose content did not change."),
    ] = False,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (default: one per core).")
    ] = None,
) -> None:
    """Build the tilesets incrementally: only tiles whose content changed are rewritten.

    Ctrl-C or a crash leaves the previous tilesets intact.
    """
    from twin.runtime import Runtime

    with user_errors(), Runtime(settings()) as rt:
        rt.check()
        build_tiles(rt, layer=layer, scenario=scenario, full=full, workers=workers)


@tiles_app.command("list")
def tiles_list() -> None:
    """List the built tilesets with their visibility, size and build time."""
    from rich.table import Table

    from tiles.catalog import list_tilesets

    with user_errors():
        table = Table("tileset", "visibility", "features", "MB", "built at")
        for e in list_tilesets(settings().tiles_dir):
            table.add_row(
                e.name, e.visibility, f"{e.features:,}", f"{e.bytes / 1e6:.1f}", e.built_at
            )
        out.print(table)
