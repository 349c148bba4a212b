"""``load_demo`` on a fresh database: the Helsinki district, its synthetic networks, the project.

The district is loaded once for the module (it takes seconds, not milliseconds); the tests
then read it, and the last ones re-run the demo to prove it idempotent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from sqlalchemy import Engine

from geodata.demo import STEPS, SYNTHETIC, load_demo
from geodata.grounding import GroundHeights, footprint_bases
from geodata.terrain import heights_at, load_dem
from geodata.vocab import NETWORKS
from tests.import_data import rows, snapshot

#: plausible ranges per network: cover depth (m), diameter (mm), materials
EXPECTED: dict[str, tuple[tuple[float, float], tuple[float, float], set[str]]] = {
    "water": ((1.2, 1.5), (100, 500), {"cast iron", "ductile iron", "PVC", "PE"}),
    "wastewater": ((2.0, 4.0), (225, 800), {"concrete", "PVC"}),
    "stormwater": ((1.5, 3.0), (300, 1000), {"concrete", "PVC"}),
    "gas": ((0.9, 1.2), (63, 250), {"steel", "PE"}),
    "district_heating": ((0.8, 1.3), (65, 500), {"pre-insulated steel", "steel in concrete duct"}),
    "electricity": ((0.7, 1.0), (50, 160), {"copper", "aluminium"}),
    "telecom": ((0.5, 0.8), (40, 110), {"copper", "optical fibre"}),
    "lighting": ((0.6, 0.8), (32, 40), {"copper", "aluminium"}),
}


@dataclass
class Demo:
    engine: Engine
    lines: list[str]
    progress: list[tuple[int, int | None]]
    seconds: float


@pytest.fixture(scope="module")
def demo(module_engine: Engine) -> Demo:
    """One database for the module, with the demo loaded once."""
    calls: list[tuple[int, int | None]] = []
    started = time.perf_counter()
    lines = load_demo(module_engine, progress=lambda n, total: calls.append((n, total)))
    return Demo(module_engine, lines, calls, time.perf_counter() - started)


def one(engine: Engine, sql: str, **params: Any) -> Any:
    return rows(engine, sql, **params)[0][0]


def test_summary_and_progress(demo: Demo) -> None:
    text = "\n".join(demo.lines)
    assert "ODbL" in text and "© OpenStreetMap contributors" in text
    assert "measured from height=*" in text and "from building:levels" in text
    assert "synthetic networks:" in text and "project new-block:" in text
    assert sum(n for n, _ in demo.progress) == STEPS
    assert {t for _, t in demo.progress} == {STEPS}


def test_district_from_openstreetmap(demo: Demo) -> None:
    e = demo.engine
    assert one(e, "SELECT value FROM twin_meta WHERE key = 'crs'") == "3067"
    n, measured, levels = rows(
        e,
        "SELECT count(*), count(*) FILTER (WHERE height_source = "
        "'measured'), count(*) FILTER (WHERE height_source = 'levels') "
        "FROM buildings WHERE scenario_id IS NULL",
    )[0]
    assert 400 <= n <= 600 and measured >= 10 and levels >= 100
    ground = dict(rows(e, "SELECT kind, count(*) FROM ground GROUP BY kind"))
    assert ground["footway"] > 1000 and ground["road"] > 500
    assert {"park", "water", "pedestrian", "parking"} <= set(ground)
    furniture = dict(rows(e, "SELECT kind, count(*) FROM furniture GROUP BY kind"))
    assert {"lamp", "bench", "tree", "bin", "bus_stop", "traffic_light"} <= set(furniture)
    assert furniture["lamp"] > 500 and furniture["tree"] > 600
    assert one(e, "SELECT count(*) FROM pois") > 100
    datasets = rows(
        e,
        "SELECT layer, licence, attribution FROM datasets "
        "WHERE source = 'osm-helsinki' ORDER BY layer",
    )
    assert {d[0] for d in datasets} >= {"buildings", "ground", "furniture", "pois", "networks"}
    assert all(d[1] == "ODbL-1.0" and d[2] == "© OpenStreetMap contributors" for d in datasets)


def _cover(e: Engine, network: str) -> np.ndarray:
    """The cover (ground - z) at every vertex of a generated network's pipes."""
    xyz = np.array(
        rows(
            e,
            "SELECT ST_X(p.geom), ST_Y(p.geom), ST_Z(p.geom) FROM network_segments s, "
            "ST_DumpPoints(s.geom) p WHERE s.source = :s AND s.network = :n "
            "AND s.source_id NOT LIKE 'water:branch:%'",
            s=SYNTHETIC,
            n=network,
        )
    )
    ground = heights_at(e, xyz[:, :2])
    assert ground is not None
    return ground - xyz[:, 2]


