"""The walking circuit: named sights chained nearest-first, walked along footways without
steps, and what it is for a wheelchair (the French rule's profile, :mod:`geodata.walk_profiles`):
accessible or not, and how much of it the data does not describe (no width, slope, kerb or
surface given)."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from sqlalchemy import Connection, text

from geodata.demo.names import SOURCE
from geodata.walk_network import walk_network
from geodata.walk_profiles import PROFILES, judge
from geodata.walk_routing import describe, route

#: the circuit's own profile: on foot, no steps
STEP_FREE = replace(PROFILES["foot"], name="step-free", steps=False)

_STOP_KINDS = (
    "attraction",
    "museum",
    "gallery",
    "memorial",
    "monument",
    "viewpoint",
    "place_of_worship",
    "theatre",
    "library",
    "castle",
    "artwork",
)


@dataclass
class RouteResult:
    slug: str
    stops: list[str]
    length_m: float
    step_free: bool
    #: every way of it passes the wheelchair profile's limits where they are known
    wheelchair: bool = False


def create_route(conn: Connection, srid: int, max_stops: int = 7) -> RouteResult | None:
    """A tourist circuit: named sights chained nearest-first, walked along footways and
    streets (steps avoided), stored with its ordered stops."""
    pois = conn.execute(
        text(
            "SELECT id, name, kind, ST_X(geom), ST_Y(geom) FROM pois WHERE source = :source "
            "AND scenario_id IS NULL AND name IS NOT NULL AND kind = ANY(CAST(:kinds AS text[])) "
            "ORDER BY source_id"
        ),
        {"source": SOURCE, "kinds": list(_STOP_KINDS)},
    ).all()
    if len(pois) < 2:
        return None
    xy = np.array([(p[3], p[4]) for p in pois])
    sights = [i for i, p in enumerate(pois) if p[2] != "artwork"] or list(range(len(pois)))
    centre = xy.mean(axis=0)
    current = min(sights, key=lambda i: (np.hypot(*(xy[i] - centre)), i))
    stops = [current]
    while len(stops) < max_stops:
        dist = np.hypot(*(xy - xy[current]).T)
        ok = [
            i
            for i in range(len(pois))
            if i not in stops
            and 120.0 <= dist[i] <= 600.0
            and all(np.hypot(*(xy[i] - xy[j])) >= 120.0 for j in stops)
        ]
        if not ok:
            break
        current = min(ok, key=lambda i: (dist[i] * (1.0 if i in sights else 1.5), i))
        stops.append(current)
    net = walk_network(conn, sources=(SOURCE,))
    j = judge(net, STEP_FREE) if net else None
    wheel = judge(net, PROFILES["wheelchair"]) if net else None
    coords: list[NDArray[Any]] = []
    eids: list[int] = []
    step_free = net is not None
    for a, b in itertools.pairwise(stops):
        leg = route(net, j, xy[a], xy[b]) if net and j else None
        if leg is None:
            line_ab, step_free = np.array([xy[a], xy[b]]), False
        else:
            line_ab = leg.walk.coords
            eids += leg.eids
        coords.append(line_ab if not coords else line_ab[1:])
    wheelchair = bool(step_free and wheel is not None and not wheel.forbidden()[eids].any())
    unknown = describe(net, wheel, eids)["unknown"] if net and wheel else {}
    line = np.vstack(coords)
    line = line[np.r_[True, np.abs(np.diff(line, axis=0)).sum(axis=1) > 0.01]]
    geom = shapely.linestrings(np.column_stack([line, np.zeros(len(line))]))
    length = float(shapely.length(geom))
    names = [pois[i][1] for i in stops]
    conn.execute(
        text(
            "INSERT INTO routes (slug, name, geom, stops, accessible, attrs) VALUES "
            "('centre-walk', :name, ST_SetSRID(ST_GeomFromWKB(:g), :srid), CAST(:stops AS jsonb), "
            ":acc, CAST(:attrs AS jsonb)) ON CONFLICT (slug) DO UPDATE SET name = EXCLUDED.name, "
            "geom = EXCLUDED.geom, stops = EXCLUDED.stops, accessible = EXCLUDED.accessible, "
            "attrs = EXCLUDED.attrs"
        ),
        {
            "name": "Helsinki centre walk",
            "g": shapely.to_wkb(geom),
            "srid": srid,
            "stops": json.dumps([int(pois[i][0]) for i in stops]),
            "acc": step_free,
            "attrs": json.dumps(
                {
                    "length_m": round(length),
                    "minutes": round(length / 75.0),
                    "stop_names": names,
                    "step_free": step_free,
                    "wheelchair": wheelchair,
                    "wheelchair_unknown_m": {k: v["length_m"] for k, v in unknown.items()},
                    "generated": "nearest sights along OpenStreetMap footways",
                },
                ensure_ascii=False,
            ),
        },
    )
    return RouteResult("centre-walk", names, length, step_free, wheelchair)
