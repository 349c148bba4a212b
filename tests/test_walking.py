"""The walking graph on hand-made lines, and on the ground table of a fresh database."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import shapely
from sqlalchemy import Engine, text

from geodata.errors import NotFound
from geodata.walking import WalkGraph, walk_graph
from geodata.working_crs import set_working_crs


def lines(*coords: list[tuple[float, float]]) -> list[shapely.LineString]:
    return [shapely.LineString(c) for c in coords]


def test_crossing_lines_are_noded() -> None:
    # a plus sign: neither line has a vertex at the crossing, yet one can turn there
    graph = WalkGraph.from_lines(lines([(0, 0), (100, 0)], [(50, -50), (50, 50)]))
    assert len(graph) == 5
    walk = graph.shortest_path((0, 0), (50, 50))
    assert walk is not None
    assert walk.length_m == pytest.approx(100.0)
    assert walk.coords.tolist() == [[0, 0], [50, 0], [50, 50]]


def test_shortest_of_two_ways_and_the_hops_to_the_graph() -> None:
    # a square of side 100 with a diagonal: from corner to corner, the diagonal wins
    graph = WalkGraph.from_lines(
        lines([(0, 0), (100, 0), (100, 100)], [(0, 0), (0, 100), (100, 100)]),
    )
    direct = WalkGraph.from_lines(
        lines([(0, 0), (100, 0), (100, 100)], [(0, 0), (100, 100)]),
    )
    assert graph.shortest_path((0, 0), (100, 100)).length_m == pytest.approx(200.0)  # type: ignore[union-attr]
    assert direct.shortest_path((0, 0), (100, 100)).length_m == pytest.approx(  # type: ignore[union-attr]
        100 * 2**0.5
    )
    # points off the graph walk to their nearest node first
    walk = direct.shortest_path((-3, -4), (100, 103))
    assert walk is not None
    assert walk.length_m == pytest.approx(5 + 100 * 2**0.5 + 3)
    assert walk.coords[0].tolist() == [-3, -4] and walk.coords[-1].tolist() == [100, 103]


def test_costs_see_edge_attributes_and_can_forbid_edges() -> None:
    graph = WalkGraph.from_lines(
        lines([(0, 0), (100, 0)], [(0, 0), (0, 80), (100, 80), (100, 0)]),
        attrs=[{"highway": "steps"}, {"highway": "footway"}],
    )
    assert graph.shortest_path((0, 0), (100, 0)).length_m == pytest.approx(100)  # type: ignore[union-attr]

    def step_free(edge: dict[str, Any]) -> float | None:
        return None if edge["highway"] == "steps" else float(edge["length"])

    detour = graph.shortest_path((0, 0), (100, 0), cost=step_free)
    assert detour is not None and detour.length_m == pytest.approx(260)
    nowhere = graph.shortest_path((0, 0), (100, 0), cost=lambda e: None)
    assert nowhere is None


def test_disconnected_parts_have_no_walk() -> None:
    graph = WalkGraph.from_lines(lines([(0, 0), (10, 0)], [(50, 0), (60, 0)]))
    assert graph.shortest_path((0, 0), (60, 0)) is None
    assert graph.nearest_node((58, 1)) == int(np.argmin(np.hypot(*(graph.nodes - (58, 1)).T)))


def test_empty_graph_says_so() -> None:
    graph = WalkGraph.from_lines([])
    assert len(graph) == 0
    with pytest.raises(NotFound, match=r"no footways or streets.*--layer ground"):
        graph.nearest_node((0, 0))


def test_from_the_ground_table(engine: Engine) -> None:
    rows = [
        ("a", "footway", "footway", [(0, 0), (100, 0)]),
        ("b", "footway", "steps", [(100, 0), (100, 50)]),
        ("c", "road", "residential", [(0, 0), (0, 200), (100, 200), (100, 50)]),
        ("d", "park", None, [(0, 0), (100, 50)]),  # not a way: left out
    ]
    with engine.begin() as conn:
        set_working_crs(conn, 3067)
        for sid, kind, highway, coords in rows:
            conn.execute(
                text(
                    "INSERT INTO ground (source, source_id, kind, geom, attrs) VALUES "
                    "('t', :sid, :kind, ST_SetSRID(ST_GeomFromText(:wkt), 3067), "
                    "CAST(:attrs AS jsonb))"
                ),
                {
                    "sid": sid,
                    "kind": kind,
                    "wkt": shapely.LineString(coords).wkt,
                    "attrs": json.dumps({"highway": highway} if highway else {}),
                },
            )
    with engine.connect() as conn:
        step_free = walk_graph(conn)
        with_steps = walk_graph(conn, avoid=())
        other = walk_graph(conn, sources=("elsewhere",))
    assert step_free is not None and with_steps is not None and other is None
    assert step_free.shortest_path((0, 0), (100, 50)).length_m == pytest.approx(450)  # type: ignore[union-attr]
    assert with_steps.shortest_path((0, 0), (100, 50)).length_m == pytest.approx(150)  # type: ignore[union-attr]
    kinds = {d["highway"] for _, _, d in with_steps.graph.edges(data=True)}
    assert kinds == {"footway", "steps", "residential"}