def test_real_pipelines_and_hydrants(demo: Demo) -> None:
    e = demo.engine
    real = dict(
        rows(
            e,
            "SELECT network, count(*) FROM network_segments "
            "WHERE source = 'osm-helsinki' AND NOT synthetic GROUP BY 1",
        )
    )
    assert set(real) == {"water", "district_heating", "gas"} and sum(real.values()) >= 70
    assert (
        one(e, "SELECT count(*) FROM network_segments WHERE source = 'osm-helsinki' AND synthetic")
        == 0
    )
    hydrants = rows(
        e,
        "SELECT network, synthetic, z_source, count(*) FROM network_nodes "
        "WHERE kind = 'hydrant' GROUP BY 1, 2, 3",
    )
    assert hydrants == [("water", False, "dem", 37)]
    # each lies at the demo terrain's height minus its cover depth
    sql = "SELECT ST_X(geom), ST_Y(geom), ST_Z(geom) + depth_m FROM network_nodes "
    sql += "WHERE kind = 'hydrant'"
    at = np.array(rows(e, sql))
    ground = heights_at(e, at[:, :2])
    assert ground is not None and np.allclose(at[:, 2], ground, atol=1e-6)
    assert one(e, "SELECT count(*) FROM furniture WHERE attrs ? 'emergency'") == 0
    # each hydrant hangs on a generated main by a short branch
    assert (
        one(
            e,
            "SELECT count(*) FROM network_segments WHERE source_id LIKE "
            "'water:branch:%' AND ST_Length(geom) < 40",
        )
        >= 30
    )


def test_synthetic_networks_are_plausible(demo: Demo) -> None:
    e = demo.engine
    stats = {
        r[0]: r[1:]
        for r in rows(
            e,
            "SELECT network, count(*), min(depth_m), max(depth_m), min(diameter_mm), "
            "max(diameter_mm), array_agg(DISTINCT material), min(install_year), max(install_year), "
            "bool_and(synthetic), bool_and(operator IS NOT NULL), "
            "bool_and(attrs->>'note' LIKE '%not real%'), "
            "max(ST_ZMax(geom)), min(ST_ZMin(geom)) "
            "FROM network_segments WHERE source = :s AND source_id NOT LIKE 'water:branch:%' "
            "GROUP BY network",
            s=SYNTHETIC,
        )
    }
    assert set(stats) == set(NETWORKS)
    for network, (depth, diameter, materials) in EXPECTED.items():
        (n, dmin, dmax, dnmin, dnmax, mats, y0, y1, synthetic, operated, noted, _zmax, _zmin) = (
            stats[network]
        )
        assert n >= 200, network
        assert depth[0] <= dmin <= dmax <= depth[1], (network, dmin, dmax)
        # z = ground - depth, all along every pipe (laid under the demo terrain)
        cover = _cover(demo.engine, network)
        assert depth[0] - 1e-6 <= cover.min() <= cover.max() <= depth[1] + 1e-6, network
        assert diameter[0] <= dnmin <= dnmax <= diameter[1], (network, dnmin, dnmax)
        assert set(mats) <= materials and len(mats) >= 2, (network, mats)
        assert 1890 <= y0 < 1990 and 2000 < y1 <= 2023, (network, y0, y1)
        assert synthetic and operated and noted, network
    operators = dict(
        rows(
            e,
            "SELECT network, min(operator) FROM network_segments WHERE source = :s GROUP BY 1",
            s=SYNTHETIC,
        )
    )
    assert (
        operators["water"]
        == operators["wastewater"]
        == ("Helsingin Seudun Ympäristöpalvelut (HSY)")
    )
    assert operators["district_heating"] == "Helen" and operators["gas"] == "Gasum"
    # hierarchy: mains under main streets are wider than distribution pipes
    wider = rows(
        e,
        "SELECT avg(diameter_mm) FILTER (WHERE attrs->>'hierarchy' = 'main') > "
        "avg(diameter_mm) FILTER (WHERE attrs->>'hierarchy' = 'distribution') "
        "FROM network_segments WHERE source = :s GROUP BY network",
        s=SYNTHETIC,
    )
    assert all(w for (w,) in wider)
    # along the streets, a few metres aside, and networks do not run on top of each other
    far = rows(
        e,
        "SELECT count(*) FILTER (WHERE d IS NULL), max(d) FROM (SELECT (SELECT "
        "min(ST_Distance(m, g.geom)) FROM ground g WHERE g.kind IN ('road', "
        "'pedestrian') AND ST_DWithin(g.geom, m, 50)) AS d FROM (SELECT "
        "ST_LineInterpolatePoint(ST_Force2D(geom), 0.5) AS m FROM network_segments "
        "WHERE source = :s AND source_id NOT LIKE 'water:branch:%') s) x",
        s=SYNTHETIC,
    )
    assert far[0][0] == 0 and far[0][1] < 15
    overlap = one(
        e,
        "SELECT coalesce(sum(ST_Length(ST_Intersection(ST_Force2D(a.geom), "
        "ST_Force2D(b.geom)))), 0) FROM network_segments a JOIN network_segments b "
        "ON a.network < b.network AND ST_Intersects(a.geom, b.geom) "
        "WHERE a.source = :s AND b.source = :s",
        s=SYNTHETIC,
    )
    total = one(
        e, "SELECT sum(ST_Length(geom)) FROM network_segments WHERE source = :s", s=SYNTHETIC
    )
    assert overlap < 0.01 * total
    # every geometry is a valid 3D line, in the working CRS
    assert rows(
        e,
        "SELECT bool_and(ST_IsValid(geom)), bool_and(ST_NDims(geom) = 3), "
        "min(ST_SRID(geom)) FROM network_segments",
    ) == [(True, True, 3067)]


