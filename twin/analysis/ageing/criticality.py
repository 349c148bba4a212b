"""Consequence of a segment's failure, from the network's topology alone (networkx).

Cutting a segment isolates the part of the network beyond it only when it is a bridge
(an edge on no cycle). The network's graph (vertices: segment ends, snapped to 0.1 m;
edges: segments) is contracted into its 2-edge-connected components, which form a tree
linked by the bridges; rooted at the largest component (where the supply is assumed to
come from, when no source is known), the nodes beyond a bridge are those of the subtree it
leads to. ``downstream`` is that count, and ``consequence`` is it normalised by the
network's size, blended with the relative diameter (a bigger main carries more, even where
a loop backs it up): 0.7 · downstream / nodes + 0.3 · diameter / largest diameter.

An EPANET model and WNTR's hydraulic criticality would be better where one exists; WNTR
does not import on this twin (its binary is built for numpy 1, the twin runs numpy 2), so
the topological measure is the one used (said in the result's ``consequence_model``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

SNAP_M = 0.1
DOWNSTREAM_WEIGHT = 0.7
DIAMETER_WEIGHT = 0.3


def downstream_nodes(ends: list[tuple[tuple[float, float], tuple[float, float]]]) -> list[int]:
    """For each segment (its two end points), how many graph vertices lose their link to
    the largest part of the network when it is cut."""
    import networkx as nx

    graph: Any = nx.MultiGraph()
    key = [
        (
            (round(a[0] / SNAP_M), round(a[1] / SNAP_M)),
            (round(b[0] / SNAP_M), round(b[1] / SNAP_M)),
        )
        for a, b in ends
    ]
    for i, (a, b) in enumerate(key):
        graph.add_edge(a, b, key=i)
    out = [0] * len(ends)
    simple: Any = nx.Graph(graph)
    # a bridge of the simple graph is one only if no parallel segment doubles it
    bridges = {frozenset(e) for e in nx.bridges(simple) if graph.number_of_edges(*e) == 1}
    if not bridges:
        return out
    cut = simple.copy()
    cut.remove_edges_from([tuple(b) for b in bridges])
    comp_of: dict[Any, int] = {}
    sizes: list[int] = []
    for c, nodes in enumerate(nx.connected_components(cut)):
        sizes.append(len(nodes))
        for v in nodes:
            comp_of[v] = c
    tree: Any = nx.Graph()
    tree.add_nodes_from(range(len(sizes)))
    for bridge in bridges:
        u, v = tuple(bridge)
        tree.add_edge(comp_of[u], comp_of[v])
    below = np.array(sizes, dtype=np.int64)
    parent: dict[int, int] = {}
    for tree_part in nx.connected_components(tree):
        root = max(tree_part, key=lambda c: sizes[c])
        order = list(nx.dfs_preorder_nodes(tree, root))
        for u, v in nx.dfs_edges(tree, root):
            parent[v] = u
        for c in reversed(order):
            if c in parent:
                below[parent[c]] += below[c]
    for i, (a, b) in enumerate(key):
        if frozenset((a, b)) in bridges:
            ca, cb = comp_of[a], comp_of[b]
            child = cb if parent.get(cb) == ca else ca
            out[i] = int(below[child])
    return out


def consequence(downstream: NDArray[Any], diameter_mm: NDArray[Any], vertices: int) -> Any:
    """0..1: the blend the module's docstring states (unknown diameter = the median)."""
    d = np.asarray(diameter_mm, dtype=float)
    if np.isnan(d).all():
        d = np.ones(len(d))
    d = np.where(np.isnan(d), np.nanmedian(d), d)
    share = np.asarray(downstream, dtype=float) / max(vertices, 1)
    return DOWNSTREAM_WEIGHT * share + DIAMETER_WEIGHT * d / max(float(d.max()), 1e-9)
