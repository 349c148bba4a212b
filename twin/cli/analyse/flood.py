"""``twin analyse flood``: the area a water level floods, from a source point or a gauge."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from twin.cli.analyse.common import JSON_HELP, analyse_app, run_cli


def _xy(value: str | None) -> list[float] | None:
    if value is None:
        return None
    parts = value.split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        return [float(parts[0]), float(parts[1])]
    except ValueError:
        raise typer.BadParameter(f"{value!r}: give X,Y in the working CRS (m)") from None


@analyse_app.command("flood")
def flood(
    level: Annotated[
        float | None,
        typer.Option(
            "--level", help="Water level (m, in the DEM's vertical datum); with --source."
        ),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option("--source", help="X,Y where the water comes from (working CRS, m)."),
    ] = None,
    gauge: Annotated[
        str | None,
        typer.Option(
            "--gauge",
            help="Gauge device id: level = its zero_altitude_m + latest stage_m (m), from its "
            "own cell (instead of --level/--source).",
        ),
    ] = None,
    connectivity: Annotated[
        int | None,
        typer.Option("--connectivity", help="8 (default: corners connect) or 4 (edges only)."),
    ] = None,
    method: Annotated[
        str | None,
        typer.Option(
            "--method",
            help="connected (default: the flood) or threshold (every cell below the level; a "
            "labelled comparison only).",
        ),
    ] = None,
    tif: Annotated[
        Path | None, typer.Option("--tif", help="Write the depth raster (m, GeoTIFF) here.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Flooded area (m²), extent polygons (GeoJSON, CRS84 lon/lat), buildings with their
    deepest water (m), roads cut with their flooded length (m) and, for agents, the network
    assets under water. Cells at or below the level connected to the source flood."""
    raw: dict[str, Any] = {
        "level": level,
        "source": _xy(source),
        "gauge": gauge,
        "connectivity": connectivity,
        "method": method,
        "tif": True if tif is not None else None,
    }
    run_cli("flood", raw, as_json=as_json, files_to={"depth.tif": tif})
