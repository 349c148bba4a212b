"""``twin import`` and ``twin demo``: data into the twin.

Only Typer and rich are imported here; the import pipeline (GDAL, shapely, pyproj), the demo
and the tiles load when their command runs, so ``twin import`` never pays for the tiles or
the server.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from twin.cli.common import (
    allow_quick_exit,
    console,
    out,
    progress_bar,
    settings,
    user_errors,
)
from twin.cli.users import cli_actor

if TYPE_CHECKING:
    from geodata.importers import ImportReport
    from geodata.pg import AnyConnection
    from twin.live_demo import LiveDemo
    from twin.runtime import Runtime
    from twin.settings import Settings


def _layer_names() -> list[str]:
    """``--layer`` completes to the import layers' registry (a wrong name gets the list too)."""
    from geodata.importers.layers import IMPORT_LAYERS

    return [*IMPORT_LAYERS, "dem", "events"]


def import_(
    path: Annotated[
        Path,
        typer.Argument(
            help="GeoJSON, GeoPackage, Shapefile (.shp/.zip), "
            "CityJSON (.city.json/.jsonl) or OSM PBF file; with --layer dem, a raster DEM "
            "(GeoTIFF or any GDAL raster, heights in metres)."
        ),
    ],
    layer: Annotated[
        str,
        typer.Option(
            help="Layer to import into (buildings, networks, network-nodes, furniture..., "
            "dem for a terrain raster, events: breaks and repairs of segments, CSV or GeoJSON "
            "with segment, kind, date); a wrong name lists them all.",
            autocompletion=_layer_names,
        ),
    ],
    crs: Annotated[
        str | None,
        typer.Option(help="Source CRS when the file has none or a wrong one, e.g. EPSG:2154."),
    ] = None,
    mapping: Annotated[
        Path | None,
        typer.Option(help="Mapping file (JSON/TOML) from your attribute names to the twin's."),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(help="Source name; re-importing the same source updates its features."),
    ] = None,
    visibility: Annotated[
        str | None,
        typer.Option(
            help="Who may see this dataset's features: public, agent or confidential "
            "(default: the layer's; kept on re-import unless given). Rebuild the tiles after."
        ),
    ] = None,
    licence: Annotated[
        str | None, typer.Option(help="Licence of the data, e.g. CC-BY-4.0 or ODbL-1.0.")
    ] = None,
    attribution: Annotated[
        str | None, typer.Option(help="Attribution the licence asks for, e.g. © City of X.")
    ] = None,
    reader: Annotated[
        str | None,
        typer.Option(
            help="Format reader: cityjson, osm, ogr, or a dotted path package.module:Class "
            "(default: chosen by the file name)."
        ),
    ] = None,
    vertical_datum: Annotated[
        str | None,
        typer.Option(
            "--vertical-datum",
            help="With --layer dem: the heights' vertical datum when the file's CRS does not "
            "state it (e.g. 'NGF-IGN69 (EPSG:5720)'); else the summary says 'unknown'.",
        ),
    ] = None,
) -> None:
    """Import a file into a layer: streamed, reprojected, all-or-nothing, idempotent."""
    from geodata.importers.lean import without_pandas

    if layer == "dem":
        _import_dem(path, crs, source, vertical_datum)
        allow_quick_exit()
        return
    with without_pandas():  # Arrow batches all the way (a reader of frames ends this)
        _import(path, layer, crs, mapping, source, visibility, licence, attribution, reader)
    allow_quick_exit()  # committed, reader closed, connections returned: nothing is left


def _import(
    path: Path,
    layer: str,
    crs: str | None,
    mapping: Path | None,
    source: str | None,
    visibility: str | None,
    licence: str | None,
    attribution: str | None,
    reader: str | None,
) -> None:
    from geodata.importers import ImportOptions, run_import
    from twin.runtime import Runtime

    with user_errors():
        s = settings()
        with Runtime(s) as rt:
            rt.check()
            options = ImportOptions.from_settings(
                s, licence=licence, attribution=attribution, visibility=visibility
            )
            with progress_bar(f"importing {path.name}") as advance:
                report = run_import(
                    s.sqlalchemy_url,  # psycopg alone: no SQLAlchemy (geodata.pg)
                    path,
                    layer=layer,
                    crs=crs,
                    mapping=mapping,
                    source=source,
                    options=options,
                    progress=advance,
                    reader=reader,
                    before_commit=audit_in,
                )
        for line in report.lines():
            out.print(line, highlight=False)


