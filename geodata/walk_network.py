"""The walking network with what each way is like: the graph of :mod:`geodata.walking` plus,
per edge, steps, slope, width, kerbs, surface and ``wheelchair=*`` in numpy arrays.

Why arrays beside the graph: a profile (:mod:`geodata.walk_profiles`) turns them into one cost
per edge in a few vectorised operations, with the caller's limits (``--max-incline 6``), so a
query costs one Dijkstra and no Python loop over the edges; the graph's edges carry only
their index (``eid``) into the arrays.

Kerbs and crossings are OSM nodes (``kerb=*``, ``kerb:height``, ``highway=crossing``) stored
as points of the ground layer: each is put on the footways within 50 cm of it (on every way
there when none is a footway). Slopes come from ``incline`` where tagged, else from the
terrain through a ``heights`` callable (working-CRS xy -> metres, NaN outside; None when the
twin has no DEM), sampled every 10 m along each way.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import shapely
from numpy.typing import NDArray
from sqlalchemy import Connection, text

from geodata.walk_tags import kerb_height_m, way_properties
from geodata.walking import NOT_WALKABLE, WALKABLE_KINDS, WalkGraph

#: working-CRS points (n, 2) -> ground heights (n,), NaN where unknown; None: no terrain
Heights = Callable[[NDArray[np.float64]], NDArray[np.float64] | None]
#: ground kinds that are OSM nodes a walk passes: kerbs and crossings
POINT_KINDS = ("kerb", "crossing")
#: highway classes of ways for people on foot (a kerb node goes on these first)
_FOOT_HIGHWAYS = frozenset(
    {None, "footway", "steps", "path", "pedestrian", "cycleway", "crossing", "corridor",
     "platform", "track", "living_street"}
)  # fmt: skip
#: how far a kerb or crossing node may be from a way to be on it (m)
SNAP_M = 0.5
#: the step at which slopes are sampled along a way (m)
SLOPE_STEP_M = 10.0
#: incline_source codes
NO_INCLINE, TAGGED, FROM_TERRAIN = 0, 1, 2
#: surface_class codes and wheelchair=* codes
SURFACE_CODES = {None: 0, "smooth": 1, "rough": 2}
WHEELCHAIR_CODES = {"yes": 1, "designated": 1, "limited": 2, "no": 3}


@dataclass
class WalkNetwork:
    """The graph and its edges' properties, index ``eid`` (``graph.graph[u][v]["eid"]``)."""

    graph: WalkGraph
    #: eid -> (u, v), u < v
    ends: NDArray[np.int64]
    length: NDArray[np.float64]
    steps: NDArray[np.bool_]
    #: gradient (%), NaN when neither tagged nor computed; its source (NO_INCLINE...)
    incline_pct: NDArray[np.float64]
    incline_source: NDArray[np.int8]
    #: ``incline=up|down`` with no number (and no terrain to measure it)
    incline_notable: NDArray[np.bool_]
    width_m: NDArray[np.float64]
    #: the highest known kerb on the edge (m), NaN when none; kerbs of unknown height on it
    kerb_m: NDArray[np.float64]
    kerb_unknown: NDArray[np.int32]
    surface_class: NDArray[np.int8]
    wheelchair: NDArray[np.int8]
    #: motorways and trunk roads: nobody walks there
    not_walkable: NDArray[np.bool_]
    #: per edge, for reports: the ground feature's source id, highway and raw surface
    source_id: NDArray[Any]
    highway: NDArray[Any]
    surface: NDArray[Any]
    #: per edge, its line (from node ``ends[eid, 0]`` to ``ends[eid, 1]``), and their index
    lines: NDArray[Any] = field(default_factory=lambda: np.zeros(0, dtype=object))
    tree: shapely.STRtree | None = None
    #: per edge, how many nodes its connected part of the network has
    part_size: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.length)

    def midpoint(self, eid: int) -> tuple[float, float]:
        mid = shapely.line_interpolate_point(self.lines[eid], 0.5, normalized=True)
        x, y = shapely.get_coordinates(mid)[0]
        return float(x), float(y)


