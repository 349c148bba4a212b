"""Shadows of buildings on flat ground at an instant, for the baseline and a scenario.

A building of height h throws its footprint h / tan(elevation) metres away from the sun;
its shadow is the footprint swept along that vector: the union of the footprint, its
translated copy and, for every edge of every ring, the parallelogram the edge sweeps (the
convex hull of the edge and its translated copy). The buildings' shadows are then unioned.
This is done with shapely in the working CRS, so the sun's TRUE azimuth (SPA's) is first
turned into a grid azimuth by the meridian convergence (:mod:`twin.analysis.place`).

LoD1 (footprint and height) for every building: a LoD2 roof lower than its stored height
casts a shadow a little shorter than this one (the tallest point of the roof sets it).
The sun below the horizon is an answer (``sun_up: false``, no polygons), never an error.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import shapely
from pydantic import Field
from shapely.geometry import mapping
from sqlalchemy import Engine, text

from geodata.crs import transformer
from geodata.errors import InputError
from geodata.working_crs import require_working_crs
from twin.analysis.base import Analysis, AnalysisContext, Params, Result
from twin.analysis.place import resolve_place
from twin.analysis.scene import ScenarioRef, load_buildings
from twin.analysis.sun import sun_angles
from twin.analysis.sunlight import scenario_ref, scenario_visibility
from twin.analysis.times import parse_instant

#: the default area: this far around (x, y)
DEFAULT_RADIUS_M = 300.0
#: below this elevation (degrees) shadows run past any area (57 times the height at 1°)
MIN_ELEVATION = 1.0


def shadow_vector(grid_azimuth: float, elevation: float) -> tuple[float, float]:
    """Metres of shadow per metre of height, as an (east, north) vector of the working CRS:
    away from the sun (whose grid azimuth is given, degrees clockwise from grid north)."""
    length = 1.0 / math.tan(math.radians(elevation))
    away = math.radians(grid_azimuth + 180.0)
    return length * math.sin(away), length * math.cos(away)


def building_shadow(footprint: shapely.Geometry, dx: float, dy: float) -> shapely.Geometry:
    """The footprint swept by (dx, dy): the footprint, its copy moved by (dx, dy) and the
    parallelogram each ring edge sweeps, unioned."""
    rings = shapely.get_rings(shapely.get_parts(footprint))
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    same = ring[:-1] == ring[1:]
    p, q = coords[:-1][same], coords[1:][same]
    d = np.array([dx, dy])
    sweep = np.abs((q[:, 0] - p[:, 0]) * dy - (q[:, 1] - p[:, 1]) * dx) > 1e-9
    p, q = p[sweep], q[sweep]
    quads = shapely.polygons(np.stack([p, q, q + d, p + d, p], axis=1)) if len(p) else []
    moved = shapely.transform(footprint, lambda c: c + d)
    return shapely.union_all([footprint, moved, *quads])


def shadows_of(
    rows: list[tuple[Any, ...]], dx: float, dy: float
) -> tuple[list[tuple[int, float, shapely.Geometry]], shapely.Geometry, shapely.Geometry]:
    """Each building's shadow (id, height, polygon), their union, and the footprints' union,
    for ``rows`` as :func:`twin.analysis.scene.load_buildings` gives them."""
    each = []
    for row in rows:
        footprint = shapely.make_valid(shapely.from_wkb(bytes(row[1])))
        h = float(row[3])
        each.append((int(row[0]), h, building_shadow(footprint, dx * h, dy * h)))
    union = shapely.union_all([g for _, _, g in each]) if each else shapely.Polygon()
    footprints = shapely.union_all([shapely.from_wkb(bytes(r[1])) for r in rows])
    return each, union, footprints


class ShadowParams(Params):
    sun_elevation: float | None = Field(
        None, ge=-90, le=90, description="the sun's elevation (degrees above the horizon)"
    )
    sun_azimuth: float | None = Field(
        None, ge=0, lt=360, description="the sun's azimuth (degrees clockwise from TRUE north)"
    )
    at: str | None = Field(None, description="ISO 8601 time (instead of sun angles)")
    scenario: str | None = Field(None, description="a scenario's slug: its shadows too")
    x: float | None = Field(
        None, allow_inf_nan=False, description="working-CRS easting of the area's centre (m)"
    )
    y: float | None = Field(
        None, allow_inf_nan=False, description="working-CRS northing of the area's centre (m)"
    )
    radius: float = Field(
        DEFAULT_RADIUS_M, gt=0, le=5000, description="buildings within this distance (m)"
    )
    crs: str = Field(
        "crs84",
        pattern="^(crs84|working)$",
        description="polygons in CRS84 lon/lat (RFC 7946) or in the working CRS",
    )


def _centre(engine: Engine, params: ShadowParams) -> tuple[float, float]:
    if (params.x is None) != (params.y is None):
        raise InputError("give both --x and --y (working CRS), or neither (the twin's centre)")
    if params.x is not None and params.y is not None:
        return params.x, params.y
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(ST_Extent(footprint)::geometry)"
                " AS c FROM buildings WHERE scenario_id IS NULL) e"
            )
        ).first()
    if row is None or row[0] is None:
        raise InputError("the twin has no buildings yet: give --x and --y, or import some")
    return float(row[0]), float(row[1])


def _sun(ctx: AnalysisContext, params: ShadowParams, lat: float, lon: float) -> dict[str, Any]:
    explicit = (params.sun_elevation is not None, params.sun_azimuth is not None)
    if explicit[0] != explicit[1]:
        raise InputError("give both --sun-elevation and --sun-azimuth (degrees), or --at")
    if explicit[0] == (params.at is not None):
        raise InputError(
            "give the sun: --sun-elevation DEG --sun-azimuth DEG, or --at ISO (not both)"
        )
    if params.at is not None:
        at = parse_instant(params.at, ctx.settings.timezone, "--at")
        angles = sun_angles([at], lat, lon)
        return {
            "at": at.isoformat(),
            "azimuth": float(angles["azimuth"][0]),
            "elevation": float(angles["apparent_elevation"][0]),
            "elevation_is": "apparent (refracted), NREL SPA",
        }
    assert params.sun_azimuth is not None and params.sun_elevation is not None
    return {"azimuth": params.sun_azimuth, "elevation": params.sun_elevation}


def _collection(
    each: list[tuple[int, float, shapely.Geometry]], out: Any, length: float
) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": bid,
                "geometry": mapping(out(g)),
                "properties": {
                    "building_id": bid,
                    "height": h,
                    "shadow_length": round(h * length, 3),
                },
            }
            for bid, h, g in each
            if not g.is_empty
        ],
    }


class Shadows(Analysis[ShadowParams]):
    """Shadow polygons of the buildings at an instant (or for explicit sun angles), on flat
    ground: the baseline's and, with a scenario, the scenario's, what it adds and takes away."""

    name = "shadows"
    title = "Shadows of the buildings at an instant, baseline and scenario (GeoJSON polygons)"
    Params = ShadowParams
    layers: ClassVar[tuple[str, ...]] = ("buildings",)
    tables: ClassVar[tuple[str, ...]] = ("buildings", "scenarios", "scenario_removals", "projects")
    get: ClassVar[bool] = True
    example: ClassVar[dict[str, Any]] = {"at": "2026-06-21T15:00:00+03:00", "radius": 200}

    def visibility(self, ctx: AnalysisContext, params: ShadowParams) -> str:
        return scenario_visibility(ctx.engine, params.scenario)

    def run(self, ctx: AnalysisContext, params: ShadowParams) -> Result:
        with ctx.engine.connect() as conn:
            epsg = require_working_crs(conn)
        x, y = _centre(ctx.engine, params)
        place = resolve_place(epsg, x=x, y=y)
        if not (math.isfinite(place.lat) and math.isfinite(place.convergence)):
            raise InputError(f"({x}, {y}) is not a place EPSG:{epsg} can put on the earth")
        sun = _sun(ctx, params, place.lat, place.lon)
        scenario = scenario_ref(ctx.engine, params.scenario)
        grid_az = place.grid_azimuth(sun["azimuth"])
        doc: dict[str, Any] = {
            **sun,
            "azimuth_is": "degrees clockwise from true north",
            "grid_azimuth": grid_az,
            "meridian_convergence": place.convergence,
            "x": x,
            "y": y,
            "radius": params.radius,
            "epsg": epsg,
            "crs": "CRS84 (RFC 7946 lon/lat)" if params.crs == "crs84" else f"EPSG:{epsg}",
            "sun_up": sun["elevation"] > 0,
        }
        if not doc["sun_up"]:
            doc["note"] = "the sun is below the horizon: no shadows of buildings, only night"
            return Result(doc)
        if sun["elevation"] < MIN_ELEVATION:
            doc["note"] = (
                f"the sun is less than {MIN_ELEVATION:g}° above the horizon: shadows run more "
                "than 57 times the buildings' heights, past any area; none are drawn"
            )
            return Result(doc)
        ux, uy = shadow_vector(grid_az, sun["elevation"])
        length = math.hypot(ux, uy)
        doc["shadow_length_per_metre"] = length
        to_out = _output(epsg, params.crs)
        states: dict[str, ScenarioRef | None] = {"baseline": None}
        if scenario is not None:
            states["scenario"] = scenario
        unions: dict[str, shapely.Geometry] = {}
        areas: dict[str, Any] = {}
        for state, ref in states.items():
            rows = load_buildings(ctx.engine, x, y, params.radius, ref)
            each, union, footprints = shadows_of(rows, ux, uy)
            ctx.progress(0.4 if state == "baseline" else 0.8, f"{state} shadows")
            doc[state] = _collection(each, to_out, length)
            unions[state] = union
            areas[state] = {
                "buildings": len(rows),
                "shadow_area_m2": round(union.area, 2),
                "ground_shadow_area_m2": round(union.difference(footprints).area, 2),
            }
        if scenario is not None:
            added = unions["scenario"].difference(unions["baseline"])
            lifted = unions["baseline"].difference(unions["scenario"])
            doc["added"] = {"type": "Feature", "geometry": mapping(to_out(added)),
                            "properties": {"area_m2": round(added.area, 2)}}  # fmt: skip
            doc["removed"] = {"type": "Feature", "geometry": mapping(to_out(lifted)),
                              "properties": {"area_m2": round(lifted.area, 2)}}  # fmt: skip
            delta = unions["scenario"].area - unions["baseline"].area
            areas["shadow_area_delta_m2"] = round(delta, 2)
        doc["areas"] = areas
        return Result(doc)


def _output(epsg: int, crs: str) -> Any:
    if crs == "working":
        return lambda g: shapely.set_precision(g, 0.001)
    tr = transformer(epsg, 4326)

    def to_lonlat(g: shapely.Geometry) -> shapely.Geometry:
        moved = shapely.transform(g, lambda c: np.column_stack(tr.transform(c[:, 0], c[:, 1])))
        return shapely.transform(moved, lambda c: np.round(c, 8))

    return to_lonlat
