"""Walks on hand-built scenes with known answers: a staircase on the shortest path (foot takes
it, the wheelchair detours by a hand-computed length), a 3 cm kerb that blocks the wheelchair
and is named, slopes from tags and from the terrain, unknown surfaces reported, OSM tag
spellings, circuit orders, and the GPX track's length."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import shapely
from lxml import etree

from geodata.crs import transformer
from geodata.importers.osm_tags import RULES
from geodata.walk_network import FROM_TERRAIN, WalkNetwork, build_network
from geodata.walk_profiles import PROFILES, judge
from geodata.walk_routing import best_order, describe, route, why_blocked
from geodata.walk_tags import incline_percent, kerb_height_m, length_m, surface_class
from twin.analysis.walks.gpx import GPX_NS, gpx_document

GOOD = {"highway": "footway", "width": "2", "surface": "asphalt", "incline": "0%"}


def scene(
    extra: list[tuple[list[tuple[float, float]], dict[str, Any]]] = (),  # type: ignore[assignment]
    points: list[tuple[tuple[float, float], dict[str, Any]]] = (),  # type: ignore[assignment]
    heights: Any = None,
) -> WalkNetwork:
    """A (0,0) to (100,0) walk whose middle 20 m, (40,0)-(60,0), is a staircase; a footway
    around it, (40,0)-(40,30)-(60,30)-(60,0), is 80 m long."""
    ways = [
        ([(0, 0), (40, 0)], GOOD),
        ([(40, 0), (60, 0)], {**GOOD, "highway": "steps"}),
        ([(60, 0), (100, 0)], GOOD),
        ([(40, 0), (40, 30), (60, 30), (60, 0)], GOOD),
        *extra,
    ]
    return build_network(
        [shapely.LineString(c) for c, _ in ways],
        [t for _, t in ways],
        source_ids=[f"w{i}" for i in range(len(ways))],
        points=[shapely.Point(p) for p, _ in points],
        point_tags=[t for _, t in points],
        heights=heights,
    )


def test_foot_takes_the_stairs_and_the_wheelchair_detours() -> None:
    net = scene()
    foot = route(net, judge(net, PROFILES["foot"]), (0, 0), (100, 0))
    wheel_profile = PROFILES["wheelchair"]
    j = judge(net, wheel_profile)
    wheel = route(net, j, (0, 0), (100, 0))
    assert foot is not None and wheel is not None
    assert foot.walk.length_m == pytest.approx(100.0)
    # 40 + (30 + 20 + 30) + 40: the detour is 80 m instead of the 20 m of steps, +60 m
    assert wheel.walk.length_m == pytest.approx(160.0)
    assert wheel.walk.length_m - foot.walk.length_m == pytest.approx(60.0)
    assert describe(net, judge(net, PROFILES["foot"]), foot.eids)["steps"] == 1
    seen = describe(net, j, wheel.eids)
    assert seen["step_free"] and seen["min_width_m"] == 2.0 and seen["unknown"] == {}
    # durations: 5 km/h on foot, 3.6 km/h rolling
    assert foot.walk.length_m / PROFILES["foot"].speed_m_s == pytest.approx(72.0)
    assert wheel.walk.length_m / wheel_profile.speed_m_s == pytest.approx(160.0)


def test_a_3_cm_kerb_blocks_the_wheelchair_and_is_named() -> None:
    # a crossing at (80, 0) with a 3 cm kerb on the only way to (100, 0)
    net = scene(points=[((80, 0), {"highway": "crossing", "kerb:height": "3 cm"})])
    profile = PROFILES["wheelchair"]
    j = judge(net, profile)
    assert route(net, j, (0, 0), (100, 0)) is None
    blocked = why_blocked(net, profile, j, (0, 0), (100, 0))
    assert blocked.foot_length_m == pytest.approx(100.0)
    named = {tuple(b["why"]): b for b in blocked.blockers}
    assert set(named) == {("steps",), ("kerb 3 cm > 2 cm",)}
    kerb = named[("kerb 3 cm > 2 cm",)]
    assert kerb["source_id"] == "w2" and kerb["at"] == [80.0, 0.0]
    # the same kerb under a 3 cm limit: passable, by the detour
    looser = profile.with_limits(max_kerb_m=0.03)
    found = route(net, judge(net, looser), (0, 0), (100, 0))
    assert found is not None and found.walk.length_m == pytest.approx(160.0)
    # a lowered kerb (2 cm by the French rule) passes; a raised one (12 cm) does not
    lowered = scene(points=[((80, 0), {"barrier": "kerb", "kerb": "lowered"})])
    assert route(lowered, judge(lowered, profile), (0, 0), (100, 0)) is not None
    raised = scene(points=[((80, 0), {"kerb": "raised"})])
    assert route(raised, judge(raised, profile), (0, 0), (100, 0)) is None


def test_slopes_from_tags_and_from_the_terrain() -> None:
    steep = scene(extra=[([(100, 0), (150, 0)], {**GOOD, "incline": "-8%"})])
    profile = PROFILES["wheelchair"]
    j = judge(steep, profile)
    assert route(steep, j, (0, 0), (150, 0)) is None
    blocker = why_blocked(steep, profile, j, (0, 0), (150, 0)).blockers[-1]
    assert blocker["why"] == ["slope 8.0% (tagged) > 5%"]
    assert route(steep, judge(steep, profile.with_limits(max_incline_pct=8)), (0, 0), (150, 0))

    # untagged: the terrain rises 6 m over the 50 m way (12%), flat elsewhere
    def heights(xy: np.ndarray) -> np.ndarray:
        return np.where(xy[:, 0] > 100, (xy[:, 0] - 100) * 0.12, 0.0)

    hill = scene(
        extra=[([(100, 0), (150, 0)], {"highway": "footway", "width": "2", "surface": "asphalt"})],
        heights=heights,
    )
    e = int(
        hill.graph.graph[hill.graph.nearest_node((100, 0))][hill.graph.nearest_node((150, 0))][
            "eid"
        ]
    )
    assert hill.incline_source[e] == FROM_TERRAIN
    assert hill.incline_pct[e] == pytest.approx(12.0)
    j = judge(hill, profile)
    assert why_blocked(hill, profile, j, (0, 0), (150, 0)).blockers[-1]["why"] == [
        "slope 12.0% (from the terrain) > 5%"
    ]
    # without terrain the slope is unknown: avoided, reported, not forbidden
    flat = scene(extra=[([(100, 0), (150, 0)], {"highway": "footway", "width": "2",
                                                 "surface": "asphalt"})])  # fmt: skip
    jf = judge(flat, profile)
    found = route(flat, jf, (0, 0), (150, 0))
    assert found is not None
    assert describe(flat, jf, found.eids)["unknown"]["incline"]["length_m"] == 50.0


def test_unknown_surface_is_reported_and_treated_as_asked() -> None:
    odd = {**GOOD, "surface": "moon_dust"}
    net = scene(extra=[([(100, 0), (130, 0)], odd)])
    profile = PROFILES["wheelchair"]
    j = judge(net, profile)
    found = route(net, j, (0, 0), (130, 0))
    assert found is not None
    seen = describe(net, j, found.eids)
    assert seen["unknown"]["surface"] == {"edges": 1, "length_m": 30.0, "where": ["w4"]}
    assert seen["unknown_surfaces"] == [{"source_id": "w4", "surface": "moon_dust"}]
    assert seen["avoided_m"] == 30.0
    forbid = profile.with_limits(unknown="forbid")
    jf = judge(net, forbid)
    assert route(net, jf, (0, 0), (130, 0)) is None
    assert why_blocked(net, forbid, jf, (0, 0), (130, 0)).blockers[-1]["why"] == ["unknown surface"]
    # the foot profile does not look at surfaces
    assert describe(net, judge(net, PROFILES["foot"]), found.eids)["unknown"] == {}


def test_unknown_ways_are_avoided_when_a_known_way_is_not_much_longer() -> None:
    # two ways from (0,0) to (100,0): 100 m of unknown width, or 140 m of known ways
    ways = [
        ([(0, 0), (100, 0)], {**GOOD, "width": None}),
        ([(0, 0), (0, 20), (100, 20), (100, 0)], GOOD),
    ]
    net = build_network([shapely.LineString(c) for c, _ in ways], [t for _, t in ways])
    wheel = PROFILES["wheelchair"]
    avoid = route(net, judge(net, wheel), (0, 0), (100, 0))
    allow = route(net, judge(net, wheel.with_limits(unknown="allow")), (0, 0), (100, 0))
    assert avoid is not None and allow is not None
    assert avoid.walk.length_m == pytest.approx(140.0)  # 140 < 2 x 100
    assert allow.walk.length_m == pytest.approx(100.0)


def test_wheelchair_tags_vouch_or_forbid() -> None:
    no = scene(extra=[([(100, 0), (130, 0)], {**GOOD, "wheelchair": "no"})])
    assert route(no, judge(no, PROFILES["wheelchair"]), (0, 0), (130, 0)) is None
    assert route(no, judge(no, PROFILES["foot"]), (0, 0), (130, 0)) is not None
    vouched = scene(extra=[([(100, 0), (130, 0)], {"highway": "footway", "wheelchair": "yes"})])
    j = judge(vouched, PROFILES["wheelchair"])
    found = route(vouched, j, (0, 0), (130, 0))
    assert found is not None and describe(vouched, j, found.eids)["unknown"] == {}


def test_osm_spellings() -> None:
    assert incline_percent("8%") == 8 and incline_percent("-10 %") == 10
    assert incline_percent("up") is None and incline_percent("5") == 5
    assert incline_percent("45°") == pytest.approx(100.0)
    assert length_m("1,5 m") == 1.5 and length_m("150 cm") == 1.5 and length_m("wide") is None
    assert kerb_height_m({"kerb": "lowered"}) == 0.02
    assert kerb_height_m({"kerb": "raised", "kerb:height": "0.04"}) == 0.04
    assert kerb_height_m({"highway": "crossing"}) is None
    assert surface_class("paving_stones") == "smooth" and surface_class("sett") == "rough"
    assert surface_class("moon_dust") is None and surface_class(None) is None


def test_the_ground_rule_keeps_kerb_and_crossing_nodes() -> None:
    ground = RULES["ground"]
    assert ground.nodes
    assert ground.select("node", {"highway": "crossing", "crossing": "traffic_signals"}) is True
    assert ground.select("node", {"kerb": "lowered"}) is True
    assert ground.select("node", {"barrier": "kerb"}) is True
    assert ground.select("node", {"highway": "street_lamp"}) is False
    assert ground.select("line", {"barrier": "kerb"}) is False
    assert ground.select("area", {"barrier": "kerb"}) is False
    assert ground.select("line", {"highway": "footway", "kerb": "lowered"}) is True


def test_best_orders() -> None:
    # four stops on a line, given scrambled: 0 at x=0, 1 at x=300, 2 at x=100, 3 at x=200
    x = np.array([0.0, 300.0, 100.0, 200.0])
    cost = np.abs(x[:, None] - x[None, :])
    assert best_order(cost, loop=False) == ([0, 2, 3, 1], "exact") or best_order(
        cost, loop=False
    ) == ([1, 3, 2, 0], "exact")
    order, how = best_order(cost, loop=True)
    assert order[0] == 0 and how == "exact"
    total = sum(cost[a, b] for a, b in zip(order, [*order[1:], order[0]], strict=True))
    assert total == pytest.approx(600.0)
    # beyond the exact limit: networkx's Christofides, within 1.5x of the optimum
    many = np.linspace(0, 900, 10)
    far = np.abs(many[:, None] - many[None, :])
    order, how = best_order(far, loop=True)
    assert how == "christofides" and sorted(order) == list(range(10)) and order[0] == 0
    total = sum(far[a, b] for a, b in zip(order, [*order[1:], order[0]], strict=True))
    assert total <= 1.5 * 1800.0


def test_gpx_parses_and_has_the_routes_length() -> None:
    net = scene()
    found = route(net, judge(net, PROFILES["wheelchair"]), (0, 0), (100, 0))
    assert found is not None
    # put the scene in Helsinki (EPSG:3067) so the points are real places
    coords = found.walk.coords + np.array([385000.0, 6672000.0])
    doc = etree.fromstring(gpx_document(coords, 3067, name="test", waypoints=[
        {"x": 385000.0, "y": 6672000.0, "name": "start"}]))  # fmt: skip
    ns = {"g": GPX_NS}
    assert doc.get("version") == "1.1"
    pts = doc.findall(".//g:trk/g:trkseg/g:trkpt", ns)
    assert len(pts) == len(coords)
    lonlat = np.array([(float(p.get("lon")), float(p.get("lat"))) for p in pts])
    x, y = transformer(4326, 3067).transform(lonlat[:, 0], lonlat[:, 1])
    back = float(np.hypot(np.diff(x), np.diff(y)).sum())
    assert back == pytest.approx(found.walk.length_m, abs=0.05)
    assert doc.find("g:wpt/g:name", ns).text == "start"  # type: ignore[union-attr]