def build_network(
    lines: Sequence[Any] | NDArray[Any],
    tags: Sequence[dict[str, Any]],
    *,
    widths: Sequence[float | None] | None = None,
    source_ids: Sequence[str] | None = None,
    points: Sequence[Any] | NDArray[Any] = (),
    point_tags: Sequence[dict[str, Any]] = (),
    heights: Heights | None = None,
) -> WalkNetwork:
    """The network of ``lines`` (shapely LineStrings, working CRS) with their OSM ``tags``;
    ``points`` are kerb and crossing nodes with theirs."""
    attrs = []
    for i, t in enumerate(tags):
        props = way_properties(t, widths[i] if widths is not None else None)
        props["source_id"] = source_ids[i] if source_ids is not None else str(i)
        attrs.append(props)
    graph = WalkGraph.from_lines(lines, attrs)
    edges = list(graph.graph.edges(data=True))
    n = len(edges)
    for eid, (_, _, d) in enumerate(edges):
        d["eid"] = eid

    def column(key: str, dtype: Any, missing: Any) -> NDArray[Any]:
        return np.array(
            [missing if d.get(key) is None else d[key] for _, _, d in edges], dtype=dtype
        ).reshape(n)

    net = WalkNetwork(
        graph=graph,
        # coords run from the smaller node id to the larger (WalkGraph's rule)
        ends=np.array([(min(u, v), max(u, v)) for u, v, _ in edges], dtype=np.int64).reshape(n, 2),
        length=column("length", np.float64, 0.0),
        steps=column("steps", bool, False),
        incline_pct=column("incline_pct", np.float64, np.nan),
        incline_source=np.zeros(n, dtype=np.int8),
        incline_notable=column("incline_notable", bool, False),
        width_m=column("width_m", np.float64, np.nan),
        kerb_m=column("kerb_m", np.float64, np.nan),
        kerb_unknown=np.zeros(n, dtype=np.int32),
        surface_class=np.array(
            [SURFACE_CODES[d.get("surface_class")] for _, _, d in edges], dtype=np.int8
        ).reshape(n),
        wheelchair=np.array(
            [WHEELCHAIR_CODES.get(str(d.get("wheelchair")), 0) for _, _, d in edges],
            dtype=np.int8,
        ).reshape(n),
        not_walkable=np.array(
            [d.get("highway") in NOT_WALKABLE for _, _, d in edges], dtype=bool
        ).reshape(n),
        source_id=column("source_id", object, None),
        highway=column("highway", object, None),
        surface=column("surface", object, None),
    )
    net.incline_source[~np.isnan(net.incline_pct)] = TAGGED
    if n:
        lines_of = np.array([shapely.LineString(d["coords"]) for _, _, d in edges], dtype=object)
        net.lines, net.tree = lines_of, shapely.STRtree(lines_of)
        size = np.zeros(len(graph.nodes), dtype=np.int64)
        for part in nx.connected_components(graph.graph):
            size[list(part)] = len(part)
        net.part_size = size[net.ends[:, 0]]
        _put_kerbs(net, lines_of, points, point_tags)
        if heights is not None:
            _slopes_from_terrain(net, lines_of, heights)
    return net


def _put_kerbs(
    net: WalkNetwork,
    lines_of: NDArray[Any],
    points: Sequence[Any] | NDArray[Any],
    point_tags: Sequence[dict[str, Any]],
) -> None:
    """Each kerb or crossing node onto the footways within :data:`SNAP_M` of it."""
    if len(points) == 0:
        return
    tree = shapely.STRtree(lines_of)
    pts = shapely.force_2d(np.asarray(points, dtype=object))
    which, eids = tree.query(pts, predicate="dwithin", distance=SNAP_M)
    roads = np.array([h not in _FOOT_HIGHWAYS for h in net.highway], dtype=bool)
    for p in np.unique(which):
        on = eids[which == p]
        footways = on[~roads[on]]
        on = footways if len(footways) else on
        height = kerb_height_m(point_tags[p])
        if height is None:
            tags = point_tags[p]
            if "kerb" in tags or "kerb:height" in tags or tags.get("highway") == "crossing":
                net.kerb_unknown[on] += 1
            continue
        net.kerb_m[on] = np.fmax(net.kerb_m[on], height)


