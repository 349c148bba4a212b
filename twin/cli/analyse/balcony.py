"""``twin analyse balcony``: the view from a window before and after a scenario."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from twin.cli.analyse.common import JSON_HELP, analyse_app, run_cli


@analyse_app.command("balcony")
def balcony(
    heading: Annotated[
        float,
        typer.Option("--heading", help="Where the eye looks: degrees clockwise from TRUE north."),
    ],
    x: Annotated[float | None, typer.Option("--x", help="Working-CRS easting (m).")] = None,
    y: Annotated[float | None, typer.Option("--y", help="Working-CRS northing (m).")] = None,
    lon: Annotated[float | None, typer.Option("--lon", help="Longitude (degrees).")] = None,
    lat: Annotated[float | None, typer.Option("--lat", help="Latitude (degrees).")] = None,
    z: Annotated[
        float | None, typer.Option("--z", help="Eye height (m, as buildings' base_z).")
    ] = None,
    building: Annotated[
        int | None, typer.Option("--building", help="An existing building's id (with --floor).")
    ] = None,
    floor: Annotated[
        int | None,
        typer.Option("--floor", help="Floor of --building, 0 = ground; the eye 1.5 m above it."),
    ] = None,
    scenario: Annotated[
        str | None, typer.Option("--scenario", help="Scenario slug for 'after' (none: as before).")
    ] = None,
    width: Annotated[
        int | None, typer.Option("--width", help="Panorama width (px, even); height = width/2.")
    ] = None,
    radius: Annotated[
        float | None, typer.Option("--radius", help="Buildings and POIs within (m); default 500.")
    ] = None,
    fov_horizontal: Annotated[
        float | None,
        typer.Option("--fov-horizontal", help="Field of view's width (degrees); default 120."),
    ] = None,
    fov_vertical: Annotated[
        float | None,
        typer.Option("--fov-vertical", help="Field of view's height (degrees); default 90."),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for before.png, after.png (and compare.png)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Panoramas before and after (columns: azimuth from true north, heading centred; rows:
    elevation +90° to −90°), sky-view factor (svf_cos as UMEP/SOLWEIG, svf_solid_angle as RVT),
    blocked_hemisphere_share and blocked_view_share (by solid angle), POIs visible, eye_z (m)."""
    run_cli(
        "balcony",
        {
            "heading": heading,
            "x": x,
            "y": y,
            "lon": lon,
            "lat": lat,
            "z": z,
            "building": building,
            "floor": floor,
            "scenario": scenario,
            "width": width,
            "radius": radius,
            "fov_horizontal": fov_horizontal,
            "fov_vertical": fov_vertical,
        },
        as_json=as_json,
        out_dir=out_dir,
    )
