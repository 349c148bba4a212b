"""Benchmark: shortest walks with :mod:`geodata.walking` (networkx) against a plain heapq Dijkstra.

Why: the demo's router was a hand-written Dijkstra on adjacency lists; it moved to networkx so
the routing analysis can add costs and algorithms without our own graph code. This measures
what that costs on the same graph and the same queries: a street grid of G x G lines (each
crossing noded, so 2 G (G - 1) edges), and Q walks between random points. The peer is the
former demo's algorithm (binary heap, adjacency lists, lengths in a numpy array).

    .venv/bin/python bench/walking.py [--grid 60] [--queries 300]
"""

from __future__ import annotations

import argparse
import heapq
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--grid", type=int, default=60)
    ap.add_argument("--queries", type=int, default=300)
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


if __name__ == "__main__":
    main()
