"""Buildings tilesets built from a real PostGIS twin: valid, complete, placed right, incremental."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import shapely
import trimesh
from pyproj import Transformer
from sqlalchemy import Engine, text

from tests.test_tiles_support import Validator, assert_valid_glbs, gltf_validator, helsinki
from tiles import inspect as ti
from tiles import synthetic
from tiles.build import build_all, build_tileset
from tiles.gltf import read_accessor, read_glb
from tiles.layout import read_manifest

__all__ = ["gltf_validator", "helsinki"]

N = 1500
TO_ECEF = Transformer.from_crs("EPSG:3067", "EPSG:4978", always_xy=True)


def _lod2_box(x: float, y: float, w: float, d: float, z0: float, h: float, ridge: float) -> str:
    """A closed gabled house as MultiPolygonZ faces, outward counter-clockwise rings."""
    a, b, c, e = (x, y, z0), (x + w, y, z0), (x + w, y + d, z0), (x, y + d, z0)
    a2, b2, c2, e2 = ((p[0], p[1], z0 + h) for p in (a, b, c, e))
    r1, r2 = (x, y + d / 2, z0 + h + ridge), (x + w, y + d / 2, z0 + h + ridge)
    faces = [
        [a, e, c, b],  # floor, facing down
        [a, b, b2, a2],
        [b, c, c2, b2],
        [c, e, e2, c2],
        [e, a, a2, e2],  # walls
        [a2, b2, r2, r1],
        [c2, e2, r1, r2],  # roof planes
        [b2, c2, r2],
        [e2, a2, r1],  # gable triangles
    ]
    polys = ", ".join(
        "((" + ", ".join(f"{p[0]} {p[1]} {p[2]}" for p in [*f, f[0]]) + "))" for f in faces
    )
    return f"MULTIPOLYGON Z ({polys})"


@pytest.fixture
def city(helsinki: Engine) -> Engine:
    with helsinki.begin() as conn:
        synthetic.insert_buildings(conn, N)
        conn.execute(
            text(
                "INSERT INTO buildings (source, source_id, footprint, base_z, height, levels, "
                "usage, lod2) VALUES ('test', 'lod2-house', ST_GeomFromText("
                "'MULTIPOLYGON(((384900 6671900, 384912 6671900, 384912 6671908, "
                "384900 6671908, 384900 6671900)))', 3067), 4, 6, 2, "
                "'residential', ST_GeomFromText(:g, 3067))"
            ),
            {"g": _lod2_box(384900, 6671900, 12, 8, 4, 6, 3)},
        )
    return helsinki


def _glbs(tileset: Path) -> list[Path]:
    return sorted((tileset / "content").glob("*.glb"))


def _db_buildings(engine: Engine) -> dict[int, Any]:
    with engine.connect() as conn:
        rows = (
            conn.execute(
                text(
                    "SELECT id, base_z, height, levels, usage, roof_type, year_built, name, "
                    "source_id FROM buildings WHERE scenario_id IS NULL"
                )
            )
            .mappings()
            .all()
        )
    return {r["id"]: r for r in rows}


def test_buildings_tileset_is_valid_3d_tiles(
    city: Engine, tmp_path: Path, gltf_validator: Validator
) -> None:
    (report,) = build_all(city, tmp_path, layer="buildings")
    assert report.features == N + 1 and report.tiles > 5
    tileset = tmp_path / "buildings"
    assert ti.check(tileset) == []
    doc = ti.load(tileset)
    assert doc["root"]["refine"] == "ADD"
    assert len(doc["root"]["transform"]) == 16
    assert_valid_glbs(gltf_validator, _glbs(tileset))
    # what the glTF validator cannot check: the metadata extensions
    for path in _glbs(tileset):
        _check_metadata_extensions(path)
    assert report.first_view_fraction <= 0.05


def _check_metadata_extensions(path: Path) -> None:
    doc, binary = read_glb(path.read_bytes())
    meta = doc["extensions"]["EXT_structural_metadata"]
    assert meta["schema"]["id"]
    tables = meta["propertyTables"]
    for bv in doc["bufferViews"]:
        assert bv["byteOffset"] % 8 == 0
    for mesh in doc["meshes"]:
        for prim in mesh["primitives"]:
            fs = prim["extensions"]["EXT_mesh_features"]["featureIds"][0]
            acc = doc["accessors"][prim["attributes"]["_FEATURE_ID_0"]]
            assert acc["componentType"] in (5121, 5123, 5126)  # never UNSIGNED_INT
            ids = read_accessor(doc, binary, prim["attributes"]["_FEATURE_ID_0"])
            table = tables[fs["propertyTable"]]
            assert ids.max() < fs["featureCount"] <= table["count"]
            assert set(np.unique(ids).tolist()) == set(range(fs["featureCount"]))
    for table in tables:
        cls = meta["schema"]["classes"][table["class"]]["properties"]
        assert set(table["properties"]) == set(cls)


def test_round_trip_finds_every_building_once_with_its_metadata(
    city: Engine, tmp_path: Path
) -> None:
    build_all(city, tmp_path, layer="buildings")
    db = _db_buildings(city)
    seen = Counter()
    for _uri, f in ti.features(tmp_path / "buildings"):
        seen[f["id"]] += 1
        row = db[f["id"]]
        assert f["layer"] == "buildings"
        assert f["height"] == pytest.approx(row["height"], abs=1e-4)
        assert f["base_z"] == pytest.approx(row["base_z"], abs=1e-4)
        assert f["levels"] == (row["levels"] if row["levels"] is not None else -1)
        assert f["usage"] == (row["usage"] or "")
        assert f["roof_type"] == (row["roof_type"] or "")
        assert f["year_built"] == (row["year_built"] if row["year_built"] is not None else -1)
        assert f["name"] == (row["name"] or "")
        assert f["source_id"] == row["source_id"]
    assert set(seen) == set(db)
    assert set(seen.values()) == {1}


def _feature_geometry(tileset: Path, building_id: int) -> tuple[np.ndarray, np.ndarray]:
    """World (ECEF) vertices and triangles of one building, read back from the tiles."""
    doc = ti.load(tileset)
    for w in ti.walk(doc):
        uri = w.tile.get("content", {}).get("uri")
        data = ti.read_content(tileset / uri)
        index = (
            data.tables[0]["id"].index(building_id) if building_id in data.tables[0]["id"] else None
        )
        if index is None:
            continue
        gdoc, binary = read_glb((tileset / uri).read_bytes())
        prim = gdoc["meshes"][0]["primitives"][0]
        pos = data.positions[0]
        fid = data.feature_ids[0]
        tris = read_accessor(gdoc, binary, prim["indices"]).reshape(-1, 3)
        mine = fid == index
        keep = mine[tris].all(axis=1)
        local = ti.content_to_tile_frame(data, pos)
        world = local @ w.world[:3, :3].T + w.world[:3, 3]
        return world, tris[keep]
    raise AssertionError(f"building {building_id} not found")


def test_buildings_sit_where_the_database_says_within_a_centimetre(
    city: Engine, tmp_path: Path
) -> None:
    build_all(city, tmp_path, layer="buildings")
    with city.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, ST_AsBinary(footprint), base_z, height FROM buildings "
                "WHERE source = 'synthetic' ORDER BY id LIMIT 40"
            )
        ).all()
    for bid, wkb, base, height in rows:
        world, _ = _feature_geometry(tmp_path / "buildings", bid)
        xy = shapely.get_coordinates(shapely.from_wkb(wkb))
        for z in (base, base + height):
            expected = np.column_stack(TO_ECEF.transform(xy[:, 0], xy[:, 1], np.full(len(xy), z)))
            d = np.linalg.norm(world[None, :, :] - expected[:, None, :], axis=2).min(axis=1)
            assert d.max() < 0.01, (bid, d.max())


@pytest.mark.parametrize("source_id", ["1", "2", "3", "4"])  # L-shape, courtyard, multi, rotated
def test_extruded_buildings_are_watertight_with_the_right_volume(
    city: Engine, tmp_path: Path, source_id: str
) -> None:
    build_all(city, tmp_path, layer="buildings")
    with city.connect() as conn:
        bid, area, height = conn.execute(
            text(
                "SELECT id, ST_Area(footprint), height FROM buildings "
                "WHERE source = 'synthetic' AND source_id = :s"
            ),
            {"s": source_id},
        ).one()
    world, tris = _feature_geometry(tmp_path / "buildings", bid)
    mesh = trimesh.Trimesh(world - world.mean(axis=0), tris, process=True)
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert mesh.volume > 0  # outward normals
    # grid areas of EPSG:3067 differ from ground areas by the scale factor (~0.9996^2)
    assert mesh.volume == pytest.approx(area * height, rel=2e-3)


def test_lod2_geometry_is_used_when_present(city: Engine, tmp_path: Path) -> None:
    build_all(city, tmp_path, layer="buildings")
    with city.connect() as conn:
        bid = conn.execute(
            text("SELECT id FROM buildings WHERE source_id = 'lod2-house'")
        ).scalar_one()
    world, tris = _feature_geometry(tmp_path / "buildings", bid)
    mesh = trimesh.Trimesh(world - world.mean(axis=0), tris, process=True)
    assert mesh.is_watertight
    # box 12 x 8 x 6 plus a gable prism 12 x 8 x 3 / 2
    assert mesh.volume == pytest.approx(12 * 8 * 6 + 12 * 8 * 3 / 2, rel=2e-3)
    apex = np.array(TO_ECEF.transform(384906, 6671904, 13.0))
    assert np.linalg.norm(world - apex, axis=1).min() < 6.01


def test_degenerate_lod2_falls_back_to_lod1(city: Engine, tmp_path: Path) -> None:
    """A LoD2 geometry with no usable face must not leave its building undrawn."""
    with city.begin() as conn:
        bid = conn.execute(
            text(
                "INSERT INTO buildings (source, source_id, footprint, base_z, height, lod2) "
                "VALUES ('test', 'flat-lod2', ST_GeomFromText('MULTIPOLYGON(((384800 6671800, "
                "384810 6671800, 384810 6671810, 384800 6671810, 384800 6671800)))', 3067), "
                "0, 5, ST_GeomFromText('MULTIPOLYGON Z (((384800 6671800 0, 384801 6671800 0, "
                "384802 6671800 0, 384800 6671800 0)))', 3067)) RETURNING id"
            )
        ).scalar_one()
    build_all(city, tmp_path, layer="buildings")
    world, tris = _feature_geometry(tmp_path / "buildings", bid)
    mesh = trimesh.Trimesh(world - world.mean(axis=0), tris, process=True)
    assert mesh.is_watertight
    assert mesh.volume == pytest.approx(10 * 10 * 5, rel=2e-3)


def test_incremental_build_rewrites_only_changed_tiles(city: Engine, tmp_path: Path) -> None:
    first = build_tileset(city, "buildings", tmp_path)
    assert first.written == first.tiles and first.reused == 0
    tileset = tmp_path / "buildings"
    before = {p.name: (p.stat().st_ino, p.read_bytes()) for p in _glbs(tileset)}

    again = build_tileset(city, "buildings", tmp_path)
    assert again.written == 0 and again.reused == first.tiles

    with city.begin() as conn:
        conn.execute(text("UPDATE buildings SET usage = 'museum' WHERE source_id = '777'"))
    changed = build_tileset(city, "buildings", tmp_path)
    assert changed.written == 1 and changed.reused == first.tiles - 1
    after = {p.name: p for p in _glbs(tileset)}
    kept = set(before) & set(after)
    assert len(kept) == first.tiles  # the old file stays one generation for open viewers
    for name in kept:
        assert after[name].stat().st_ino == before[name][0]
        assert after[name].read_bytes() == before[name][1]
    assert ti.check(tileset) == []
    assert [f["usage"] for _, f in ti.features(tileset) if f["source_id"] == "777"] == ["museum"]

    full = build_tileset(city, "buildings", tmp_path, full=True)
    assert full.written == full.tiles


def test_interrupted_build_leaves_the_previous_tileset_intact(city: Engine, tmp_path: Path) -> None:
    build_tileset(city, "buildings", tmp_path)
    tileset = tmp_path / "buildings"
    before = (tileset / "tileset.json").read_bytes()
    with city.begin() as conn:
        conn.execute(text("UPDATE buildings SET height = height + 1"))

    calls = []

    def stop(phase: str, done: int, total: int) -> None:
        calls.append(phase)
        if phase == "tiles" and len(calls) > 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_tileset(city, "buildings", tmp_path, progress=stop, workers=2)
    assert (tileset / "tileset.json").read_bytes() == before
    assert ti.check(tileset) == []
    manifest = read_manifest(tileset)
    assert manifest is not None
    # and the next build completes and shows the new heights
    done = build_tileset(city, "buildings", tmp_path)
    assert done.features == N + 1 and ti.check(tileset) == []


def test_parallel_and_serial_builds_write_the_same_bytes(city: Engine, tmp_path: Path) -> None:
    a = build_tileset(city, "buildings", tmp_path / "a", workers=1)
    b = build_tileset(city, "buildings", tmp_path / "b", workers=2, full=True)
    assert a.tiles == b.tiles
    names_a = {p.name: p.read_bytes() for p in _glbs(tmp_path / "a" / "buildings")}
    names_b = {p.name: p.read_bytes() for p in _glbs(tmp_path / "b" / "buildings")}
    assert names_a == names_b


def test_large_first_puts_the_tallest_buildings_at_the_top(city: Engine, tmp_path: Path) -> None:
    build_all(city, tmp_path, layer="buildings")
    tileset = tmp_path / "buildings"
    doc = ti.load(tileset)
    root = ti.read_content(tileset / doc["root"]["content"]["uri"])
    heights_root = root.tables[0]["height"]
    assert max(heights_root) >= 60  # the towers
    # every tile's geometric error covers the largest feature below it
    for w in ti.walk(doc):
        kids = w.tile.get("children", [])
        assert all(k["geometricError"] <= w.tile["geometricError"] for k in kids)
    leaves = [w for w in ti.walk(doc) if not w.tile.get("children")]
    assert all(w.tile["geometricError"] == 0 for w in leaves)


def test_scenario_tileset_holds_its_buildings_and_lists_what_it_hides(
    city: Engine, tmp_path: Path
) -> None:
    with city.begin() as conn:
        sid = conn.execute(
            text("INSERT INTO scenarios (slug, name) VALUES ('tower', 'A tower') RETURNING id")
        ).scalar_one()
        replaced = conn.execute(
            text("SELECT id FROM buildings WHERE source_id = '10'")
        ).scalar_one()
        removed = conn.execute(text("SELECT id FROM buildings WHERE source_id = '11'")).scalar_one()
        conn.execute(
            text(
                "INSERT INTO buildings (source, source_id, footprint, base_z, height, scenario_id, "
                "replaces_id) SELECT 'plan', 'new-tower', footprint, base_z, 80, :s, id "
                "FROM buildings WHERE id = :r"
            ),
            {"s": sid, "r": replaced},
        )
        conn.execute(
            text(
                "INSERT INTO scenario_removals (scenario_id, layer, feature_id) "
                "VALUES (:s, 'buildings', :f)"
            ),
            {"s": sid, "f": removed},
        )
    (report,) = build_all(city, tmp_path, scenario="tower")
    assert report.name == "scenario-tower" and report.features == 1
    doc = orjson.loads((tmp_path / "scenario-tower" / "tileset.json").read_bytes())
    assert doc["extras"]["hides"] == {"layer": "buildings", "ids": sorted([replaced, removed])}
    (f,) = [f for _, f in ti.features(tmp_path / "scenario-tower")]
    assert f["height"] == 80 and f["replaces_id"] == replaced and f["scenario_id"] == sid
    assert ti.check(tmp_path / "scenario-tower") == []


def test_empty_layer_makes_no_tileset_and_unknown_names_are_explained(
    helsinki: Engine, tmp_path: Path
) -> None:
    (report,) = build_all(helsinki, tmp_path, layer="buildings")
    assert report.empty and not (tmp_path / "buildings" / "tileset.json").exists()
    from geodata.errors import NotFound

    with pytest.raises(NotFound, match="tilesets: buildings"):
        build_tileset(helsinki, "castles", tmp_path)
    with pytest.raises(NotFound, match="no scenario 'nope'"):
        build_all(helsinki, tmp_path, scenario="nope")


@pytest.mark.timeout(60)
def test_buildings_straddling_zero_of_the_working_crs_build(engine: Engine, tmp_path: Path) -> None:
    """Web Mercator around (0, 0): the extent crosses x = 0 and y = 0 (once a hang)."""
    from geodata.working_crs import set_working_crs

    with engine.begin() as conn:
        set_working_crs(conn, 3857)
        synthetic.insert_buildings(conn, 300, origin=(-350.0, -330.0))
    report = build_tileset(engine, "buildings", tmp_path)
    assert report.features == 300
    tileset = tmp_path / "buildings"
    assert ti.check(tileset) == []
    ids = Counter(f["id"] for _, f in ti.features(tileset))
    assert len(ids) == 300 and max(ids.values()) == 1
    manifest = read_manifest(tileset)
    assert manifest is not None
    t = manifest["tree"]
    assert t["x0"] < -350 and t["x0"] + t["side"] > 0 and t["y0"] < -330 < 0 < t["y0"] + t["side"]
