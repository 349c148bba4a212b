"""Routes and circuits on a :class:`geodata.walk_network.WalkNetwork` under a profile, and,
when there is none, what blocks it.

A route is networkx's bidirectional Dijkstra on the profile's edge costs. A circuit's legs
come from one scipy ``csgraph`` Dijkstra per stop (all the stops' distances at once, with
the predecessors to draw each leg); its order is the given one, or the best one: exact (every
order tried, vectorised) for up to :data:`EXACT_UP_TO` stops, networkx's Christofides
approximation beyond.

When the profile finds no way, the foot route (steps allowed, nothing limited) is the one a
person would have taken: the edges of it that the profile forbids are what blocks it, each
named with its reason, its place and the ground feature it comes from.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import shapely
import shapely.ops
from numpy.typing import NDArray

from geodata.errors import NotFound
from geodata.walk_network import FROM_TERRAIN, WalkNetwork
from geodata.walk_profiles import PROFILES, Judgement, Profile, judge, reasons
from geodata.walking import Walk

#: optimise by trying every order up to this many stops (7! = 5,040 loops)
EXACT_UP_TO = 8


#: a point joins the nearest way its profile may use, if that is at most this much further
#: than the nearest way of all (m); else the nearest way (and the route is blocked there)
ALLOWED_DETOUR_M = 15.0
#: ... and the main network (a part with at least MAIN_SHARE of the nodes) rather than an
#: isolated fragment (a footway in a courtyard, a platform), if that is within this much (m)
MAIN_DETOUR_M = 60.0
MAIN_SHARE = 0.1


@dataclass
class Route:
    walk: Walk
    #: the network edges it uses (partly, for the first and last), in order
    eids: list[int]
    cost: float


@dataclass(frozen=True)
class Anchor:
    """Where a point joins the network: at ``s`` metres along edge ``eid`` (from its first
    node, ``ends[eid, 0]``), at ``on`` (the point's projection)."""

    xy: NDArray[np.float64]
    eid: int
    s: float
    on: NDArray[np.float64]


def anchor(net: WalkNetwork, j: Judgement, xy: Sequence[float] | NDArray[Any]) -> Anchor:
    """Join ``xy`` to the nearest way the profile may use, of the main network if one is
    near enough (see :data:`ALLOWED_DETOUR_M`, :data:`MAIN_DETOUR_M`)."""
    if net.tree is None:
        raise NotFound(
            "the walking graph is empty: no footways or streets were found; import the "
            "ground layer (`twin import FILE --layer ground`) first"
        )
    p = np.asarray(xy, dtype=np.float64)[:2]
    pt = shapely.points(p)
    nearest, dist = net.tree.query_nearest(pt, return_distance=True, all_matches=False)
    eid, d0 = int(nearest[0]), float(dist[0])
    near = net.tree.query(pt, predicate="dwithin", distance=d0 + MAIN_DETOUR_M)
    near = near[~np.isinf(j.cost[near])]
    if len(near):
        d = shapely.distance(net.lines[near], pt)
        main = net.part_size[near] >= MAIN_SHARE * len(net.graph.nodes)
        close = d <= d0 + ALLOWED_DETOUR_M
        # further than ALLOWED_DETOUR_M only to leave a fragment for the main network
        in_main = net.part_size[eid] >= MAIN_SHARE * len(net.graph.nodes)
        picks = (main & close, close) if in_main else (main & close, main, close)
        for pick in picks:
            if pick.any():
                eid = int(near[pick][int(np.argmin(d[pick]))])
                break
    line = net.lines[eid]
    s = float(shapely.line_locate_point(line, pt))
    on = shapely.get_coordinates(shapely.line_interpolate_point(line, s))[0]
    return Anchor(p, eid, s, on)


def distance_to_network(net: WalkNetwork, xy: Sequence[float]) -> float:
    """How far ``xy`` is from the nearest way (m)."""
    assert net.tree is not None
    _, dist = net.tree.query_nearest(shapely.points(*xy[:2]), return_distance=True)
    return float(dist[0])


@dataclass
class Solved:
    """Dijkstra from some anchors over the network plus one node per anchor."""

    anchors: list[Anchor]
    #: (sources, n + k) costs and predecessors; anchor i is node n + i
    dist: NDArray[np.float64]
    pred: NDArray[np.int32]
    n: int
    #: the anchors the rows start from
    sources: list[int]


def solve(net: WalkNetwork, j: Judgement, anchors: list[Anchor], sources: list[int]) -> Solved:
    """scipy csgraph Dijkstra from the anchors ``sources`` (indices into ``anchors``), each
    anchor a node joined to its edge's two ends by the shares of that edge's cost."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import dijkstra

    n, k = len(net.graph.nodes), len(anchors)
    ok = ~np.isinf(j.cost)
    rows, cols, w = [net.ends[ok, 0]], [net.ends[ok, 1]], [j.cost[ok]]
    extra_r, extra_c, extra_w = [], [], []
    for i, a in enumerate(anchors):
        c, length = j.cost[a.eid], net.length[a.eid]
        if np.isinf(c) or length <= 0:
            continue
        u, v = net.ends[a.eid]
        share = a.s / length
        extra_r += [n + i, n + i]
        extra_c += [int(u), int(v)]
        extra_w += [share * c, (1 - share) * c]
        for m in range(i + 1, k):  # two anchors on one edge: straight along it
            b = anchors[m]
            if b.eid == a.eid:
                extra_r.append(n + i)
                extra_c.append(n + m)
                extra_w.append(abs(a.s - b.s) / length * c)
    rows.append(np.array(extra_r, dtype=np.int64))
    cols.append(np.array(extra_c, dtype=np.int64))
    # csgraph reads an explicit zero as no edge: an anchor on a node costs a nanometre
    w.append(np.maximum(np.array(extra_w, dtype=np.float64), 1e-9))
    matrix = csr_matrix(
        (np.concatenate(w), (np.concatenate(rows), np.concatenate(cols))), shape=(n + k, n + k)
    )
    dist, pred = dijkstra(
        matrix, directed=False, indices=[n + i for i in sources], return_predecessors=True
    )
    return Solved(anchors, np.atleast_2d(dist), np.atleast_2d(pred), n, list(sources))


def walk_of(net: WalkNetwork, solved: Solved, source: int, target: int) -> Route | None:
    """The walk from anchor ``source`` (an index of the solved sources) to anchor
    ``target``, or None when unreachable."""
    n = solved.n
    src_row = source
    src_node = n + solved.sources[source]
    dst_node = n + target
    cost = float(solved.dist[src_row, dst_node])
    if cost == math.inf:
        return None
    path = [dst_node]
    while path[-1] != src_node:
        path.append(int(solved.pred[src_row, path[-1]]))
    path.reverse()
    g = net.graph.graph
    a, b = solved.anchors[path[0] - n], solved.anchors[path[-1] - n]
    parts: list[NDArray[np.float64]] = [a.xy[None, :]]
    eids: list[int] = []
    for p, q in itertools.pairwise(path):
        if p < n and q < n:
            d = g[p][q]
            parts.append(d["coords"] if p < q else d["coords"][::-1])
            eids.append(int(d["eid"]))
        elif p >= n and q >= n:  # along one edge between two anchors
            x, y = solved.anchors[p - n], solved.anchors[q - n]
            parts.append(_piece(net, x.eid, x.s, y.s))
            eids.append(x.eid)
        elif p >= n:
            x = solved.anchors[p - n]
            parts.append(_piece(net, x.eid, x.s, 0.0 if q == net.ends[x.eid, 0] else None))
            eids.append(x.eid)
        else:
            y = solved.anchors[q - n]
            to = 0.0 if p == net.ends[y.eid, 0] else None
            parts.append(_piece(net, y.eid, y.s, to)[::-1])
            eids.append(y.eid)
    parts.append(b.xy[None, :])
    line = np.vstack(parts)
    line = line[np.r_[True, np.abs(np.diff(line, axis=0)).sum(axis=1) > 0.01]]
    length = float(np.hypot(*np.diff(line, axis=0).T).sum()) if len(line) > 1 else 0.0
    nodes = [p for p in path if p < n]
    return Route(Walk(line, length, nodes), eids, cost)


def _piece(net: WalkNetwork, eid: int, s0: float, s1: float | None) -> NDArray[np.float64]:
    """Edge ``eid`` from ``s0`` to ``s1`` metres along it (None: its end)."""
    line = net.lines[eid]
    end = float(net.length[eid]) if s1 is None else s1
    piece = shapely.ops.substring(line, min(s0, end), max(s0, end))
    coords: NDArray[np.float64] = shapely.get_coordinates(piece)
    return coords if s0 <= end else coords[::-1]


def route(
    net: WalkNetwork, j: Judgement, a: Sequence[float] | NDArray[Any], b: Sequence[float]
) -> Route | None:
    """The cheapest walk from ``a`` to ``b`` under the judgement's costs, or None."""
    anchors = [anchor(net, j, a), anchor(net, j, b)]
    return walk_of(net, solve(net, j, anchors, [0]), 0, 1)


@dataclass
class Blocked:
    """No route under the profile: why (the forbidden edges of the foot route), or None when
    even on foot the two places are not joined."""

    foot_length_m: float | None
    blockers: list[dict[str, Any]] = field(default_factory=list)


def why_blocked(
    net: WalkNetwork, profile: Profile, j: Judgement, a: Sequence[float], b: Sequence[float]
) -> Blocked:
    """What stops ``profile`` between ``a`` and ``b``: the forbidden edges of the foot route."""
    foot = route(net, judge(net, PROFILES["foot"]), a, b)
    if foot is None:
        return Blocked(None)
    out = []
    for eid in foot.eids:
        if not j.forbidden()[eid]:
            continue
        x, y = net.midpoint(eid)
        out.append(
            {
                "why": reasons(net, profile, j, eid),
                "at": [round(x, 2), round(y, 2)],
                "highway": net.highway[eid],
                "source_id": net.source_id[eid],
                "length_m": round(float(net.length[eid]), 2),
            }
        )
    return Blocked(foot.walk.length_m, out)


def describe(net: WalkNetwork, j: Judgement, eids: Sequence[int]) -> dict[str, Any]:
    """What a route meets: steps, steepest slope, narrowest width, highest kerb, and the
    length of it whose limited properties are unknown (by property)."""
    e = np.unique(np.asarray(eids, dtype=np.int64))
    if len(e) == 0:
        return {"steps": 0, "step_free": True, "unknown": {}}
    incline = net.incline_pct[e]
    width = net.width_m[e]
    kerb = net.kerb_m[e]
    # staircases, not edges: a way may be cut in two where another joins the same ends
    steps = len({str(s) for s in net.source_id[e][net.steps[e]]})
    unknown = {}
    for key, mask in j.unknown.items():
        m = mask[e]
        if m.any():
            unknown[key] = {
                "edges": int(m.sum()),
                "length_m": round(float(net.length[e][m].sum()), 1),
                "where": sorted({str(s) for s in net.source_id[e][m]})[:20],
            }
    odd = [
        {"source_id": str(net.source_id[i]), "surface": str(net.surface[i])}
        for i in e
        if net.surface[i] is not None and net.surface_class[i] == 0
    ]
    return {
        "steps": steps,
        "step_free": steps == 0,
        "max_incline_percent": _nanmax(incline),
        "incline_from_terrain_m": round(
            float(net.length[e][net.incline_source[e] == FROM_TERRAIN].sum()), 1
        ),
        "min_width_m": _nanmin(width),
        "max_kerb_m": _nanmax(kerb),
        "kerbs_of_unknown_height": int(net.kerb_unknown[e].sum()),
        "avoided_m": round(float(net.length[e][j.avoided[e]].sum()), 1),
        "unknown": unknown,
        "unknown_surfaces": odd[:20],
    }


def _nanmax(a: NDArray[np.float64]) -> float | None:
    return None if np.isnan(a).all() else round(float(np.nanmax(a)), 3)


def _nanmin(a: NDArray[np.float64]) -> float | None:
    return None if np.isnan(a).all() else round(float(np.nanmin(a)), 3)


# -- circuits -------------------------------------------------------------------------------
def legs_between(net: WalkNetwork, j: Judgement, points: NDArray[np.float64]) -> Solved:
    """Every stop's cheapest way to every other: one Dijkstra per stop (scipy csgraph)."""
    anchors = [anchor(net, j, p) for p in points]
    return solve(net, j, anchors, list(range(len(anchors))))


def leg_costs(solved: Solved) -> NDArray[np.float64]:
    """(k, k) costs between the stops, inf when unreachable."""
    k = len(solved.anchors)
    return solved.dist[:, solved.n : solved.n + k]


def best_order(cost: NDArray[np.float64], *, loop: bool) -> tuple[list[int], str]:
    """The cheapest order of the stops (a loop starts at the first stop; an open walk may
    start anywhere), and how it was found (``exact`` or ``christofides``)."""
    k = len(cost)
    if k <= 2:
        return list(range(k)), "exact"
    if k <= EXACT_UP_TO:
        if loop:
            perms = np.array([(0, *p) for p in itertools.permutations(range(1, k))])
        else:
            perms = np.array(list(itertools.permutations(range(k))))
        total = cost[perms[:, :-1], perms[:, 1:]].sum(axis=1)
        if loop:
            total = total + cost[perms[:, -1], perms[:, 0]]
        return [int(i) for i in perms[int(np.argmin(total))]], "exact"
    from networkx.algorithms import approximation

    complete: nx.Graph[int] = nx.Graph()
    for a, b in itertools.combinations(range(k), 2):
        complete.add_edge(a, b, weight=float(cost[a, b]))
    tour = approximation.traveling_salesman_problem(complete, weight="weight", cycle=loop)
    if loop:
        tour = tour[:-1]
        start = tour.index(0)
        tour = tour[start:] + tour[:start]
    return [int(i) for i in tour], "christofides"
