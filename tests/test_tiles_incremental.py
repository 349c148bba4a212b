"""Incremental tile builds against a real PostGIS: after any change, the tileset holds
exactly the features, geometry and attributes of a full rebuild of the same data."""

from __future__ import annotations

import dataclasses
import fcntl
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from geodata.errors import Conflict
from tests.import_data import HELSINKI_LONLAT, feature, project, rect, write_geojson
from tests.test_tiles_support import helsinki
from tiles import inspect as ti
from tiles import synthetic
from tiles.build import BuildReport, build_spec, build_tileset, resolve_specs
from tiles.kinds import TilesetSpec
from tiles.layout import LOCK, read_manifest
from tiles.quadtree import TreeParams, decode
from twin.api.errors import install
from twin.cli import app

__all__ = ["helsinki"]

#: small tiles, so that a few hundred buildings make a tree of several levels
PARAMS = TreeParams(max_tile_features=40, max_tile_bytes=200_000, min_cell=25.0)
N = 600


@pytest.fixture
def town(helsinki: Engine) -> Engine:
    with helsinki.begin() as conn:
        synthetic.insert_buildings(conn, N)
    return helsinki


def _spec(engine: Engine, name: str = "buildings") -> TilesetSpec:
    (spec,) = [s for s in resolve_specs(engine) if s.name == name]
    return spec


def _build(engine: Engine, tiles: Path) -> BuildReport:
    return build_spec(engine, _spec(engine), tiles, params=PARAMS, workers=1)


def _assert_same_as_full(engine: Engine, tiles: Path, tmp_path: Path) -> None:
    """The incremental tileset against a full build (own folder, own cursor) of the same data."""
    ref = tmp_path / "reference"
    build_spec(engine, _spec(engine), ref, params=PARAMS, workers=1, full=True)
    got, want = ti.feature_map(tiles / "buildings"), ti.feature_map(ref / "buildings")
    assert set(got) == set(want)
    for key, (props, geom) in want.items():
        assert got[key][0] == props, key
        assert got[key][1].shape == geom.shape, key
        np.testing.assert_allclose(got[key][1], geom, atol=0.01, err_msg=str(key))
    assert ti.check(tiles / "buildings") == []
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM buildings WHERE scenario_id IS NULL"))
        assert len(got) == n.scalar_one()


def _tile_of(tiles: Path, source_id: str) -> str:
    (uri,) = [u for u, f in ti.features(tiles / "buildings") if f["source_id"] == source_id]
    return uri


def test_unchanged_rebuild_reads_nothing_and_writes_nothing(town: Engine, tmp_path: Path) -> None:
    first = _build(town, tmp_path)
    assert first.mode == "full" and first.tiles > 10
    before = (tmp_path / "buildings" / "tileset.json").read_bytes()
    again = _build(town, tmp_path)
    assert again.mode == "unchanged" and again.written == 0
    assert (tmp_path / "buildings" / "tileset.json").read_bytes() == before
    _assert_same_as_full(town, tmp_path, tmp_path)


def test_update_rewrites_only_the_tile_of_the_feature(town: Engine, tmp_path: Path) -> None:
    first = _build(town, tmp_path)
    uri = _tile_of(tmp_path, "77")
    with town.begin() as conn:
        conn.execute(text("UPDATE buildings SET usage = 'museum' WHERE source_id = '77'"))
    r = _build(town, tmp_path)
    assert r.mode == "incremental" and r.changed == 1
    assert r.written == 1 and r.reused == first.tiles - 1
    assert _tile_of(tmp_path, "77") != uri  # a new file for the changed tile
    _assert_same_as_full(town, tmp_path, tmp_path)


@pytest.mark.parametrize("change", [False, True])
def test_a_content_file_missing_on_disk_is_remade_by_a_full_build(
    town: Engine, tmp_path: Path, change: bool
) -> None:
    _build(town, tmp_path)
    lost = tmp_path / "buildings" / _tile_of(tmp_path, "12")
    lost.unlink()
    if change:
        with town.begin() as conn:
            conn.execute(text("UPDATE buildings SET usage = 'museum' WHERE source_id = '77'"))
    r = _build(town, tmp_path)
    assert r.mode == "full"
    assert (tmp_path / "buildings" / _tile_of(tmp_path, "12")).is_file()
    _assert_same_as_full(town, tmp_path, tmp_path)


def test_deletions_leave_their_tiles(town: Engine, tmp_path: Path) -> None:
    _build(town, tmp_path)
    with town.begin() as conn:
        conn.execute(text("DELETE FROM buildings WHERE source_id::int % 7 = 0"))
    r = _build(town, tmp_path)
    assert r.mode == "incremental" and r.features == N - len(range(0, N, 7))
    _assert_same_as_full(town, tmp_path, tmp_path)


