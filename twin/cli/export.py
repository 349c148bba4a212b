"""``twin export LAYER``: a layer out of the twin as GeoPackage, GeoJSON, CityJSON,
CityJSONSeq or CSV, whole or cut by bbox, CQL2 filter and scenario (:mod:`geodata.export`).

The command runs as an admin of the local twin, through the same plan as the HTTP downloads:
rows of confidential datasets never leave, whoever asks. The export is in the audit log.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from twin.cli.common import allow_quick_exit, console, progress_bar, settings, user_errors
from twin.cli.users import cli_actor

FORMATS = ("gpkg", "geojson", "cityjson", "cityjsonseq", "csv")


def export_(
    layer: Annotated[str, typer.Argument(help="The layer (collection) to export, e.g. buildings.")],
    format: Annotated[
        str, typer.Option("--format", "-f", help=f"One of {', '.join(FORMATS)}.")
    ] = "gpkg",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="File to write; standard output when omitted (not gpkg)."
        ),
    ] = None,
    scenario: Annotated[
        str | None,
        typer.Option(help="Export the layer as this scenario shows it (default: the baseline)."),
    ] = None,
    crs: Annotated[
        str | None,
        typer.Option(
            help="CRS to write, e.g. EPSG:4326 or EPSG:3857 (default: CRS84 for geojson and "
            "csv, the twin's working CRS for the others)."
        ),
    ] = None,
    bbox: Annotated[
        str | None,
        typer.Option(help="minx,miny,maxx,maxy: lon,lat unless --bbox-crs says otherwise."),
    ] = None,
    bbox_crs: Annotated[
        str | None, typer.Option(help="CRS of --bbox, e.g. EPSG:2154 (default: CRS84).")
    ] = None,
    filter_: Annotated[
        str | None,
        typer.Option("--filter", help='A CQL2 text filter, e.g. "height > 20".'),
    ] = None,
) -> None:
    """Export a layer (baseline, or a --scenario) to a file or standard output."""
    from dataclasses import replace

    from geodata import export
    from geodata.access import Principal
    from geodata.errors import InputError
    from geodata.export.plan import count_rows
    from geodata.feature_params import parse_bbox
    from geodata.feature_query import ItemQuery, build_filter
    from geodata.layers import get_layer
    from geodata.working_crs import get_working_crs
    from twin.audit import record
    from twin.runtime import Runtime

    with user_errors():
        if format not in FORMATS:
            raise InputError(f"unknown --format {format!r}: choose one of {', '.join(FORMATS)}")
        if output is None and format == "gpkg":
            raise InputError("a GeoPackage is a file: give --output FILE.gpkg")
        box = parse_bbox(bbox, crs=bbox_crs)
        with Runtime(settings()) as rt:
            rt.check()
            who = Principal(cli_actor(), "admin")
            with rt.engine.connect() as conn:
                query = ItemQuery(
                    filter=build_filter(
                        get_layer(layer), filter_, None, None, get_working_crs(conn)
                    )
                )
                plan = export.plan_export(
                    conn,
                    who,
                    layer,
                    format,
                    query=query,
                    scenario=scenario,
                    bbox=box,
                    crs=crs,
                    any_crs=True,
                )
            if output is None:
                export.write_to(rt.engine, plan, sys.stdout.buffer)
                sys.stdout.buffer.flush()
            else:
                total = count_rows(rt.engine, plan)
                with progress_bar(f"{plan.title} as {format}") as advance:
                    advance(0, total)
                    export.write(
                        rt.engine, replace(plan, progress=lambda n: advance(n, total)), output
                    )
            detail = {"layer": layer, "format": format, "scenario": scenario, "crs": plan.out.uri}
            with rt.engine.begin() as conn:
                record(conn, "export", cli_actor(), str(output or "stdout"), detail)
        if output is not None:
            console.print(f"wrote {output} ({output.stat().st_size:,} bytes, {plan.out.uri})")
    allow_quick_exit()
