"""Where a balcony's eye stands: the one Python place of the viewer's balcony camera rule
(viewer/src/modes/ProjectMode.ts ``balconyHeight`` and ``balcony``), so the server looks from
where the viewer's camera stands.

Height: ``base_z + floor x storey + EYE_HEIGHT_M``, the storey being ``height / levels`` when
the building knows its levels, else the twin's storey height (TWIN_STOREY_HEIGHT, 3 m by
default, the viewer's ``DEFAULT_STOREY``); floors are ``levels``, else ``height // storey``
(at least one), numbered from 0 (the ground floor).

Place: on the facade that faces the heading, a step (``FACADE_STEP_M``) outside the wall:
where a line from the footprint's centre along the heading leaves the building (the middle of
a wall the heading is square to, whatever the meridian convergence). The viewer's camera
stands at the facade point closest to the project site and sends its own position (lon, lat,
z), so the panoramas are taken from exactly where it stands.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from sqlalchemy import Engine, text

from geodata.errors import InputError, NotFound
from twin.analysis.place import resolve_place

#: eye height above the floor (the viewer's EYE_HEIGHT)
EYE_HEIGHT_M = 1.5
#: how far outside the wall the eye stands (the viewer's step outside the wall)
FACADE_STEP_M = 0.8


@dataclass(frozen=True)
class Storeys:
    storey: float
    floors: int


def storeys(height: float, levels: int | None, storey_height: float) -> Storeys:
    """The storey height and floor count the viewer's balcony camera uses."""
    if levels is not None and levels > 0:
        return Storeys(height / levels, int(levels))
    return Storeys(storey_height, max(1, math.floor(height / storey_height)))


def floor_eye_z(
    base_z: float, height: float, levels: int | None, floor: int, storey_height: float
) -> float:
    """The eye's height at ``floor`` (0 = ground floor); InputError out of range."""
    s = storeys(height, levels, storey_height)
    if not 0 <= floor < s.floors:
        raise InputError(
            f"floor {floor} is out of range: this building has floors 0 (ground) to "
            f"{s.floors - 1}; give --floor between them"
        )
    return base_z + floor * s.storey + EYE_HEIGHT_M


def facade_point(
    footprint: shapely.Geometry, grid_heading: float, taken: shapely.Geometry | None = None
) -> tuple[float, float]:
    """A step outside the wall that faces ``grid_heading`` (degrees clockwise from the
    working CRS's grid north), in the working CRS: where a line from the footprint's centre
    along the heading last leaves the footprint. When that step lands in ``taken`` (the
    neighbours at the eye's height: a terraced house's shared wall), the free facade point
    furthest along the heading, stepping out square to its wall."""
    d = np.array([math.sin(math.radians(grid_heading)), math.cos(math.radians(grid_heading))])
    c = np.array([footprint.centroid.x, footprint.centroid.y])
    reach = 2.0 * math.sqrt(max(footprint.envelope.area, 1.0)) + 10.0
    line = shapely.LineString([c, c + reach * d])
    crossings = shapely.get_coordinates(line.intersection(footprint.boundary))
    if len(crossings):
        x, y = crossings[int(np.argmax((crossings - c) @ d))] + FACADE_STEP_M * d
        if taken is None or not shapely.contains_xy(taken, x, y):
            return float(x), float(y)
    pts, steps, normals = _wall_samples(footprint)
    free = ~shapely.contains_xy(footprint, steps[:, 0], steps[:, 1])
    if taken is not None:
        free &= ~shapely.contains_xy(taken, steps[:, 0], steps[:, 1])
    if not free.any():
        raise InputError(
            "every wall of this building touches another building at that floor: give the "
            "balcony as a point outside the walls, --x X --y Y --z Z"
        )
    facing = free & (normals @ d > 0)
    pick = facing if facing.any() else free
    score = np.where(pick, (pts - c) @ d, -np.inf)
    x, y = steps[int(np.argmax(score))]
    return float(x), float(y)


