"""One sun-hours run: gather the points, build the scenes, count the sun in each state, and
write the document (and a grid's files)."""

from __future__ import annotations

import math
from contextlib import ExitStack
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray

from geodata.errors import InputError
from twin.analysis.base import AnalysisContext, Result
from twin.analysis.rays import RayCaster, processes_for
from twin.analysis.scene import ScenarioRef
from twin.analysis.sunhours import (
    Period,
    SunHoursParams,
    buildings_by_id,
    hours,
    place_of,
    scenes_for,
    state_rows,
)
from twin.analysis.sunhours_core import drop_short_spells, step_times, sun_steps, sunlit
from twin.analysis.sunhours_raster import grid_files
from twin.analysis.sunpoints import (
    Points,
    facades,
    ground_grid,
    inside_buildings,
    place_points,
    read_points,
    roofs,
)


def _extent(
    given: list[dict[str, Any]], rows: list[tuple[Any, ...]], grid: Any
) -> tuple[float, float, float, float]:
    xs = [p["x"] for p in given]
    ys = [p["y"] for p in given]
    for r in rows:
        b = shapely.from_wkb(bytes(r[1])).bounds
        xs += [b[0], b[2]]
        ys += [b[1], b[3]]
    if grid is not None:
        xs += [grid[0], grid[2]]
        ys += [grid[1], grid[3]]
    return min(xs), min(ys), max(xs), max(ys)


def _check_owner(rows: list[tuple[Any, ...]], scenario: ScenarioRef | None) -> None:
    for r in rows:
        if r[4] is not None and (scenario is None or int(r[4]) != scenario.id):
            raise InputError(
                f"building {r[0]} is a scenario's proposal, not the baseline's: "
                "give --scenario with that scenario's slug"
            )


def run_sun_hours(
    ctx: AnalysisContext,
    params: SunHoursParams,
    period: Period,
    epsg: int,
    scenario: ScenarioRef | None,
) -> Result:
    given = read_points(params.points, epsg) if params.points else []
    fac_rows = buildings_by_id(ctx.engine, params.facades or [], "--facades")
    roof_rows = buildings_by_id(ctx.engine, params.roofs or [], "--roofs")
    _check_owner(fac_rows + roof_rows, scenario)
    x0, y0, x1, y1 = _extent(given, fac_rows + roof_rows, params.grid)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    radius = math.hypot(x1 - x0, y1 - y0) / 2 + params.margin
    ctx.progress(0.02, "building the scenes")
    scenes = scenes_for(ctx.engine, cx, cy, radius, scenario)
    procs = processes_for(ctx.settings.analysis_processes)
    storey = ctx.settings.storey_height
    with ExitStack() as stack:
        casters = {k: stack.enter_context(RayCaster(s, procs)) for k, s in scenes.items()}

        def home(r: tuple[Any, ...]) -> str:
            return "baseline" if r[4] is None else "scenario"

        parts: list[Points] = []
        if given:
            parts.append(place_points(scenes["baseline"], casters["baseline"], given))
        for r in fac_rows:
            parts.append(facades(scenes[home(r)], casters[home(r)], [r], params.facade_spacing,
                                 storey))  # fmt: skip
        for r in roof_rows:
            parts.append(roofs(scenes[home(r)], casters[home(r)], [r], params.spacing))
        grid_at = sum(len(p) for p in parts)
        grid_shape: tuple[int, int] | None = None
        cells = np.zeros(0, np.int64)
        if params.grid is not None:
            g, grid_shape, cells = ground_grid(
                scenes["baseline"], casters["baseline"], params.grid, params.spacing
            )
            parts.append(g)
        points = Points.concat(parts)
        ctx.progress(0.1, f"{len(points):,} points placed")
        times = step_times(period.start, period.end, params.step)
        sun = sun_steps(times, *place_of(epsg, cx, cy))
        min_steps = math.ceil(params.min_continuous / params.step) if params.min_continuous else 0
        results: dict[str, NDArray[np.float64]] = {}
        n_states = len(scenes)
        for k, (state, scene) in enumerate(scenes.items()):
            ref = scenario if state == "scenario" else None
            inside = inside_buildings(state_rows(ctx.engine, cx, cy, radius, ref), points, scene)
            if state == "baseline":
                _refuse_inside(points, inside)
            absent = (points.building >= 0) & ~np.isin(points.building, scene.building)
            span = (0.1 + 0.9 * k / n_states, 0.1 + 0.9 * (k + 1) / n_states)
            lit = sunlit(casters[state], points.origins, points.normals, sun["dirs"],
                         ctx.progress, span)  # fmt: skip
            lit = drop_short_spells(lit, sun["follows"], min_steps)
            h = hours(lit, params.step).astype(np.float64)
            h[(inside >= 0) | absent] = np.nan
            results[state] = h
    doc = _document(params, period, epsg, scenario, points, results, sun, len(times))
    files: dict[str, bytes] = {}
    if params.grid is not None and grid_shape is not None:
        sl = slice(grid_at, grid_at + len(cells))
        states = {k: v[sl] for k, v in results.items()}
        if "scenario" in states:
            states["delta"] = states["scenario"] - states["baseline"]
        files, doc["raster"] = grid_files(states, grid_shape, cells, params.grid, params.spacing,
                                          epsg, doc["period"]["sun_up_hours"])  # fmt: skip
    return Result(doc, files)


