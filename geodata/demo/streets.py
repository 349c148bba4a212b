"""The district's streets as a graph of edges between junctions (where mains are laid)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from sqlalchemy import Connection, text

from geodata.demo.names import SOURCE
from geodata.demo.network_specs import UTILITY_ROADS


@dataclass
class Streets:
    """The district's streets as a graph: edges between junctions, in a canonical order."""

    edges: NDArray[Any]  # LineStrings, working CRS
    start: NDArray[Any]  # node index of each edge's first point
    end: NDArray[Any]
    nodes: NDArray[Any]  # (n, 2) node coordinates
    degree: NDArray[Any]
    #: per edge: (name, highway, source id) of the nearest OSM road
    road_info: list[tuple[str | None, str, str]]
    keys: NDArray[Any]  # per edge: a stable hash of its geometry (for source ids)


def _hash(values: NDArray[Any]) -> str:
    return hashlib.blake2b(np.ascontiguousarray(values).tobytes(), digest_size=6).hexdigest()


def street_graph(conn: Connection) -> Streets:
    """Node the demo's street centrelines at every crossing and merge them between junctions."""
    rows = conn.execute(
        text(
            "SELECT source_id, attrs->>'highway', name, ST_AsBinary(geom) FROM ground "
            "WHERE source = :source AND scenario_id IS NULL AND kind IN ('road', 'pedestrian') "
            "AND GeometryType(geom) IN ('LINESTRING', 'MULTILINESTRING') "
            "AND attrs->>'highway' = ANY(CAST(:classes AS text[])) "
            "AND coalesce(attrs->>'tunnel', 'no') = 'no' ORDER BY source_id"
        ),
        {"source": SOURCE, "classes": sorted(UTILITY_ROADS)},
    ).all()
    if not rows:
        return Streets(
            np.array([], dtype=object),
            np.zeros(0, int),
            np.zeros(0, int),
            np.zeros((0, 2)),
            np.zeros(0, int),
            [],
            np.array([]),
        )
    roads = shapely.from_wkb([bytes(r[3]) for r in rows])
    merged = shapely.line_merge(shapely.union_all(roads))
    edges = shapely.get_parts(merged)
    edges = edges[shapely.length(edges) > 1.0]
    first = shapely.get_coordinates(shapely.get_point(edges, 0))
    last = shapely.get_coordinates(shapely.get_point(edges, -1))
    order = np.lexsort(
        (
            np.round(last[:, 1], 1),
            np.round(last[:, 0], 1),
            np.round(first[:, 1], 1),
            np.round(first[:, 0], 1),
        )
    )
    edges, first, last = edges[order], first[order], last[order]
    ends = np.round(np.vstack([first, last]), 2)
    nodes, inverse = np.unique(ends, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    n = len(edges)
    start, end = inverse[:n], inverse[n:]
    degree = np.bincount(inverse, minlength=len(nodes))
    mid = shapely.line_interpolate_point(edges, 0.5, normalized=True)
    pairs = shapely.STRtree(roads).query_nearest(mid, all_matches=False)
    nearest = np.empty(n, dtype=int)
    nearest[pairs[0]] = pairs[1]
    road_info = [(rows[j][2], rows[j][1], rows[j][0]) for j in nearest]
    keys = np.array([_hash(np.round(shapely.get_coordinates(e), 2)) for e in edges])
    return Streets(edges, start, end, nodes, degree, road_info, keys)