def test_synthetic_nodes(demo: Demo) -> None:
    e = demo.engine
    nodes = {
        (r[0], r[1]): r[2:]
        for r in rows(
            e,
            "SELECT network, kind, count(*), min(depth_m) "
            "FROM network_nodes WHERE source = :s GROUP BY 1, 2",
            s=SYNTHETIC,
        )
    }
    assert {("wastewater", "manhole"), ("water", "valve"), ("gas", "valve")} <= set(nodes)
    assert all(n > 50 and dmin > 0.4 for n, dmin in nodes.values())
    # each at the terrain's height minus its depth
    at = np.array(
        rows(e, "SELECT ST_X(geom), ST_Y(geom), ST_Z(geom) + depth_m FROM network_nodes "
                "WHERE source = :s", s=SYNTHETIC)
    )  # fmt: skip
    ground = heights_at(e, at[:, :2])
    assert ground is not None and np.allclose(at[:, 2], ground, atol=1e-6)
    # sewers run straight between manholes at most ~50 m apart, and each end has one
    assert (
        one(
            e,
            "SELECT max(ST_Length(geom)) FROM network_segments WHERE source = :s "
            "AND network = 'wastewater'",
            s=SYNTHETIC,
        )
        <= 50.5
    )
    orphans = one(
        e,
        "SELECT count(*) FROM network_segments s WHERE s.source = :s AND "
        "s.network = 'wastewater' AND NOT EXISTS (SELECT 1 FROM network_nodes n "
        "WHERE n.network = 'wastewater' AND n.kind = 'manhole' AND "
        "ST_3DDWithin(n.geom, ST_StartPoint(s.geom), 0.02))",
        s=SYNTHETIC,
    )
    assert orphans == 0
    # valves sit on the water mains, at the mains' depth
    off = one(
        e,
        "SELECT max((SELECT min(ST_3DDistance(v.geom, s.geom)) FROM network_segments s "
        "WHERE s.network = 'water' AND s.source = :s AND ST_DWithin(s.geom, v.geom, 1)))"
        " FROM network_nodes v WHERE v.network = 'water' AND v.kind = 'valve'",
        s=SYNTHETIC,
    )
    assert off < 0.02


