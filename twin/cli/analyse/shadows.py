"""``twin analyse shadows``: the buildings' shadow polygons at an instant."""

from __future__ import annotations

from typing import Annotated

import typer

from twin.cli.analyse.common import JSON_HELP, analyse_app, run_cli


@analyse_app.command("shadows")
def shadows(
    sun_elevation: Annotated[
        float | None,
        typer.Option("--sun-elevation", help="The sun's elevation (degrees above the horizon)."),
    ] = None,
    sun_azimuth: Annotated[
        float | None,
        typer.Option("--sun-azimuth", help="The sun's azimuth (degrees clockwise, TRUE north)."),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="ISO 8601 time instead of sun angles; naive = in TWIN_TIMEZONE."),
    ] = None,
    scenario: Annotated[
        str | None, typer.Option("--scenario", help="A scenario's slug: its shadows too.")
    ] = None,
    x: Annotated[
        float | None, typer.Option("--x", help="Working-CRS easting of the centre (m).")
    ] = None,
    y: Annotated[
        float | None, typer.Option("--y", help="Working-CRS northing of the centre (m).")
    ] = None,
    radius: Annotated[
        float | None, typer.Option("--radius", help="Buildings within this distance (m); 300.")
    ] = None,
    working_crs: Annotated[
        bool,
        typer.Option("--working-crs", help="Polygons in the working CRS (default: CRS84 lon/lat)."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Shadow polygons of the buildings on flat ground (each footprint swept by height /
    tan(elevation) away from the sun), baseline and, with --scenario, the scenario's, with
    what it adds and removes. GeoJSON in CRS84 (RFC 7946) unless --working-crs; the output's
    "crs" says which. The sun below the horizon gives sun_up false and no polygons."""
    run_cli(
        "shadows",
        {
            "sun_elevation": sun_elevation,
            "sun_azimuth": sun_azimuth,
            "at": at,
            "scenario": scenario,
            "x": x,
            "y": y,
            "radius": radius,
            "crs": "working" if working_crs else None,
        },
        as_json=as_json,
    )