def _wall_samples(footprint: shapely.Geometry) -> tuple[Any, Any, Any]:
    """Points every metre along the outer walls, each stepped out square to its wall, and
    the walls' outward normals."""
    pts, steps, normals = [], [], []
    for poly in getattr(footprint, "geoms", [footprint]):
        ring = np.asarray(shapely.orient_polygons(poly).exterior.coords)[:, :2]  # CCW outside
        for a, b in itertools.pairwise(ring):
            length = float(np.hypot(*(b - a)))
            if length < 1e-6:
                continue
            n = np.array([(b - a)[1], -(b - a)[0]]) / length
            t = (np.arange(0.5, max(length, 1.0)) / max(length, 1.0))[:, None]
            p = a + t * (b - a)
            pts.append(p)
            steps.append(p + FACADE_STEP_M * n)
            normals.append(np.repeat(n[None, :], len(p), axis=0))
    return np.concatenate(pts), np.concatenate(steps), np.concatenate(normals)


@dataclass(frozen=True)
class BuildingEye:
    x: float
    y: float
    z: float
    storey: float
    floors: int


def building_eye(
    engine: Engine, building: int, floor: int, heading: float, storey_height: float, epsg: int
) -> BuildingEye:
    """The balcony of an existing building's floor facing ``heading`` (degrees clockwise
    from true north; turned to the grid by the meridian convergence at the building)."""
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT ST_AsBinary(footprint), base_z, height, levels FROM buildings "
                "WHERE id = :id AND scenario_id IS NULL"
            ),
            {"id": building},
        ).first()
    if row is None:
        raise NotFound(
            f"no existing building {building}: give the id of a baseline building "
            "(GET /collections/buildings/items lists them) or a point with --x --y --z"
        )
    base_z, height = float(row[1] or 0.0), float(row[2] or 0.0)
    levels = int(row[3]) if row[3] is not None else None
    z = floor_eye_z(base_z, height, levels, floor, storey_height)
    s = storeys(height, levels, storey_height)
    footprint = shapely.from_wkb(bytes(row[0]))
    centre = footprint.centroid
    place = resolve_place(epsg, x=float(centre.x), y=float(centre.y))
    x, y = facade_point(footprint, place.grid_azimuth(heading), _neighbours(engine, building, z))
    return BuildingEye(x, y, z, s.storey, s.floors)


def _neighbours(engine: Engine, building: int, z: float) -> shapely.Geometry | None:
    """The other existing buildings beside this one that stand at height ``z``."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT ST_AsBinary(o.footprint) FROM buildings b JOIN buildings o ON "
                "o.id <> b.id AND o.scenario_id IS NULL AND ST_DWithin(o.footprint, b.footprint, "
                "5) AND :z BETWEEN o.base_z AND o.base_z + o.height WHERE b.id = :id"
            ),
            {"id": building, "z": z},
        ).all()
    if not rows:
        return None
    return shapely.union_all([shapely.from_wkb(bytes(r[0])) for r in rows])


def refuse_inside(
    engine: Engine, x: float, y: float, z: float, epsg: int, scenario_id: int | None
) -> None:
    """InputError when (x, y, z) is inside a building of the baseline or of the scenario."""
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT id, base_z, height FROM buildings WHERE "
                "ST_Intersects(footprint, ST_SetSRID(ST_MakePoint(:x, :y), :epsg)) "
                "AND :z BETWEEN base_z AND base_z + height "
                "AND (scenario_id IS NULL OR scenario_id = :sid) ORDER BY id LIMIT 1"
            ),
            {"x": x, "y": y, "z": z, "epsg": epsg, "sid": scenario_id},
        ).first()
    if row is not None:
        raise InputError(
            f"the point ({x:.2f}, {y:.2f}, {z:.2f}) is inside building {row[0]} (from "
            f"{float(row[1]):.1f} to {float(row[1]) + float(row[2]):.1f} m): move it outside "
            "the walls, or give --building ID --floor N to stand on its facade"
        )