def _import_dem(
    path: Path, crs: str | None, source: str | None, vertical_datum: str | None
) -> None:
    """A raster DEM into the terrain table (:mod:`geodata.importers.dem`)."""
    from geodata.importers.dem import import_dem
    from twin.audit import record
    from twin.runtime import Runtime

    with user_errors():
        s = settings()
        with Runtime(s) as rt:
            rt.check()
            with console.status(f"importing {path.name} (DEM)"):
                report = import_dem(
                    rt.engine,
                    path,
                    crs=crs,
                    vertical_datum=vertical_datum,
                    source=source,
                    working_crs=s.crs,
                )
            try:
                with rt.engine.begin() as conn:
                    detail = {"layer": "dem", "source": report.source, "epsg": report.epsg}
                    record(conn, "import", cli_actor(), path.name, detail)
            except Exception as exc:
                logging.getLogger(__name__).warning("the import is not in the audit log: %s", exc)
        for line in report.lines():
            out.print(line, highlight=False)


def audit_import(rt: Runtime, report: ImportReport) -> None:
    """Log a committed import in a transaction of its own (see :func:`audit_in`)."""
    from geodata.pg import transaction

    try:
        with transaction(rt.settings.sqlalchemy_url) as conn:
            audit_in(conn, report)
    except Exception as exc:
        logging.getLogger(__name__).warning("the import is not in the audit log: %s", exc)


def audit_in(conn: AnyConnection, report: ImportReport) -> None:
    """Log an import in its transaction, under a savepoint: a failure to log is a
    warning and the import stands; an import that does not commit is not logged."""
    from geodata.pg import raw_connection
    from twin.audit import record

    counts = ("read", "imported", "inserted", "updated", "unchanged", "deleted")
    detail = {"layer": report.layer, "source": report.source, "reader": report.reader}
    detail |= {c: getattr(report, c) for c in counts}
    try:
        with raw_connection(conn).transaction():  # a savepoint inside the import's
            record(conn, "import", cli_actor(), Path(report.file).name, detail)
    except Exception as exc:
        logging.getLogger(__name__).warning("the import is not in the audit log: %s", exc)


def demo(
    serve_after: Annotated[bool, typer.Option("--serve", help="Serve afterwards.")] = False,
    host: Annotated[str | None, typer.Option(help="Address to bind with --serve.")] = None,
    port: Annotated[int | None, typer.Option(help="Port with --serve.")] = None,
    force: Annotated[bool, typer.Option(help="Rebuild even when nothing changed.")] = False,
    live: Annotated[
        bool,
        typer.Option(
            "--live",
            help="Bring it alive: broker, `twin bridge`, `twin simulate` and `twin gtfs rt` in "
            "the background (logs under TWIN_DATA_DIR/demo/logs) until Ctrl-C.",
        ),
    ] = False,
    synthetic_city: Annotated[
        int | None,
        typer.Option(
            "--synthetic-city",
            min=0,
            metavar="N",
            help="Also generate N synthetic buildings around the district, to try the twin at "
            "city scale (flagged synthetic, not real; 0 removes them; default: as last run).",
        ),
    ] = None,
) -> None:
    """Load the demo district (Helsinki, OpenStreetMap) and build what exists on top of it."""
    from geodata.demo import load_demo
    from geodata.importers.base import ImportOptions
    from sensors_bridge.simulate.demo import load_live_demo
    from twin.analysis.ageing.demo import load_demo_ageing
    from twin.cli.serve import serve_runtime
    from twin.cli.tiles import build_tiles
    from twin.rules.examples import load_examples
    from twin.runtime import Runtime

    with user_errors():
        s = settings()
        with Runtime(s) as rt:
            rt.migrate()
            with progress_bar("demo district") as advance:
                summary = load_demo(
                    rt.engine,
                    options=ImportOptions.from_settings(s),
                    progress=advance,
                    force=force,
                    synthetic_city=synthetic_city,
                )
            summary += load_demo_ageing(rt.engine)
            options = ImportOptions.from_settings(s)
            summary += load_live_demo(rt.engine, s.data_dir, options, force=force)
            summary += load_examples(rt.engine)
            for line in summary:
                out.print(line, highlight=False)
            build_tiles(rt)
            where = (host or s.host, port or s.port)
            alive = _start_live(s, where) if live else None
            try:
                if serve_after:
                    serve_runtime(rt, *where)
                elif alive is not None:
                    _wait_for_interrupt()
            finally:
                if alive is not None:
                    alive.stop()


def _start_live(s: Settings, where: tuple[str, int]) -> LiveDemo:
    from twin.live_demo import LiveDemo

    host = "127.0.0.1" if where[0] in ("0.0.0.0", "::") else where[0]
    alive = LiveDemo(s, url=f"http://{host}:{where[1]}")
    alive.start()
    console.print(f"live: bridge, simulator and GTFS-realtime poller started ({alive.log_dir})")
    return alive


def _wait_for_interrupt() -> None:
    import time

    console.print("live: Ctrl-C stops it")
    while True:
        time.sleep(3600)