def test_emptied_tiles_with_children_stay_as_content_less_tiles(
    town: Engine, tmp_path: Path
) -> None:
    _build(town, tmp_path)
    root_ids = [f["id"] for u, f in ti.features(tmp_path / "buildings")][:40]
    doc = ti.load(tmp_path / "buildings")
    in_root = ti.read_content(tmp_path / "buildings" / doc["root"]["content"]["uri"]).tables[0]
    with town.begin() as conn:
        conn.execute(text("DELETE FROM buildings WHERE id = ANY(:i)"), {"i": in_root["id"]})
    r = _build(town, tmp_path)
    assert r.mode == "incremental" and root_ids
    assert "content" not in ti.load(tmp_path / "buildings")["root"]
    _assert_same_as_full(town, tmp_path, tmp_path)


def test_move_across_a_tile_boundary(town: Engine, tmp_path: Path) -> None:
    _build(town, tmp_path)
    old = _tile_of(tmp_path, "120")
    with town.begin() as conn:  # to the far corner of the town
        conn.execute(
            text(
                "UPDATE buildings SET footprint = ST_Translate(footprint, "
                "(SELECT ST_XMax(ST_Extent(footprint)) FROM buildings) - ST_XMax(footprint) - 1, "
                "(SELECT ST_YMin(ST_Extent(footprint)) FROM buildings) - ST_YMin(footprint) + 1) "
                "WHERE source_id = '120'"
            )
        )
    r = _build(town, tmp_path)
    assert r.mode == "incremental" and 1 <= r.written <= 2
    assert _tile_of(tmp_path, "120") != old
    _assert_same_as_full(town, tmp_path, tmp_path)


def test_a_full_leaf_splits(town: Engine, tmp_path: Path) -> None:
    first = _build(town, tmp_path)
    manifest = read_manifest(tmp_path / "buildings")
    assert manifest is not None
    deepest = max((t["key"] for t in manifest["tiles"].values()), key=lambda k: decode(k)[0])
    with town.connect() as conn:
        x, y = conn.execute(
            text(
                "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(footprint) c FROM buildings "
                "WHERE id = :i) q"
            ),
            {"i": [f["id"] for u, f in ti.features(tmp_path / "buildings")][-1]},
        ).one()
    with town.begin() as conn:  # 120 small sheds packed around one building
        conn.execute(
            text(
                "INSERT INTO buildings (source, source_id, footprint, base_z, height) "
                "SELECT 'sheds', 'shed-' || i, ST_Multi(ST_MakeEnvelope(:x + (i % 12) * 0.9, "
                ":y + (i / 12) * 0.9, :x + (i % 12) * 0.9 + 0.5, :y + (i / 12) * 0.9 + 0.5, "
                "3067)), 2, 2 FROM generate_series(0, 119) i"
            ),
            {"x": x - 5, "y": y - 5},
        )
    r = _build(town, tmp_path)
    assert r.mode == "incremental" and r.tiles > first.tiles
    after = read_manifest(tmp_path / "buildings")
    assert after is not None and deepest is not None
    assert max(t["features"] for t in after["tiles"].values()) <= PARAMS.max_tile_features
    _assert_same_as_full(town, tmp_path, tmp_path)


def test_a_sequence_of_changes_matches_a_full_rebuild(town: Engine, tmp_path: Path) -> None:
    _build(town, tmp_path)
    steps = [
        "UPDATE buildings SET height = height + 5 WHERE source_id::int % 50 = 3",
        "DELETE FROM buildings WHERE source_id::int BETWEEN 200 AND 260",
        "UPDATE buildings SET footprint = ST_Translate(footprint, 300, -200) "
        "WHERE source_id::int % 90 = 1",
    ]
    for sql in steps:
        with town.begin() as conn:
            conn.execute(text(sql))
        assert _build(town, tmp_path).mode == "incremental"
    with town.begin() as conn:
        synthetic.insert_buildings(conn, 30, start=N, source="late")
    assert _build(town, tmp_path).mode == "incremental"
    _assert_same_as_full(town, tmp_path, tmp_path)


def test_truncate_and_a_pruned_log_fall_back_to_full(town: Engine, tmp_path: Path) -> None:
    _build(town, tmp_path)
    with town.begin() as conn:
        conn.execute(text("UPDATE tile_log SET pruned_below = pg_current_xact_id()"))
        conn.execute(text("UPDATE buildings SET name = 'x' WHERE source_id = '1'"))
    assert _build(town, tmp_path).mode == "full"
    with town.begin() as conn:
        conn.execute(text("TRUNCATE scenario_removals, buildings CASCADE"))
        synthetic.insert_buildings(conn, 50)
    assert _build(town, tmp_path).mode == "full"
    _assert_same_as_full(town, tmp_path, tmp_path)


