"""tileset.json split into external tilesets per subtree (tiles.subtrees): the split tree
is valid and the same tree, a change rewrites only the subtree files on its path, an
incremental build writes the same files as a full one, and the subtree files are served
under the tileset's access rule."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.test_tiles_incremental import PARAMS, _spec
from tests.test_tiles_support import helsinki
from tiles import inspect as ti
from tiles import synthetic
from tiles.build import build_all, build_spec
from tiles.layout import read_manifest
from twin.accounts import create_user
from twin.app import create_app
from twin.settings import Settings

__all__ = ["helsinki"]

#: the root document keeps two levels, a file takes three tiles or more: 600 buildings
#: make a tree of several files on every long path
SPLIT = dataclasses.replace(PARAMS, subtree_levels=2, subtree_tiles=3)


@pytest.fixture
def town(helsinki: Engine) -> Engine:
    with helsinki.begin() as conn:
        synthetic.insert_buildings(conn, 600)
    return helsinki


def _build(engine: Engine, tiles: Path, *, full: bool = False) -> None:
    build_spec(engine, _spec(engine), tiles, params=SPLIT, workers=1, full=full)


def _subtree_files(folder: Path) -> dict[str, bytes]:
    """The subtree files the current build references (the previous build's stay a build
    longer, for viewers still reading its tileset.json)."""
    manifest = read_manifest(folder) or {}
    return {
        f"{n}.json": (folder / "content" / f"{n}.json").read_bytes()
        for n in manifest.get("subtrees", {})
    }


def _unnamed(folder: Path) -> bytes:
    """The whole tree, external tilesets inlined, without file names and build time."""
    doc = ti.load(folder)
    del doc["extras"]["builtAt"], doc["asset"]["tilesetVersion"]
    for w in ti.walk(doc):
        w.tile.pop("external", None)
        w.tile.get("content", {}).pop("uri", None)
    return orjson.dumps(doc)


def test_the_split_tree_is_valid_and_holds_every_building(town: Engine, tmp_path: Path) -> None:
    _build(town, tmp_path)
    folder = tmp_path / "buildings"
    files = _subtree_files(folder)
    assert len(files) >= 4
    assert {f.name for f in (folder / "content").glob("*.json")} == set(files)
    doc = ti.load(folder)
    externals = [w for w in ti.walk(doc) if "external" in w.tile]
    assert len(externals) == len(files)
    # the root document keeps levels 0 and 1; a tile deeper than that roots a file exactly
    # when its subtree, less the files below it, holds three tiles or more
    for w in ti.walk(doc):
        held = _held(w.tile)
        assert ("external" in w.tile) == (w.depth >= 2 and held >= 3), (w.depth, held)
    for name, data in files.items():
        assert _held(orjson.loads(data)["root"]) >= 3, name
    assert ti.check(folder) == []
    assert len(ti.feature_map(folder)) == 600
    manifest = read_manifest(folder)
    assert manifest is not None and set(manifest["subtrees"]) == {f[:-5] for f in files}


def test_a_change_rewrites_only_the_subtree_files_on_its_path(town: Engine, tmp_path: Path) -> None:
    _build(town, tmp_path)
    folder = tmp_path / "buildings"
    before = _subtree_files(folder)
    with town.begin() as conn:
        # an attribute: the tree keeps its shape, so a full build must give the same files
        conn.execute(text("UPDATE buildings SET usage = 'museum' WHERE source_id = '77'"))
    _build(town, tmp_path)
    after = _subtree_files(folder)
    (uri,) = [u for u, f in ti.features(folder) if f["source_id"] == "77"]
    (tile,) = [w for w in ti.walk(ti.load(folder)) if w.tile.get("content", {}).get("uri") == uri]
    # the files of the subtrees holding the changed tile, one for each file on its path
    path_files = sum(1 for w in _up(tile) if "external" in w.tile)
    new = set(after) - set(before)
    assert 1 <= len(new) == path_files
    kept = set(after) & set(before)
    assert len(kept) == len(after) - len(new) and all(after[n] == before[n] for n in kept)
    assert all((folder / "content" / n).is_file() for n in before)  # kept one build longer
    # a full build of the same data gives the same tree, number for number (a patched
    # tile's file has another name than a freshly meshed one: only the names may differ)
    ref = tmp_path / "reference"
    _build(town, ref, full=True)
    assert _unnamed(ref / "buildings") == _unnamed(folder)
    assert ti.check(folder) == []


def _held(tile: dict[str, Any]) -> int:
    """Tiles of ``tile``'s subtree in its own file: a child rooting a file counts as one."""
    kids = tile.get("children", [])
    return 1 + sum(
        1 if "external" in c or c.get("content", {}).get("uri", "").endswith(".json") else _held(c)
        for c in kids
    )