def test_project_scenario_differs_from_baseline(demo: Demo) -> None:
    e = demo.engine
    project = rows(
        e,
        "SELECT p.id, p.name, p.description, ST_Area(p.site), s.id "
        "FROM projects p JOIN scenarios s ON s.project_id = p.id "
        "WHERE p.slug = 'new-block'",
    )
    assert len(project) == 1
    pid, name, description, area, sid = project[0]
    assert name and "fictional" in description and area > 1000
    added = rows(
        e,
        "SELECT b.height, b.levels, ST_Within(b.footprint, p.site), "
        "EXISTS (SELECT 1 FROM buildings o WHERE o.scenario_id IS NULL AND "
        "ST_Intersects(o.footprint, b.footprint) AND o.id NOT IN (SELECT feature_id "
        "FROM scenario_removals WHERE scenario_id = :sid)) "
        "FROM buildings b JOIN projects p ON p.id = :pid WHERE b.scenario_id = :sid",
        pid=pid,
        sid=sid,
    )
    assert 3 <= len(added) <= 4
    assert len({a[0] for a in added}) == len(added)  # different heights
    assert all(within and not clash for _, _, within, clash in added)
    removed = rows(
        e,
        "SELECT r.layer, b.scenario_id FROM scenario_removals r "
        "JOIN buildings b ON b.id = r.feature_id WHERE r.scenario_id = :sid",
        sid=sid,
    )
    assert removed == [("buildings", None)]  # a baseline building goes in the scenario
    route = rows(
        e,
        "SELECT jsonb_array_length(stops), ST_Length(geom), "
        "(SELECT count(*) FROM pois WHERE id IN (SELECT jsonb_array_elements_text("
        "r.stops)::bigint)) FROM routes r WHERE slug = 'centre-walk'",
    )
    stops, length, known = route[0]
    assert stops >= 3 and known == stops and 500 < length < 10_000
    # the circuit says whether it is step-free, and what it is for a wheelchair
    ((accessible, step_free, wheelchair, unknown),) = rows(
        e,
        "SELECT accessible, (attrs->>'step_free')::boolean, (attrs->>'wheelchair')::boolean, "
        "attrs->'wheelchair_unknown_m' FROM routes WHERE slug = 'centre-walk'",
    )
    assert accessible is step_free and isinstance(wheelchair, bool) and isinstance(unknown, dict)


def test_rerun_is_fast_and_idempotent(demo: Demo) -> None:
    e = demo.engine
    before = snapshot(e)
    ids_sql = (
        "SELECT source, source_id, id FROM network_segments UNION ALL "
        "SELECT source, source_id, id FROM buildings ORDER BY 1, 2"
    )
    ids = rows(e, ids_sql)
    started = time.perf_counter()
    lines = load_demo(e)
    assert "already loaded and unchanged" in lines[-1]
    assert time.perf_counter() - started < 5
    assert snapshot(e) == before
    # a deleted feature is noticed: the next run redoes the work and restores it, changing
    # nothing else (same rows, same ids)
    with e.begin() as conn:
        conn.exec_driver_sql(
            f"DELETE FROM network_segments WHERE id = (SELECT min(id) FROM "
            f"network_segments WHERE source = '{SYNTHETIC}')"
        )
        conn.exec_driver_sql("DELETE FROM furniture WHERE id = (SELECT min(id) FROM furniture)")
    lines = load_demo(e)
    assert "already loaded" not in lines[-1]
    assert _without_demo_meta(snapshot(e)) == _without_demo_meta(before)
    after = rows(e, ids_sql)
    assert len(after) == len(ids)
    assert sum(a != b for a, b in zip(ids, after, strict=True)) <= 2  # the restored ones


def _without_demo_meta(snap: dict[str, Any]) -> dict[str, Any]:
    """The demo's own bookkeeping records update times, which a restored row moves on."""
    return {**snap, "twin_meta": [kv for kv in snap["twin_meta"] if kv[0] != "demo"]}