def test_the_log_is_pruned_once_every_tileset_consumed_it(town: Engine, tmp_path: Path) -> None:
    with town.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tile_changes")).scalar_one() >= N
    _build(town, tmp_path)
    with town.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tile_changes")).scalar_one() == 0


def test_a_concurrent_build_is_a_409_conflict(town: Engine, tmp_path: Path) -> None:
    out = tmp_path / "buildings"
    out.mkdir()
    with open(out / LOCK, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(Conflict, match="another build of tileset 'buildings' is running"):
            build_tileset(town, "buildings", tmp_path)
    app = FastAPI()
    install(app)

    @app.get("/busy")
    def busy() -> None:
        raise Conflict("another build of tileset 'buildings' is running: wait for it")

    r = TestClient(app).get("/busy")
    assert r.status_code == 409 and r.json()["code"] == "Conflict"


def test_serving_a_tile_does_not_import_the_meshing_stack() -> None:
    code = (
        "import sys, tiles.catalog, twin.api.tiles; "
        "heavy = [m for m in ('numpy', 'shapely', 'mapbox_earcut', 'tiles.extrude', "
        "'tiles.kinds', 'tiles.build', 'psycopg') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_renamed_spec_builds_apart(town: Engine, tmp_path: Path) -> None:
    spec = dataclasses.replace(_spec(town), name="buildings-copy")
    r = build_spec(town, spec, tmp_path, params=PARAMS, workers=1)
    assert r.features == N and (tmp_path / "buildings-copy" / "tileset.json").exists()


def _houses(path: Path, heights: list[float]) -> Path:
    x, y = project(*HELSINKI_LONLAT, 3067)
    feats = [
        feature(rect(x + (i % 20) * 30, y + (i // 20) * 30), gml_id=f"h{i}", height=h)
        for i, h in enumerate(heights)
    ]
    return write_geojson(path, feats, crs="urn:ogc:def:crs:EPSG::3067")


def _table(output: str) -> dict[str, list[str]]:
    rows = [
        [c.strip() for c in line.split("│")[1:-1]]
        for line in output.splitlines()
        if line.count("│") == 9
    ]
    return {r[0]: r for r in rows}


def test_import_of_a_changed_file_then_build_touches_only_what_changed(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWIN_DATABASE_URL", db_url)
    monkeypatch.setenv("TWIN_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("TWIN_CRS", raising=False)
    monkeypatch.setenv("COLUMNS", "500")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    heights = [10.0 + i % 7 for i in range(400)]
    imp = ["import", str(tmp_path / "houses.geojson"), "--layer", "buildings", "--source", "t"]
    _houses(tmp_path / "houses.geojson", heights)
    assert runner.invoke(app, imp).exit_code == 0
    first = runner.invoke(app, ["tiles", "build", "--layer", "buildings"])
    assert first.exit_code == 0, first.output
    tiles = int(_table(first.output)["buildings"][2])

    heights[123] = 55.0
    _houses(tmp_path / "houses.geojson", heights)
    again = runner.invoke(app, imp)
    assert "updated 1, unchanged 399" in again.output, again.output
    second = runner.invoke(app, ["tiles", "build", "--layer", "buildings"])
    row = _table(second.output)["buildings"]
    assert row[1] == "400" and row[3] == "1" and row[4] == str(tiles - 1), second.output
    tall = [f for _, f in ti.features(tmp_path / "var" / "tiles" / "buildings") if f["height"] > 50]
    assert [f["source_id"] for f in tall] == ["h123"]

    with open(tmp_path / "var" / "tiles" / "buildings" / LOCK, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        busy = runner.invoke(app, ["tiles", "build", "--layer", "buildings"])
    assert busy.exit_code == 1
    assert "another build of tileset 'buildings' is running" in busy.output


def test_a_writer_running_during_a_build_is_picked_up_by_the_next(
    town: Engine, tmp_path: Path
) -> None:
    _build(town, tmp_path)
    with town.connect() as writer:  # a transaction older than the build, committed after it
        writer.execute(text("UPDATE buildings SET usage = 'late' WHERE source_id = '42'"))
        with town.begin() as conn:
            conn.execute(text("UPDATE buildings SET usage = 'early' WHERE source_id = '43'"))
        during = _build(town, tmp_path)
        assert during.mode == "incremental" and during.changed == 1
        writer.commit()
    after = _build(town, tmp_path)
    assert after.mode == "incremental" and after.changed == 1
    usage = {f["source_id"]: f["usage"] for _, f in ti.features(tmp_path / "buildings")}
    assert usage["42"] == "late" and usage["43"] == "early"
    _assert_same_as_full(town, tmp_path, tmp_path)


@pytest.mark.parametrize(
    ("name", "changes"),
    [
        (
            "network-water",
            [
                "UPDATE network_segments SET diameter_mm = 400 WHERE id % 9 = 0",
                "DELETE FROM network_nodes WHERE id % 11 = 0",
            ],
        ),
        (
            "furniture",
            [
                "UPDATE furniture SET height = coalesce(height, 1) + 2 WHERE id % 7 = 0",
                "DELETE FROM furniture WHERE id % 13 = 0",
            ],
        ),
    ],
)
def test_networks_and_furniture_rebuild_their_touched_tiles(
    helsinki: Engine, tmp_path: Path, name: str, changes: list[str]
) -> None:
    with helsinki.begin() as conn:
        synthetic.insert_network(conn, "water", 300, depth=1.8, diameter=200)
        synthetic.insert_furniture(conn, 400)
    spec = _spec(helsinki, name)
    first = build_spec(helsinki, spec, tmp_path, params=PARAMS, workers=1)
    for sql in changes:
        with helsinki.begin() as conn:
            conn.execute(text(sql))
        r = build_spec(helsinki, spec, tmp_path, params=PARAMS, workers=1)
        assert r.mode == "incremental" and 0 < r.written < first.tiles
    ref = dataclasses.replace(spec, name=f"{name}-reference")
    build_spec(helsinki, ref, tmp_path, params=PARAMS, workers=1, full=True)
    got, want = ti.feature_map(tmp_path / name), ti.feature_map(tmp_path / ref.name)
    assert set(got) == set(want) and len(got) < first.features
    for key, (props, geom) in want.items():
        assert got[key][0] == props, key
        np.testing.assert_allclose(got[key][1], geom, atol=0.01, err_msg=str(key))
    assert ti.check(tmp_path / name) == []


def test_a_bulk_statement_logs_no_ids_and_the_next_build_is_full(
    town: Engine, tmp_path: Path
) -> None:
    _build(town, tmp_path)
    with town.begin() as conn:  # more rows than tile_log_bulk: one NULL entry, not 11,000
        synthetic.insert_buildings(conn, 11_000, start=N, source="bulk")
        logged = conn.execute(
            text("SELECT count(*), count(id) FROM tile_changes WHERE tbl = 'buildings'")
        ).one()
    assert logged == (1, 0)
    r = _build(town, tmp_path)
    assert r.mode == "full" and r.features == N + 11_000


def test_a_scenario_tileset_is_patched_like_the_baseline(town: Engine, tmp_path: Path) -> None:
    """A scenario's buildings are a patchable kind too: an edit and an addition are read in
    the index pass (changed_sql, with the scenario's own filter) and give a full build's
    features."""
    with town.begin() as conn:
        sid = conn.execute(
            text("INSERT INTO scenarios (slug, name) VALUES ('tower', 'T') RETURNING id")
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO buildings (source, source_id, footprint, height, scenario_id) "
                "SELECT 'scn', 's' || id, footprint, height + 10, :s FROM buildings "
                "WHERE scenario_id IS NULL ORDER BY id LIMIT 60"
            ),
            {"s": sid},
        )
    spec = _spec(town, "scenario-tower")

    def build(out: Path, *, full: bool = False) -> BuildReport:
        return build_spec(town, spec, out, params=PARAMS, workers=1, full=full)

    assert build(tmp_path).mode == "full"
    with town.begin() as conn:
        conn.execute(
            text(
                "UPDATE buildings SET height = height + 5 WHERE source_id = 's7' AND source = 'scn'"
            )
        )
        conn.execute(
            text(
                "INSERT INTO buildings (source, source_id, footprint, height, scenario_id) "
                "SELECT 'scn', 'extra', footprint, 42, :s FROM buildings "
                "WHERE scenario_id IS NULL ORDER BY id DESC LIMIT 1"
            ),
            {"s": sid},
        )
    again = build(tmp_path)
    assert again.mode == "incremental" and again.changed == 2
    ref = tmp_path / "reference"
    build(ref, full=True)
    got = ti.feature_map(tmp_path / "scenario-tower")
    want = ti.feature_map(ref / "scenario-tower")
    assert set(got) == set(want) and len(got) == 61
    for key, (props, geom) in want.items():
        assert got[key][0] == props, key
        np.testing.assert_allclose(got[key][1], geom, atol=0.01, err_msg=str(key))