def _up(tile: ti.WalkedTile) -> list[ti.WalkedTile]:
    out = []
    w: ti.WalkedTile | None = tile
    while w is not None:
        out.append(w)
        w = w.parent
    return out


def test_rebuilds_of_the_same_data_give_the_same_subtree_files(
    town: Engine, tmp_path: Path
) -> None:
    _build(town, tmp_path)
    stamps = {f: f.stat().st_mtime_ns for f in (tmp_path / "buildings" / "content").glob("*")}
    _build(town, tmp_path)  # nothing changed: not a file rewritten
    assert {
        f: f.stat().st_mtime_ns for f in (tmp_path / "buildings" / "content").glob("*")
    } == stamps
    # computed afresh elsewhere, every subtree file comes out byte for byte the same
    _build(town, tmp_path / "again", full=True)
    assert _subtree_files(tmp_path / "again" / "buildings") == _subtree_files(
        tmp_path / "buildings"
    )
    # the default split keeps a small tree in one file
    build_spec(town, _spec(town), tmp_path / "plain", workers=1)
    assert _subtree_files(tmp_path / "plain" / "buildings") == {}


def test_subtree_files_are_served_under_the_tilesets_access_rule(
    helsinki: Engine, settings: Settings
) -> None:
    with helsinki.begin() as conn:
        synthetic.insert_network(conn, "water", 40)
    one_level = dataclasses.replace(PARAMS, max_tile_features=4, subtree_levels=1, subtree_tiles=2)
    build_all(helsinki, settings.tiles_dir, layer="water", params=one_level, workers=1)
    folder = settings.tiles_dir / "network-water"
    names = sorted(f.name for f in (folder / "content").glob("*.json"))
    assert names, "the network tree should have split"
    tokens = {role: create_user(helsinki, f"u-{role}", role) for role in ("agent", "citizen")}
    with TestClient(create_app(settings, engine=helsinki)) as client:
        agent = {"Authorization": f"Bearer {tokens['agent']}"}
        citizen = {"Authorization": f"Bearer {tokens['citizen']}"}
        doc = client.get("/tiles/network-water/tileset.json", headers=agent).json()
        first = next(c for c in doc["root"]["children"] if "content" in c)["content"]["uri"]
        assert first.startswith("content/") and first.endswith(".json")
        url = f"/tiles/network-water/{first}"
        assert client.get(url).status_code == 401
        assert client.get(url, headers=citizen).status_code == 403
        ok = client.get(url, headers=agent)
        assert ok.status_code == 200 and ok.json()["asset"]["version"] == "1.1"
        assert (
            "immutable" in ok.headers["cache-control"] and "private" in ok.headers["cache-control"]
        )
        # a file inside it, relative to it, resolves into the same folder
        inner = ok.json()["root"].get("content", {}).get("uri", "")
        if inner:
            assert "/" not in inner
            assert (
                client.get(f"/tiles/network-water/content/{inner}", headers=agent).status_code
                == 200
            )
        assert (
            client.get("/tiles/network-water/content/nope.json", headers=agent).status_code == 404
        )
        root = client.get("/tiles/network-water/tileset.json", headers=agent)
        assert "no-cache" in root.headers["cache-control"]