def test_live_devices_are_registered_bound_and_flagged(demo: Demo, tmp_path: Path) -> None:
    """The demo's devices: real OSM lamps, schools, cameras and valves; synthetic parking bays
    and flood gauge (the extract maps none); buses over the real stops, their timetable
    synthetic; a re-run finds all of it in place and does nothing."""
    from geodata.importers.base import ImportOptions
    from sensors_bridge.simulate.demo import load_live_demo, simulated_devices

    e = demo.engine
    lines = load_live_demo(e, tmp_path, ImportOptions.from_settings())
    assert "SYNTHETIC bus feed 'demo-bus'" in "\n".join(lines)
    by_kind = dict(
        rows(
            e,
            "SELECT attrs->>'simulate', count(*) FROM devices WHERE attrs ? 'simulate' GROUP BY 1",
        )
    )
    assert by_kind == {
        "parking": 22,
        "parking_disabled": 2,
        "flood_gauge": 1,
        "lamp": 30,
        "smart_lamp": 10,
        "air_quality": 2,
        "co2": 10,
        "camera": 8,
        "pressure": 6,
    }
    bound = rows(
        e,
        "SELECT d.attrs->>'simulate', d.protocol, d.visibility, f.kind, f.source, "
        "f.attrs->>'synthetic' FROM devices d JOIN furniture f ON f.id = d.feature_id "
        "AND d.layer IN ('furniture', 'cameras') WHERE d.attrs ? 'simulate' "
        "GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1",
    )
    assert bound == [
        ("air_quality", "http", "public", "lamp", "osm-helsinki", None),
        ("camera", "mqtt", "agent", "camera", "osm-helsinki", None),
        ("flood_gauge", "mqtt", "public", "gauge", "demo-synthetic-live", "true"),
        ("lamp", "mqtt", "public", "lamp", "osm-helsinki", None),
        ("parking", "tts", "public", "parking_space", "demo-synthetic-live", "true"),
        ("parking_disabled", "tts", "public", "parking_space", "demo-synthetic-live", "true"),
        ("smart_lamp", "mqtt", "public", "lamp", "osm-helsinki", None),
    ]
    # what the shipped rules read: disabled bays are tagged, smart lamps are lamps
    tagged = rows(e, "SELECT id, type FROM devices WHERE attrs->'tags' ? 'disabled' ORDER BY id")
    assert tagged == [("parking-01", "parking"), ("parking-02", "parking")]
    assert one(e, "SELECT count(*) FROM devices WHERE type = 'lamp'") == 40
    gauge = one(e, "SELECT attrs FROM devices WHERE id = 'flood-gauge-1'")
    assert gauge["zero_altitude_m"] == -0.25 and gauge["synthetic"] is True
    assert one(e, "SELECT count(*) FROM devices WHERE layer = 'buildings'") == 10  # school CO2
    assert one(e, "SELECT count(*) FROM devices WHERE layer = 'network-nodes'") == 6
    assert (
        one(
            e,
            "SELECT count(*) FROM devices WHERE protocol = 'tts' AND external_id ~ "
            "'^[0-9A-F]{16}$'",
        )
        == 24
    )
    # every bus stop of the feed is a gtfs device bound to its stop
    stops = one(e, "SELECT count(*) FROM furniture WHERE source = 'gtfs:demo-bus'")
    assert stops >= 9
    assert one(e, "SELECT count(*) FROM devices WHERE protocol = 'gtfs'") == stops
    assert one(e, "SELECT agency FROM gtfs_feeds WHERE name = 'demo-bus'").startswith("Synthetic")
    with e.connect() as conn:
        assert len(simulated_devices(conn)) == 91
    assert load_live_demo(e, tmp_path, ImportOptions.from_settings()) == lines  # unchanged


def test_the_district_stands_on_its_terrain(demo: Demo) -> None:
    """The demo's DEM rises to tens of metres: every building stands on its lowest ground,
    every bench and point of interest on the ground, every pipe under it."""
    e = demo.engine
    dem = load_dem(e)
    assert dem is not None and dem.synthetic
    got = rows(e, "SELECT z_source, count(*) FROM buildings WHERE scenario_id IS NULL GROUP BY 1")
    assert dict(got).keys() == {"dem"}
    found = rows(e, "SELECT ST_AsBinary(footprint), base_z FROM buildings")
    want = footprint_bases(shapely.from_wkb([bytes(r[0]) for r in found]), GroundHeights(dem))
    assert np.allclose([r[1] for r in found], want, atol=1e-6)
    assert max(r[1] for r in found) > 10  # the district is not flat
    for table in ("furniture", "pois", "network_segments", "network_nodes"):
        got = rows(e, f"SELECT source = :s, z_source FROM {table} GROUP BY 1, 2", s=SYNTHETIC)
        # the generated networks are laid under the terrain by their generator (their depth
        # varies along a pipe), the rest by the import
        assert set(got) <= {(False, "dem"), (True, "source")}, (table, got)
