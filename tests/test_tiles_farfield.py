"""The far field of a big buildings tileset (tiles.farfield), built from a real PostGIS twin.

The far field switches on above ``min_features`` buildings (20,000 by default); these tests
lower the threshold so a few thousand buildings exercise it in seconds.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from tests.test_tiles_support import Validator, assert_valid_glbs, gltf_validator, helsinki
from tiles import farfield, synthetic
from tiles import inspect as ti
from tiles.build import build_tileset
from tiles.farfield import CLASS, FarFieldParams
from tiles.layout import read_manifest
from tiles.quadtree import decode

__all__ = ["gltf_validator", "helsinki"]

N = 3000
PARAMS = FarFieldParams(min_features=1000, grid=16, min_bin=20.0)


@pytest.fixture
def big_city(helsinki: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setattr(farfield, "DEFAULT_PARAMS", PARAMS)
    with helsinki.begin() as conn:
        synthetic.insert_buildings(conn, N)
    return helsinki


def _tiles(tileset: Path) -> list[ti.WalkedTile]:
    return list(ti.walk(ti.load(tileset)))


def _rows(tileset: Path, uri: str) -> list[dict[str, Any]]:
    data = ti.read_content(tileset / uri)
    (table,) = data.tables
    names = list(table)
    return [{n: table[n][i] for n in names} for i in range(len(table[names[0]]))]


def _classes(tileset: Path, uri: str) -> set[str]:
    from tiles.gltf import read_glb

    doc, _ = read_glb((tileset / uri).read_bytes())
    tables = doc["extensions"]["EXT_structural_metadata"]["propertyTables"]
    return {t["class"] for t in tables}


def test_far_field_is_valid_and_every_building_is_still_in_one_real_tile(
    big_city: Engine, tmp_path: Path, gltf_validator: Validator
) -> None:
    report = build_tileset(big_city, "buildings", tmp_path)
    tileset = tmp_path / "buildings"
    assert report.features == N
    assert ti.check(tileset) == []
    assert_valid_glbs(gltf_validator, sorted((tileset / "content").glob("*.glb")))

    seen: Counter[int] = Counter()
    per_level: dict[int, int] = defaultdict(int)
    real_levels, far_levels = set(), set()
    for w in _tiles(tileset):
        uri = w.tile["content"]["uri"]
        (cls,) = _classes(tileset, uri)
        if cls == CLASS:
            far_levels.add(w.depth)
            # a far-field tile is replaced by its children, which are all there
            assert w.tile["refine"] == "REPLACE" and w.tile.get("children")
            per_level[w.depth] += sum(r["buildings"] for r in _rows(tileset, uri))
        else:
            assert cls == "building"
            real_levels.add(w.depth)
            seen.update(r["id"] for r in _rows(tileset, uri))
    assert far_levels and max(far_levels) < min(real_levels)
    # the real tiles: every building exactly once, with its own row
    with big_city.connect() as conn:
        ids = {r[0] for r in conn.execute(text("SELECT id FROM buildings"))}
    assert set(seen) == ids and max(seen.values()) == 1
    # every far-field level stands for the whole city, each building counted once
    assert set(per_level.values()) == {N}
    first_real = [w.tile for w in _tiles(tileset) if w.depth == min(real_levels)]
    assert {t["refine"] for t in first_real} == {"ADD"}


def test_blocks_keep_the_built_area_and_the_attributes_the_viewer_colours_by(
    big_city: Engine, tmp_path: Path
) -> None:
    build_tileset(big_city, "buildings", tmp_path)
    tileset = tmp_path / "buildings"
    far = [w for w in _tiles(tileset) if _classes(tileset, w.tile["content"]["uri"]) == {CLASS}]
    coarse = min(far, key=lambda w: w.depth)
    rows = _rows(tileset, coarse.tile["content"]["uri"])
    with big_city.connect() as conn:
        usages = {r[0] for r in conn.execute(text("SELECT DISTINCT usage FROM buildings"))}
        lo, hi = conn.execute(text("SELECT min(height), max(height) FROM buildings")).one()
        years = conn.execute(text("SELECT min(year_built), max(year_built) FROM buildings")).one()
    for r in rows:
        assert r["layer"] == "buildings" and r["buildings"] >= 1
        assert r["usage"] in usages
        assert lo - 1e-3 <= r["height"] <= hi + 1e-3
        assert years[0] <= r["year_built"] <= years[1]
    # the finest far-field level: a block of one building has that building's height
    finest = max(w.depth for w in far)
    singles = [
        r
        for w in far
        if w.depth == finest
        for r in _rows(tileset, w.tile["content"]["uri"])
        if r["buildings"] == 1
    ]
    assert singles
    with big_city.connect() as conn:
        heights = {float(h) for (h,) in conn.execute(text("SELECT height FROM buildings"))}
    assert all(any(abs(r["height"] - h) < 1e-3 for h in heights) for r in singles[:50])


def test_far_field_geometric_errors_make_the_viewer_refine_before_the_merge_shows(
    big_city: Engine, tmp_path: Path
) -> None:
    build_tileset(big_city, "buildings", tmp_path)
    for w in _tiles(tmp_path / "buildings"):
        t = w.tile
        if t["refine"] != "REPLACE":
            continue
        # at least the side of a bin of its grid (the content is as wide as the cell, give
        # or take the buildings that stick out of it: synthetic ones are under 40 m)
        box = t["content"]["boundingVolume"]["box"]
        assert t["geometricError"] >= (2 * max(box[3], box[7]) - 80) / PARAMS.grid
        # and above the real tiles it stands for, so they take over before blocks show
        for c in t["children"]:
            assert c["geometricError"] <= t["geometricError"]


def test_unchanged_rebuild_reuses_every_far_field_tile(big_city: Engine, tmp_path: Path) -> None:
    first = build_tileset(big_city, "buildings", tmp_path)
    again = build_tileset(big_city, "buildings", tmp_path)
    assert again.mode == "unchanged" and again.written == 0 and again.reused == first.tiles
    with big_city.begin() as conn:
        conn.execute(
            text(
                "UPDATE buildings SET height = height + 7 "
                "WHERE id = (SELECT min(id) FROM buildings)"
            )
        )
    changed = build_tileset(big_city, "buildings", tmp_path)
    # the building's real tile and the far-field chain above it, nothing else
    assert 1 < changed.written < first.tiles // 4
    assert ti.check(tmp_path / "buildings") == []


def test_a_district_keeps_the_plain_tree(helsinki: Engine, tmp_path: Path) -> None:
    with helsinki.begin() as conn:
        synthetic.insert_buildings(conn, 500)
    build_tileset(helsinki, "buildings", tmp_path)  # default threshold: 20,000
    tileset = tmp_path / "buildings"
    assert all(_classes(tileset, w.tile["content"]["uri"]) == {"building"} for w in _tiles(tileset))
    assert ti.load(tileset)["root"]["refine"] == "ADD"


def test_far_field_frames_sit_on_the_city_so_boxes_stay_near_the_ground(
    big_city: Engine, tmp_path: Path
) -> None:
    from pyproj import Transformer

    build_tileset(big_city, "buildings", tmp_path)
    to_geodetic = Transformer.from_crs("EPSG:4978", "EPSG:4979", always_xy=True)
    for w in _tiles(tmp_path / "buildings")[:20]:
        corners = ti.box_corners(w.tile["boundingVolume"]["box"])
        ecef = corners @ w.world[:3, :3].T + w.world[:3, 3]
        _, _, h = to_geodetic.transform(ecef[:, 0], ecef[:, 1], ecef[:, 2])
        # buildings stand 2-5 m up and are at most ~100 m tall: a frame far from the city
        # would tilt its box by the Earth's curvature, hundreds of metres deep
        assert h.min() > -30 and h.max() < 200, (w.depth, h.min(), h.max())


def _far_digests(tileset: Path) -> dict[int, str]:
    manifest = read_manifest(tileset)
    assert manifest is not None
    return {int(t["key"]): d for d, t in manifest["farfield"]["tiles"].items()}


def test_incremental_build_keeps_the_far_field_of_a_full_build_and_its_first_level(
    big_city: Engine, tmp_path: Path
) -> None:
    first = build_tileset(big_city, "buildings", tmp_path / "inc")
    tileset = tmp_path / "inc" / "buildings"
    real = [w for w in _tiles(tileset) if _classes(tileset, w.tile["content"]["uri"]) != {CLASS}]
    first_level = min(w.depth for w in real)
    with big_city.begin() as conn:
        conn.execute(text("UPDATE buildings SET height = height + 7 WHERE id % 97 = 0"))
        conn.execute(text("DELETE FROM buildings WHERE id % 89 = 0"))
        # far larger than any other: a plain tree would put it in the root tile
        conn.execute(
            text(
                "INSERT INTO buildings (source, source_id, footprint, base_z, height) "
                "SELECT 'tower', 'tower-1', ST_Multi(ST_Buffer(ST_Centroid(ST_Extent(footprint))"
                ", 120, 2)), 2, 300 FROM buildings"
            )
        )
    again = build_tileset(big_city, "buildings", tmp_path / "inc")
    assert again.mode == "incremental" and 0 < again.written < first.tiles
    assert ti.check(tileset) == []
    # the far field is the one a full build of the same data makes, file for file
    build_tileset(big_city, "buildings", tmp_path / "ref", full=True)
    assert _far_digests(tileset) == _far_digests(tmp_path / "ref" / "buildings")
    # every building once, in a real tile, none above the first real level
    seen: Counter[int] = Counter()
    for w in _tiles(tileset):
        uri = w.tile["content"]["uri"]
        if _classes(tileset, uri) == {CLASS}:
            assert w.depth < first_level
            continue
        assert w.depth >= first_level
        rows = _rows(tileset, uri)
        seen.update(r["id"] for r in rows)
        if any(r["source_id"] == "tower-1" for r in rows):
            assert w.depth == first_level
    with big_city.connect() as conn:
        ids = {r[0] for r in conn.execute(text("SELECT id FROM buildings"))}
    assert set(seen) == ids and max(seen.values()) == 1


COLS = round(N**0.5)  # tiles.synthetic's grid: building i at column i % COLS, row i // COLS
CHANGES: dict[str, str] = {
    "clustered": "UPDATE buildings SET height = height + 3 WHERE (source_id::int % :c) "
    "BETWEEN 20 AND 24 AND (source_id::int / :c) BETWEEN 20 AND 24",
    "scattered": "UPDATE buildings SET height = height + 1, usage = 'museum' WHERE id % 50 = 7",
    "deleted": "DELETE FROM buildings WHERE source_id::int % 41 = 3",
    # a new building east of the city: the extent grows, so the frames of far-field tiles
    # along the east edge move, though the building is in none of them
    "added": "INSERT INTO buildings (source, source_id, footprint, base_z, height) "
    "SELECT 'more', 'east', ST_Translate(footprint, 90, 0), base_z, height FROM buildings "
    "WHERE source_id = (10 * :c + :c - 1)::text",
}


def _far_json(tileset: Path) -> dict[str, Any]:
    """The far-field tiles of tileset.json by content: what they show and where."""
    out = {}
    for w in _tiles(tileset):
        if w.tile.get("refine") == "REPLACE":
            t = w.tile
            out[t["content"]["uri"]] = (t["content"]["boundingVolume"], w.world.round(6).tolist())
    return out


def _buildings(tileset: Path) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for w in _tiles(tileset):
        if w.tile.get("refine") != "REPLACE" and "content" in w.tile:
            for r in _rows(tileset, w.tile["content"]["uri"]):
                assert r["id"] not in out
                out[r["id"]] = r
    return out


@pytest.mark.parametrize("change", list(CHANGES))
def test_incremental_far_field_is_byte_for_byte_the_full_builds(
    big_city: Engine, tmp_path: Path, change: str
) -> None:
    build_tileset(big_city, "buildings", tmp_path / "inc")
    tileset = tmp_path / "inc" / "buildings"
    before = _far_digests(tileset)
    with big_city.begin() as conn:
        conn.execute(text(CHANGES[change]), {"c": COLS})
    again = build_tileset(big_city, "buildings", tmp_path / "inc")
    assert again.mode == "incremental"
    build_tileset(big_city, "buildings", tmp_path / "ref", full=True)
    ref = tmp_path / "ref" / "buildings"
    after = _far_digests(tileset)
    # the very files a full build writes, placed the same way in tileset.json
    assert after == _far_digests(ref)
    assert _far_json(tileset) == _far_json(ref)
    assert ti.check(tileset) == []
    assert _buildings(tileset) == _buildings(ref)  # the real tiles: every building, as is
    rewritten = {k for k, d in after.items() if before.get(k) != d}
    levels = Counter(decode(k)[0] for k in rewritten)
    if change == "clustered":  # a 5 x 5 block of buildings: a tile or two per level
        assert rewritten and max(levels.values()) <= 4, levels
        assert len(rewritten) < len(after) // 4
        # only the buildings of the bins the block touches are read again, not the city
        assert 25 <= again.far_read < N // 10, again.far_read
    else:
        assert rewritten


def test_far_field_bins_missing_on_disk_make_a_full_build(big_city: Engine, tmp_path: Path) -> None:
    build_tileset(big_city, "buildings", tmp_path)
    tileset = tmp_path / "buildings"
    manifest = read_manifest(tileset)
    assert manifest is not None
    (tileset / manifest["farfield"]["file"]).unlink()
    with big_city.begin() as conn:
        conn.execute(text("UPDATE buildings SET height = height + 7 WHERE id % 97 = 0"))
    assert build_tileset(big_city, "buildings", tmp_path).mode == "full"
    manifest = read_manifest(tileset)
    assert manifest is not None and (tileset / manifest["farfield"]["file"]).is_file()
    assert len(list(tileset.glob("far-*.arrays"))) == 1


def test_blocks_too_low_to_see_at_their_tiles_error_keep_only_their_roofs(
    big_city: Engine, tmp_path: Path
) -> None:
    from pyproj import Transformer

    from tiles.gltf import read_glb

    build_tileset(big_city, "buildings", tmp_path)
    tileset = tmp_path / "buildings"
    manifest = read_manifest(tileset)
    assert manifest is not None
    side = manifest["tree"]["side"]
    to_height = Transformer.from_crs("EPSG:4978", "EPSG:4979", always_xy=True)
    kinds: Counter[str] = Counter()
    triangles = blocks = 0
    for w in _tiles(tileset):
        uri = w.tile["content"]["uri"]
        if _classes(tileset, uri) != {CLASS}:
            continue
        min_wall = PARAMS.wall_factor * side / (1 << w.depth) / PARAMS.grid
        data = ti.read_content(tileset / uri)
        doc, _ = read_glb((tileset / uri).read_bytes())
        (prim,) = doc["meshes"][0]["primitives"]
        triangles += doc["accessors"][prim["indices"]]["count"] // 3
        (pos,), (fid,) = data.positions, data.feature_ids
        ecef = ti.content_to_tile_frame(data, pos) @ w.world[:3, :3].T + w.world[:3, 3]
        h = to_height.transform(ecef[:, 0], ecef[:, 1], ecef[:, 2])[2]
        rows = _rows(tileset, uri)
        blocks += len(rows)
        for i, row in enumerate(rows):
            mine = fid == i
            top = float(h[mine].max())
            if mine.sum() == 8:  # walls: the block is at least min_wall tall
                kinds["walled"] += 1
                assert top - row["base_z"] >= min_wall - 0.05
                assert float(h[mine].min()) == pytest.approx(row["base_z"], abs=0.05)
            else:  # a roof only, at the block's top, lower than min_wall
                assert mine.sum() == 4
                kinds["roof"] += 1
                assert top - row["base_z"] < min_wall + 0.05
                assert float(h[mine].min()) == pytest.approx(top, abs=0.05)
    assert kinds["walled"] and kinds["roof"]
    # ten triangles a walled block, two a roof
    assert triangles == 10 * kinds["walled"] + 2 * kinds["roof"] < 10 * blocks


def test_far_field_tiles_meshed_by_the_workers_are_the_in_process_ones(
    big_city: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tiles import tilework

    def build(folder: str, workers: int) -> None:
        build_tileset(big_city, "buildings", tmp_path / folder, workers=workers)

    monkeypatch.setattr(tilework, "PARALLEL_MIN_FEATURES", 1)  # a pool even for a town
    monkeypatch.setattr(tilework, "PARALLEL_MIN_PATCHES", 1)
    build("pool", 2)
    build("one", 1)
    pool, one = tmp_path / "pool" / "buildings", tmp_path / "one" / "buildings"
    assert _far_digests(pool) == _far_digests(one) and ti.check(pool) == []
    with big_city.begin() as conn:  # patches queued at once, the far field summed meanwhile
        conn.execute(text(CHANGES["scattered"]), {"c": COLS})
    build("pool", 2)
    build("one", 1)
    assert _far_digests(pool) == _far_digests(one) and ti.check(pool) == []
    assert _far_json(pool) == _far_json(one) and _buildings(pool) == _buildings(one)
