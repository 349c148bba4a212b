"""Network and furniture tilesets: pipes at their stored depth, colours, nodes, instancing."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from sqlalchemy import Engine, text

from tests.test_tiles_support import Validator, assert_valid_glbs, gltf_validator, helsinki
from tiles import inspect as ti
from tiles import style, synthetic
from tiles.build import build_all
from tiles.gltf import read_accessor, read_glb

__all__ = ["gltf_validator", "helsinki"]
TO_ECEF = Transformer.from_crs("EPSG:3067", "EPSG:4978", always_xy=True)


@pytest.fixture
def utilities(helsinki: Engine) -> Engine:
    with helsinki.begin() as conn:
        synthetic.insert_network(conn, "water", 300, depth=1.8, diameter=200)
        synthetic.insert_network(conn, "gas", 120, depth=1.2, diameter=32, dx=5.0)
        synthetic.insert_furniture(conn, 400)
    return helsinki


def test_network_tilesets_are_valid_and_coloured(
    utilities: Engine, tmp_path: Path, gltf_validator: Validator
) -> None:
    reports = {r.name: r for r in build_all(utilities, tmp_path, layer="networks")}
    assert reports["network-water"].features == 600  # 300 segments + 300 nodes
    assert reports["network-gas"].features == 240
    assert reports["network-telecom"].empty
    for name in ("network-water", "network-gas"):
        tileset = tmp_path / name
        assert ti.check(tileset) == []
        glbs = sorted((tileset / "content").glob("*.glb"))
        assert_valid_glbs(gltf_validator, glbs)
        net = name.split("-", 1)[1]
        colours = {}
        for path in glbs:
            doc, _ = read_glb(path.read_bytes())
            colours.update(
                {m["name"]: m["pbrMetallicRoughness"]["baseColorFactor"] for m in doc["materials"]}
            )
        assert colours[f"{net}-pipe"] == list(style.NETWORK_COLOURS[net])
        assert colours[f"{net}-node"] == list(style.darker(style.NETWORK_COLOURS[net]))


def test_every_segment_and_node_is_found_once_with_its_attributes(
    utilities: Engine, tmp_path: Path
) -> None:
    build_all(utilities, tmp_path, layer="water")
    with utilities.connect() as conn:
        segs = {
            r.id: r
            for r in conn.execute(
                text(
                    "SELECT id, depth_m, diameter_mm, material, install_year, operator, status, "
                    "synthetic FROM network_segments WHERE network = 'water'"
                )
            )
        }
        nodes = {
            r.id: r
            for r in conn.execute(
                text("SELECT id, kind, depth_m FROM network_nodes WHERE network = 'water'")
            )
        }
    seen: Counter[tuple[str, int]] = Counter()
    for _uri, f in ti.features(tmp_path / "network-water"):
        if "kind" in f:
            seen["node", f["id"]] += 1
            assert f["kind"] == nodes[f["id"]].kind
            continue
        seen["seg", f["id"]] += 1
        row = segs[f["id"]]
        assert f["network"] == "water" and f["status"] == row.status
        assert f["depth_m"] == pytest.approx(row.depth_m, abs=1e-5)
        assert f["diameter_mm"] == (row.diameter_mm if row.diameter_mm is not None else -1)
        assert f["material"] == row.material and f["install_year"] == row.install_year
        assert f["synthetic"] is row.synthetic and f["operator"] == row.operator
    assert set(seen) == {("seg", i) for i in segs} | {("node", i) for i in nodes}
    assert set(seen.values()) == {1}


def test_pipes_sit_at_their_stored_depth_in_ecef_within_a_centimetre(
    utilities: Engine, tmp_path: Path
) -> None:
    build_all(utilities, tmp_path, layer="gas")
    tileset = tmp_path / "network-gas"
    with utilities.connect() as conn:
        lines = {
            r[0]: shapely.get_coordinates(shapely.from_wkb(r[1]), include_z=True)
            for r in conn.execute(
                text("SELECT id, ST_AsBinary(geom) FROM network_segments WHERE network = 'gas'")
            )
        }
    checked = 0
    for w in ti.walk(ti.load(tileset)):
        uri = w.tile["content"]["uri"]
        data = ti.read_content(tileset / uri)
        pipes = _pipe_primitive(data)
        if pipes is None:
            continue  # a tile of nodes only
        ids = data.tables[pipes]["id"]
        world = ti.content_to_tile_frame(data, data.positions[pipes])
        world = world @ w.world[:3, :3].T + w.world[:3, 3]
        fid = data.feature_ids[pipes]
        for index, sid in enumerate(ids):
            verts = world[fid == index]
            xyz = lines[sid]
            expected = np.column_stack(TO_ECEF.transform(xyz[:, 0], xyz[:, 1], xyz[:, 2]))
            for p in expected:
                near = verts[np.linalg.norm(verts - p, axis=1) < 0.5]
                assert len(near) >= 8
                # the rings (and cap centres) around a centreline vertex average to it
                assert np.linalg.norm(near.mean(axis=0) - p) < 0.01
                checked += 1
    assert checked == 120 * 4


def _pipe_primitive(data: ti.ContentData) -> int | None:
    """Index of the pipes primitive (and of its property table), None in a nodes-only tile."""
    prims = data.doc["meshes"][0]["primitives"]
    for i, prim in enumerate(prims):
        if data.doc["materials"][prim["material"]]["name"].endswith("-pipe"):
            table = prim["extensions"]["EXT_mesh_features"]["featureIds"][0]["propertyTable"]
            assert table == i
            return i
    return None


def test_thin_cables_are_drawn_at_the_minimum_visible_diameter(
    utilities: Engine, tmp_path: Path
) -> None:
    build_all(utilities, tmp_path, layer="gas")  # 32 mm pipes
    tileset = tmp_path / "network-gas"
    doc = ti.load(tileset)
    uri = next(
        w.tile["content"]["uri"]
        for w in ti.walk(doc)
        if _pipe_primitive(ti.read_content(tileset / w.tile["content"]["uri"])) is not None
    )
    data = ti.read_content(tileset / uri)
    p = _pipe_primitive(data)
    assert p is not None
    gdoc, binary = read_glb((tileset / uri).read_bytes())
    normals = (
        read_accessor(
            gdoc, binary, gdoc["meshes"][0]["primitives"][p]["attributes"]["NORMAL"]
        ).astype(float)
        / 127.0
    )  # quantised (KHR_mesh_quantization)
    pos = data.positions[p]
    # a straight stretch: vertex offsets from the axis are radius * normal
    fid = data.feature_ids[p]
    verts, nrm = pos[fid == 0][:8], normals[fid == 0][:8]  # the first ring of the first edge
    centre = verts.mean(axis=0)
    radius = np.abs(np.einsum("ij,ij->i", verts - centre, nrm)).max()
    assert radius == pytest.approx(style.MIN_VISIBLE_DIAMETER_M / 2, rel=0.05)


def test_furniture_is_instanced_per_kind_and_cameras_are_separate(
    utilities: Engine, tmp_path: Path, gltf_validator: Validator
) -> None:
    reports = {r.name: r for r in build_all(utilities, tmp_path, layer="furniture")}
    cameras = {r.name: r for r in build_all(utilities, tmp_path, layer="cameras")}
    assert reports["furniture"].features == 350 and cameras["cameras"].features == 50
    tileset = tmp_path / "furniture"
    assert ti.check(tileset) == []
    glbs = sorted((tileset / "content").glob("*.glb"))
    assert_valid_glbs(gltf_validator, glbs)
    kinds: Counter[str] = Counter()
    ids = []
    for path in glbs:
        doc, binary = read_glb(path.read_bytes())
        table = ti.read_content(path).tables[0]
        for node in doc["nodes"]:
            inst = node.get("extensions", {}).get("EXT_mesh_gpu_instancing")
            if not inst:
                continue
            fids = read_accessor(doc, binary, inst["attributes"]["_FEATURE_ID_0"])
            for i in fids.astype(int):
                assert table["kind"][i] == node["name"]
                kinds[node["name"]] += 1
                ids.append(table["id"][i])
    assert "camera" not in kinds and len(ids) == len(set(ids)) == 350
    assert set(kinds) == set(synthetic.FURNITURE_SAMPLE) - {"camera"}