def _refuse_inside(points: Points, inside: NDArray[np.int64]) -> None:
    for i in np.flatnonzero(inside >= 0).tolist():
        lab = points.labels[i]
        if lab.get("kind") == "point":
            who = lab.get("id", lab.get("name"))
            raise InputError(
                f"point {who!r} at ({lab['x']:.2f}, {lab['y']:.2f}, {lab['z']:.2f}) is inside "
                f"building {int(inside[i])}: move it outside, give its z above the roof, or "
                "use --roofs / --facades for points on that building"
            )


def _num(v: float) -> float | None:
    return None if np.isnan(v) else round(float(v), 4)


def _document(
    params: SunHoursParams,
    period: Period,
    epsg: int,
    scenario: ScenarioRef | None,
    points: Points,
    results: dict[str, NDArray[np.float64]],
    sun: dict[str, NDArray[Any]],
    n_steps: int,
) -> dict[str, Any]:
    base = results["baseline"]
    after = results.get("scenario")
    entries = []
    for i, lab in enumerate(points.labels):
        e = {**lab, "sun_hours": _num(base[i])}
        if after is not None:
            e["sun_hours_scenario"] = _num(after[i])
            e["sun_hours_delta"] = _num(after[i] - base[i])
        entries.append(e)
    up_hours = len(sun["index"]) * params.step / 60.0
    summary: dict[str, Any] = {"points": len(points), "mean_sun_hours": _mean(base)}
    if after is not None:
        summary["mean_sun_hours_scenario"] = _mean(after)
        summary["mean_sun_hours_delta"] = _mean(after - base)
        summary["points_losing_sun"] = int(np.sum((after - base) < -1e-9))
    return {
        "period": {
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
            "step_minutes": params.step,
            "steps": n_steps,
            "sun_up_steps": len(sun["index"]),
            "sun_up_hours": up_hours,
        },
        "counting": "sun hours = lit sun-up steps x step; each step stands for the step "
        "around its instant; night never counts as shade",
        "min_continuous_minutes": params.min_continuous,
        "epsg": epsg,
        "coordinates": f"x, y, z in EPSG:{epsg}; facing: degrees clockwise from true north",
        "scenario": scenario.slug if scenario is not None else None,
        "summary": summary,
        "points": entries,
    }


def _mean(v: NDArray[np.float64]) -> float | None:
    return round(float(np.nanmean(v)), 4) if np.isfinite(v).any() else None
