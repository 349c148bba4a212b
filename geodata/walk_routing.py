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
from numpy.typing import NDArray

from geodata.walk_network import FROM_TERRAIN, WalkNetwork
from geodata.walk_profiles import PROFILES, Judgement, Profile, judge, reasons
from geodata.walking import Walk

#: optimise by trying every order up to this many stops (7! = 5,040 loops)
EXACT_UP_TO = 8


@dataclass
class Route:
    walk: Walk
    #: the network edges it uses, in order
    eids: list[int]
    cost: float


@dataclass
class Blocked:
    """No route under the profile: why (the forbidden edges of the foot route), or None when
    even on foot the two places are not joined."""

    foot_length_m: float | None
    blockers: list[dict[str, Any]] = field(default_factory=list)


def _eids(net: WalkNetwork, nodes: list[int]) -> list[int]:
    g = net.graph.graph
    return [int(g[u][v]["eid"]) for u, v in itertools.pairwise(nodes)]


def route(
    net: WalkNetwork, j: Judgement, a: Sequence[float] | NDArray[Any], b: Sequence[float]
) -> Route | None:
    """The cheapest walk from ``a`` to ``b`` under the judgement's costs, or None."""
    cost = j.cost

    def weight(d: dict[str, Any]) -> float | None:
        c = float(cost[d["eid"]])
        return None if c == math.inf else c

    walk = net.graph.shortest_path(a, b, cost=weight)
    if walk is None:
        return None
    eids = _eids(net, walk.nodes)
    return Route(walk, eids, float(cost[eids].sum()) if eids else 0.0)


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
    e = np.asarray(eids, dtype=np.int64)
    if len(e) == 0:
        return {"steps": 0, "step_free": True, "unknown": {}}
    incline = net.incline_pct[e]
    width = net.width_m[e]
    kerb = net.kerb_m[e]
    steps = int(net.steps[e].sum())
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
@dataclass
class Legs:
    """Every stop's cheapest way to every other (costs, lengths, predecessors)."""

    nodes: list[int]
    cost: NDArray[np.float64]  # (k, k), inf when unreachable
    predecessors: NDArray[np.int32]  # (k, n)


def legs_between(net: WalkNetwork, j: Judgement, points: NDArray[np.float64]) -> Legs:
    """One Dijkstra from each stop (scipy csgraph) over the allowed edges."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import dijkstra

    nodes = [net.graph.nearest_node(p) for p in points]
    ok = ~np.isinf(j.cost)
    n = len(net.graph.nodes)
    u, v = net.ends[ok, 0], net.ends[ok, 1]
    matrix = csr_matrix((j.cost[ok], (u, v)), shape=(n, n))
    dist, pred = dijkstra(matrix, directed=False, indices=nodes, return_predecessors=True)
    return Legs(nodes, dist[:, nodes], pred)


def leg_path(legs: Legs, i: int, k: int) -> list[int]:
    """The graph nodes from stop ``i`` to stop ``k``."""
    target, pred = legs.nodes[k], legs.predecessors[i]
    path = [target]
    while path[-1] != legs.nodes[i]:
        path.append(int(pred[path[-1]]))
    return path[::-1]


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