def _slopes_from_terrain(net: WalkNetwork, lines_of: NDArray[Any], heights: Heights) -> None:
    """Untagged ways' steepest gradient from the terrain, sampled every 10 m along them."""
    todo = np.flatnonzero(np.isnan(net.incline_pct) & ~net.steps)
    if len(todo) == 0:
        return
    counts = np.maximum(np.ceil(net.length[todo] / SLOPE_STEP_M).astype(int), 1) + 1
    owner = np.repeat(np.arange(len(todo)), counts)
    start = np.r_[0, np.cumsum(counts)[:-1]]
    share = (np.arange(counts.sum()) - np.repeat(start, counts)) / np.repeat(counts - 1, counts)
    samples = shapely.line_interpolate_point(lines_of[todo][owner], share, normalized=True)
    xy = shapely.get_coordinates(samples)
    z = heights(xy)
    if z is None:
        return
    z = np.asarray(z, dtype=np.float64)
    dl = np.hypot(*np.diff(xy, axis=0).T)
    dz = np.abs(np.diff(z))
    same = owner[1:] == owner[:-1]
    grade = np.where(same & (dl > 0.01), 100.0 * dz / np.where(dl > 0.01, dl, 1.0), np.nan)
    steepest = np.full(len(todo), np.nan)
    valid = same & ~np.isnan(grade)
    np.fmax.at(steepest, owner[1:][valid], grade[valid])
    # an edge with any sample outside the terrain stays unknown
    missing = np.zeros(len(todo), dtype=bool)
    np.logical_or.at(missing, owner, np.isnan(z))
    steepest[missing] = np.nan
    known = ~np.isnan(steepest)
    net.incline_pct[todo[known]] = steepest[known]
    net.incline_source[todo[known]] = FROM_TERRAIN
    net.incline_notable[todo[known]] = False


def walk_network(
    conn: Connection,
    *,
    sources: Collection[str] | None = None,
    heights: Heights | None = None,
    where: str | None = None,
) -> WalkNetwork | None:
    """The walking network of the baseline ground (footways, streets, their kerb and crossing
    nodes), steps included; None when the twin has no walkable lines. ``where``: trusted SQL
    on ``ground`` (the rows of datasets a caller may not see left out,
    :func:`geodata.datasets.hidden_rows_clause`)."""
    rows = conn.execute(
        text(
            "SELECT ST_AsBinary(geom), attrs, width_m, source_id, GeometryType(geom) FROM ground "
            "WHERE scenario_id IS NULL AND kind = ANY(CAST(:kinds AS text[])) "
            "AND (CAST(:sources AS text[]) IS NULL OR source = ANY(CAST(:sources AS text[]))) "
            "AND GeometryType(geom) IN ('LINESTRING', 'MULTILINESTRING', 'POINT') "
            + (f"AND {where} " if where else "")
            + "ORDER BY source, source_id"
        ),
        {
            "kinds": [*WALKABLE_KINDS, *POINT_KINDS],
            "sources": None if sources is None else list(sources),
        },
    ).all()
    ways = [r for r in rows if r[4] != "POINT"]
    if not ways:
        return None
    nodes = [r for r in rows if r[4] == "POINT"]
    return build_network(
        shapely.from_wkb([bytes(r[0]) for r in ways]),
        [dict(r[1] or {}) for r in ways],
        widths=[r[2] for r in ways],
        source_ids=[r[3] for r in ways],
        points=shapely.from_wkb([bytes(r[0]) for r in nodes]) if nodes else (),
        point_tags=[dict(r[1] or {}) for r in nodes],
        heights=heights,
    )
