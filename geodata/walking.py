"""A walking graph of the twin's footways and streets, and shortest walks on it.

Why a module of its own: the demo's tourist circuit needs it today, and the routing analysis
(step-free routes, slopes, accessibility) will extend it; both must walk the same graph. The
graph is built from the ``ground`` table's line features, noded at every crossing (shapely
``union_all``), so two footways that cross are connected even when neither has a vertex there.
Paths are found by networkx (Dijkstra) with a cost per edge: by default its length; a caller
may pass a cost function of the edge's data (length, OSM highway class, later slope or
surface) that returns a number, or None to forbid the edge.

geodata imports nothing of the application, so this runs without a server: build a graph from
any lines with :meth:`WalkGraph.from_lines`, or from the database with :func:`walk_graph`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import shapely
from numpy.typing import NDArray
from sqlalchemy import Connection, text

from geodata.errors import NotFound

#: ground kinds a pedestrian can walk along
WALKABLE_KINDS = ("footway", "pedestrian", "path", "cycleway", "road")
#: OSM highway classes nobody walks along (motorways) or that a step-free walk must avoid
NOT_WALKABLE = ("motorway", "motorway_link", "trunk")
STEPS = "steps"

#: an edge's data -> its cost, or None when the edge may not be used
Cost = Callable[[dict[str, Any]], float | None]


@dataclass(frozen=True)
class Walk:
    """A walk from a point to another: its line (working CRS, 2D) and its length in metres."""

    coords: NDArray[Any]
    length_m: float
    #: the graph nodes it passes, first to last
    nodes: list[int]


class WalkGraph:
    """An undirected graph whose edges are noded walkable lines.

    Each edge keeps ``length`` (metres), ``coords`` (its line, from node ``lo`` to ``hi``, the
    smaller node id first) and the attributes of the source line it came from (e.g.
    ``highway``), so later costs can read them. Two lines between the same junctions (a
    stair beside a ramp) stay two ways: the second is cut at a node of its own, so a cost may
    forbid one and keep the other (a plain graph searches several times faster than a
    multigraph in networkx).
    """

    def __init__(self, graph: nx.Graph[int], nodes: NDArray[Any]) -> None:
        self.graph = graph
        self.nodes = nodes
        self._tree = shapely.STRtree(shapely.points(nodes)) if len(nodes) else None

    @classmethod
    def from_lines(
        cls, lines: Sequence[Any] | NDArray[Any], attrs: Sequence[dict[str, Any]] | None = None
    ) -> WalkGraph:
        """Node ``lines`` (shapely LineStrings) at every crossing; ends closer than 1 cm meet.

        ``attrs`` (one dict per line) is copied to every edge cut from that line.
        """
        source = np.asarray(lines, dtype=object)
        graph: nx.Graph[int] = nx.Graph()
        if len(source) == 0:
            return cls(graph, np.zeros((0, 2)))
        edges = shapely.get_parts(shapely.union_all(shapely.force_2d(source)))
        edges = edges[shapely.length(edges) > 0]
        coords = [shapely.get_coordinates(e) for e in edges]
        ends = np.round(np.array([[c[0], c[-1]] for c in coords]).reshape(-1, 2), 2)
        nodes, inverse = np.unique(ends, axis=0, return_inverse=True)
        pairs = inverse.reshape(-1, 2)
        origin = _origin(source, edges) if attrs is not None else None
        extra: list[NDArray[Any]] = []  # nodes added in the middle of parallel lines
        for e, (u, v) in enumerate(pairs):
            u, v = int(u), int(v)
            if u == v:  # a closed loop adds no way between two places
                continue
            data: dict[str, Any] = dict(attrs[origin[e]]) if attrs and origin is not None else {}
            c = coords[e] if u < v else coords[e][::-1]
            u, v = min(u, v), max(u, v)
            if not graph.has_edge(u, v):
                _add(graph, u, v, c, data)
                continue
            # a second line between the same ends (a stair beside a ramp): cut in two at a
            # new middle node, so a plain graph keeps both and a cost may forbid either
            mid, first, second = _halves(c)
            m = len(nodes) + len(extra)
            extra.append(mid)
            _add(graph, u, m, first, data)
            _add(graph, v, m, second[::-1], data)
        if extra:
            nodes = np.vstack([nodes, np.array(extra)])
        return cls(graph, nodes)

    def __len__(self) -> int:
        return int(self.graph.number_of_nodes())

    def nearest_node(self, xy: Sequence[float] | NDArray[Any]) -> int:
        """The graph node closest to ``xy`` (working CRS)."""
        if self._tree is None:
            raise NotFound(
                "the walking graph is empty: no footways or streets were found; import the "
                "ground layer (`twin import FILE --layer ground`) first"
            )
        return int(self._tree.query_nearest(shapely.points(*np.asarray(xy, dtype=float)))[0])

    def shortest_path(
        self,
        a: Sequence[float] | NDArray[Any],
        b: Sequence[float] | NDArray[Any],
        cost: Cost | None = None,
    ) -> Walk | None:
        """The cheapest walk from ``a`` to ``b`` through their nearest nodes, or None.

        The walk starts at ``a`` and ends at ``b`` (the short hops to and from the graph are
        part of its line and its length). None when no way joins them.
        """
        src, dst = self.nearest_node(a), self.nearest_node(b)
        weight: Any = "length" if cost is None else (lambda _u, _v, d: cost(d))
        try:
            # bidirectional: a walk between two places settles far fewer nodes
            path: list[int] = nx.bidirectional_dijkstra(self.graph, src, dst, weight=weight)[1]
        except (nx.NetworkXNoPath, nx.NodeNotFound):
            return None
        return self.walk_along(path, a, b)

    def walk_along(
        self, path: list[int], a: Sequence[float] | NDArray[Any], b: Sequence[float] | NDArray[Any]
    ) -> Walk:
        """The walk from ``a`` through the graph nodes ``path`` to ``b``."""
        parts = [np.asarray(a, dtype=float)[None, :2]]
        for u, v in itertools.pairwise(path):
            c = self.graph[u][v]["coords"]
            parts.append(c if u < v else c[::-1])
        parts.append(np.asarray(b, dtype=float)[None, :2])
        line = np.vstack(parts)
        line = line[np.r_[True, np.abs(np.diff(line, axis=0)).sum(axis=1) > 0.01]]
        length = float(np.hypot(*np.diff(line, axis=0).T).sum()) if len(line) > 1 else 0.0
        return Walk(line, length, path)


def _add(graph: nx.Graph[int], u: int, v: int, coords: NDArray[Any], data: dict[str, Any]) -> None:
    """Edge u-v along ``coords`` (drawn from the smaller node id to the larger)."""
    if u > v:
        u, v, coords = v, u, coords[::-1]
    length = float(np.hypot(*np.diff(coords, axis=0).T).sum())
    graph.add_edge(u, v, **data, length=length, coords=coords)


def _halves(coords: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
    """A line's middle point and the two lines either side of it."""
    if len(coords) > 2:
        k = len(coords) // 2
        return coords[k], coords[: k + 1], coords[k:]
    mid = coords.mean(axis=0)
    return mid, np.vstack([coords[0], mid]), np.vstack([mid, coords[-1]])


