"""The walking circuit: named sights chained nearest-first, walked along footways."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from sqlalchemy import Connection, text

from geodata.demo.names import SOURCE
from geodata.walking import walk_graph

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
    graph = walk_graph(conn, sources=(SOURCE,))
    coords: list[NDArray[Any]] = []
    step_free = True
    for a, b in itertools.pairwise(stops):
        walk = graph.shortest_path(xy[a], xy[b]) if graph else None
        if walk is None:
            leg, step_free = np.array([xy[a], xy[b]]), False
        else:
            leg = walk.coords
        coords.append(leg if not coords else leg[1:])
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
                    "generated": "nearest sights along OpenStreetMap footways",
                },
                ensure_ascii=False,
            ),
        },
    )
    return RouteResult("centre-walk", names, length, step_free)
