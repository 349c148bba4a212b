"""``twin analyse sunhours``: hours of direct sun on points over a day or a period."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from twin.cli.analyse.common import JSON_HELP, analyse_app, run_cli


def _numbers(value: str | None, what: str, kind: type = float) -> list[Any] | None:
    if value is None:
        return None
    try:
        return [kind(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter(f"{what}: comma-separated numbers, e.g. 12,15") from None


def _read(path: Path | None) -> Any:
    if path is None:
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise typer.BadParameter(f"--points {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(
            f"--points {path}: not JSON ({exc.msg}, line {exc.lineno})"
        ) from None


@analyse_app.command("sunhours")
def sunhours(
    points: Annotated[
        Path | None,
        typer.Option("--points", help="GeoJSON FeatureCollection of Points (lon/lat, or its crs)."),
    ] = None,
    day: Annotated[
        str | None, typer.Option("--date", help="The day, YYYY-MM-DD (needs TWIN_TIMEZONE).")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--start", help="ISO 8601 start, or HH:MM on --date.")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--end", help="ISO 8601 end, or HH:MM on --date.")
    ] = None,
    step: Annotated[
        float | None, typer.Option("--step", help="Time step (minutes); default 10.")
    ] = None,
    scenario: Annotated[
        str | None, typer.Option("--scenario", help="A scenario's slug: sun_hours_delta too.")
    ] = None,
    min_continuous: Annotated[
        float | None,
        typer.Option("--min-continuous", help="Sunny spells shorter than this do not count (min)."),
    ] = None,
    facades: Annotated[
        str | None, typer.Option("--facades", help="Building ids: points on their walls.")
    ] = None,
    roofs: Annotated[
        str | None, typer.Option("--roofs", help="Building ids: points on their roofs.")
    ] = None,
    grid: Annotated[
        str | None, typer.Option("--grid", help="Ground grid X0,Y0,X1,Y1 (working CRS, m).")
    ] = None,
    spacing: Annotated[
        float | None, typer.Option("--spacing", help="Grid and roof spacing (m); default 2.")
    ] = None,
    facade_spacing: Annotated[
        float | None, typer.Option("--facade-spacing", help="Along walls (m); default 3.")
    ] = None,
    margin: Annotated[
        float | None,
        typer.Option("--margin", help="Buildings this far around cast shadows (m); 300."),
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder for a grid's GeoTIFF and PNG heatmaps.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Hours of direct sun per point: sun-up steps at which the sun is in front of the
    point's surface and no building is in the way, times the step. Night never counts as
    shade. With --scenario, sun_hours (baseline), sun_hours_scenario and sun_hours_delta
    on the same points."""
    box = _numbers(grid, "--grid")
    if box is not None and len(box) != 4:
        raise typer.BadParameter("--grid: X0,Y0,X1,Y1 (four numbers, working CRS)")
    run_cli(
        "sunhours",
        {
            "points": _read(points),
            "date": day,
            "start": start,
            "end": end,
            "step": step,
            "scenario": scenario,
            "min_continuous": min_continuous,
            "facades": _numbers(facades, "--facades", int),
            "roofs": _numbers(roofs, "--roofs", int),
            "grid": box,
            "spacing": spacing,
            "facade_spacing": facade_spacing,
            "margin": margin,
        },
        as_json=as_json,
        out_dir=out_dir,
    )