def _origin(source: NDArray[Any], edges: NDArray[Any]) -> NDArray[Any]:
    """Index of the source line each noded edge was cut from (the one under its middle)."""
    mid = shapely.line_interpolate_point(edges, 0.5, normalized=True)
    pairs = shapely.STRtree(source).query_nearest(mid, all_matches=False)
    out = np.zeros(len(edges), dtype=int)
    out[pairs[0]] = pairs[1]
    return out


def walk_graph(
    conn: Connection,
    *,
    sources: Collection[str] | None = None,
    kinds: Collection[str] = WALKABLE_KINDS,
    avoid: Collection[str] = (STEPS, *NOT_WALKABLE),
) -> WalkGraph | None:
    """The walking graph of the baseline ground lines, or None when there are none.

    ``sources`` restricts it to some datasets (None: all); ``avoid`` lists OSM highway classes
    left out of the graph (steps by default: the demo's circuit is step-free).
    """
    rows = conn.execute(
        text(
            "SELECT ST_AsBinary(geom), coalesce(attrs->>'highway', ''), kind FROM ground "
            "WHERE scenario_id IS NULL AND kind = ANY(CAST(:kinds AS text[])) "
            "AND (CAST(:sources AS text[]) IS NULL OR source = ANY(CAST(:sources AS text[]))) "
            "AND NOT coalesce(attrs->>'highway', '') = ANY(CAST(:avoid AS text[])) "
            "AND GeometryType(geom) IN ('LINESTRING', 'MULTILINESTRING') "
            "ORDER BY source, source_id"
        ),
        {
            "kinds": list(kinds),
            "sources": None if sources is None else list(sources),
            "avoid": list(avoid),
        },
    ).all()
    if not rows:
        return None
    lines = shapely.from_wkb([bytes(r[0]) for r in rows])
    attrs = [{"highway": r[1] or None, "kind": r[2]} for r in rows]
    return WalkGraph.from_lines(lines, attrs)
