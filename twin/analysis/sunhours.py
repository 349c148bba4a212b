"""Direct-sun hours on points over a day or a period, for the baseline and a scenario on the
same points: points given as GeoJSON, on the facades of buildings (the sun counted only in
front of each wall), on a ground grid (with a GeoTIFF and PNG heatmaps) or on roofs.

The counting is :mod:`twin.analysis.sunhours_core`; the points :mod:`twin.analysis.sunpoints`;
rays are the scene's (:mod:`twin.analysis.scene`, :class:`twin.analysis.rays.RayCaster`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from pydantic import Field
from sqlalchemy import Engine, text

from geodata.errors import InputError, NotFound
from geodata.working_crs import require_working_crs
from twin.analysis.base import Analysis, AnalysisContext, Params, Result
from twin.analysis.place import resolve_place
from twin.analysis.scene import ScenarioRef, Scene, build_scene, load_buildings
from twin.analysis.sunlight import scenario_ref, scenario_visibility
from twin.analysis.times import day_bounds, parse_instant

#: buildings this far beyond the points cast shadows on them (a 30 m block at 6° elevation
#: throws its shadow 285 m)
DEFAULT_MARGIN_M = 300.0


class SunHoursParams(Params):
    points: dict[str, Any] | None = Field(
        None, description="GeoJSON FeatureCollection of Points (CRS84 unless its crs says)"
    )
    facades: list[int] | None = Field(None, description="building ids: points on their walls")
    roofs: list[int] | None = Field(None, description="building ids: points on their roofs")
    grid: tuple[float, float, float, float] | None = Field(
        None, description="ground grid X0, Y0, X1, Y1 (working CRS, m)"
    )
    spacing: float = Field(2.0, ge=0.25, le=100, description="grid and roof spacing (m)")
    facade_spacing: float = Field(3.0, ge=0.25, le=100, description="along walls (m)")
    date: dt.date | None = Field(None, description="the day (YYYY-MM-DD, in TWIN_TIMEZONE)")
    start: str | None = Field(None, description="ISO 8601 start, or HH:MM on --date")
    end: str | None = Field(None, description="ISO 8601 end, or HH:MM on --date")
    step: float = Field(10.0, ge=1, le=120, description="time step (minutes)")
    min_continuous: float = Field(
        0.0, ge=0, le=1440, description="shorter sunny spells do not count (minutes)"
    )
    scenario: str | None = Field(None, description="a scenario's slug: its sun hours too")
    margin: float = Field(DEFAULT_MARGIN_M, ge=0, le=3000, description="shadow casters (m)")


@dataclass
class Period:
    start: datetime
    end: datetime


def period_of(params: SunHoursParams, timezone: str | None) -> Period:
    """The period: --date's civil day (TWIN_TIMEZONE), or --start and --end (each a full
    ISO time, or a time of day on --date)."""

    def instant(value: str, what: str) -> datetime:
        if "T" not in value and "-" not in value[:5] and ":" in value:
            if params.date is None:
                raise InputError(f"--{what} {value}: a time of day needs --date YYYY-MM-DD")
            try:
                clock = time.fromisoformat(value)
            except ValueError:
                raise InputError(f"--{what} {value!r}: write HH:MM or an ISO 8601 time") from None
            at = datetime.combine(params.date, clock)
            return parse_instant(at, timezone, f"--{what} {value}")
        return parse_instant(value, timezone, f"--{what}")

    if params.start is not None and params.end is not None:
        start, end = instant(params.start, "start"), instant(params.end, "end")
    elif params.date is not None:
        first, last = day_bounds(params.date, timezone, "--date")
        start = instant(params.start, "start") if params.start else first
        end = instant(params.end, "end") if params.end else last
    else:
        raise InputError("give the period: --date YYYY-MM-DD, or --start ISO --end ISO")
    if end <= start:
        raise InputError(
            f"the period ends ({end.isoformat()}) before it starts ({start.isoformat()})"
        )
    if (end - start).days > 366:
        raise InputError("the period is longer than a year: split it")
    if (end - start).total_seconds() < params.step * 60:
        raise InputError(f"the period is shorter than one --step of {params.step:g} minutes")
    return Period(start, end)


def buildings_by_id(engine: Engine, ids: list[int], what: str) -> list[tuple[Any, ...]]:
    """(id, footprint WKB, base_z, height, scenario_id) of these buildings; NotFound names
    the unknown ids."""
    if not ids:
        return []
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, ST_AsBinary(footprint), base_z, height, scenario_id FROM buildings "
                "WHERE id = ANY(:ids) ORDER BY id"
            ),
            {"ids": list(ids)},
        ).all()
    missing = sorted(set(ids) - {int(r[0]) for r in rows})
    if missing:
        raise NotFound(
            f"{what}: no building {', '.join(map(str, missing))} (ids as "
            "/collections/buildings/items gives them)"
        )
    return [tuple(r) for r in rows]


def check_sources(params: SunHoursParams) -> None:
    if not (params.points or params.facades or params.roofs or params.grid):
        raise InputError(
            "give the points: --points FILE.geojson, --facades IDS, --roofs IDS or "
            "--grid X0,Y0,X1,Y1 --spacing M"
        )


class SunHours(Analysis[SunHoursParams]):
    """Hours of direct sun on points over a day or a period at a stated step, baseline and
    scenario on the same points; night never counts as shade."""

    name = "sunhours"
    title = "Direct-sun hours on points, facades, a ground grid or roofs (baseline and scenario)"
    Params = SunHoursParams
    layers: ClassVar[tuple[str, ...]] = ("buildings",)
    #: "terrain": the scene's ground is the DEM
    tables: ClassVar[tuple[str, ...]] = (
        "buildings",
        "scenarios",
        "scenario_removals",
        "projects",
        "terrain",
    )
    slow: ClassVar[bool] = True
    example: ClassVar[dict[str, Any]] = {
        "points": {"type": "FeatureCollection", "features": [{"type": "Feature", "id": "square",
                   "geometry": {"type": "Point", "coordinates": [24.9458, 60.1712]},
                   "properties": {}}]},
        "start": "2026-06-21T09:00:00+03:00", "end": "2026-06-21T15:00:00+03:00", "step": 30,
    }  # fmt: skip

    def visibility(self, ctx: AnalysisContext, params: SunHoursParams) -> str:
        return scenario_visibility(ctx.engine, params.scenario)

    def run(self, ctx: AnalysisContext, params: SunHoursParams) -> Result:
        from twin.analysis.sunhours_run import run_sun_hours

        check_sources(params)
        period = period_of(params, ctx.settings.timezone)
        with ctx.engine.connect() as conn:
            epsg = require_working_crs(conn)
        scenario = scenario_ref(ctx.engine, params.scenario)
        return run_sun_hours(ctx, params, period, epsg, scenario)


def scenes_for(
    engine: Engine, x: float, y: float, radius: float, scenario: ScenarioRef | None
) -> dict[str, Scene]:
    """The baseline's scene and, with a scenario, the scenario's: same centre, same frame,
    so points placed in one are the same points in the other."""
    out = {"baseline": build_scene(engine, x, y, radius=radius)}
    if scenario is not None:
        z0 = out["baseline"].ground_z
        out["scenario"] = build_scene(engine, x, y, radius=radius, scenario=scenario, ground_z=z0)
    return out


def state_rows(
    engine: Engine, x: float, y: float, radius: float, scenario: ScenarioRef | None
) -> list[tuple[Any, ...]]:
    return load_buildings(engine, x, y, radius, scenario)


def place_of(epsg: int, x: float, y: float) -> tuple[float, float]:
    p = resolve_place(epsg, x=x, y=y)
    return p.lat, p.lon


def hours(lit_steps: NDArray[np.bool_], step: float) -> NDArray[np.float64]:
    out: NDArray[np.float64] = lit_steps.sum(axis=1) * step / 60.0
    return out
