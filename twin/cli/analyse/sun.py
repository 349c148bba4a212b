"""``twin analyse sun``: the sun's position at a place and time."""

from __future__ import annotations

from typing import Annotated

import typer

from twin.cli.analyse.common import JSON_HELP, analyse_app, run_cli


@analyse_app.command("sun")
def sun(
    at: Annotated[
        str, typer.Option("--at", help="ISO 8601 time; naive = in TWIN_TIMEZONE (else refused).")
    ],
    x: Annotated[float | None, typer.Option("--x", help="Working-CRS easting (m).")] = None,
    y: Annotated[float | None, typer.Option("--y", help="Working-CRS northing (m).")] = None,
    lat: Annotated[float | None, typer.Option("--lat", help="Latitude (degrees).")] = None,
    lon: Annotated[float | None, typer.Option("--lon", help="Longitude (degrees).")] = None,
    pressure: Annotated[
        float | None, typer.Option("--pressure", help="Air pressure (Pa); default 101325.")
    ] = None,
    temperature: Annotated[
        float | None, typer.Option("--temperature", help="Air temperature (°C); default 12.")
    ] = None,
    delta_t: Annotated[
        float | None, typer.Option("--delta-t", help="ΔT = TT − UT (s); default 67.")
    ] = None,
    altitude: Annotated[
        float | None, typer.Option("--altitude", help="Height above sea level (m); default 0.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """The sun's azimuth (degrees clockwise from true north; grid_azimuth in the working
    CRS), zenith and elevation, apparent (refracted) and geometric, by NREL's SPA."""
    run_cli(
        "sun",
        {
            "at": at,
            "x": x,
            "y": y,
            "lat": lat,
            "lon": lon,
            "pressure": pressure,
            "temperature": temperature,
            "delta_t": delta_t,
            "altitude": altitude,
        },
        as_json=as_json,
    )
