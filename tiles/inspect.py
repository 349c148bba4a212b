"""Read a built tileset back and check it: the structural validation the 3D Tiles validator
would do (it is not on the npm registry), plus decoding of every feature.

Used by the tests and usable on any tileset this package wrote: bounding volumes contain
their content and their children's, geometric errors do not grow downwards, every content
file exists, transforms are rigid (rotation + translation), ``refine`` is on the root and
spelled as the specification wants.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

from tiles.frames import Y_UP_TO_Z_UP
from tiles.gltf import read_accessor, read_glb
from tiles.metadata import read_property_table

F64 = NDArray[np.float64]
#: tolerance of containment checks (metres): float32 vertices and box rounding
EPS = 0.02


@dataclass
class WalkedTile:
    tile: dict[str, Any]
    world: F64  # this tile's transform composed from the root (tile frame -> ECEF)
    depth: int
    parent: WalkedTile | None


def load(tileset_dir: Path) -> dict[str, Any]:
    """tileset.json with its external tilesets (tiles.subtrees) inlined, so the tree reads
    as one document: a tile pointing to one becomes that file's root (with the pointing
    tile's transform, and the file's URI in ``external``; ``external_mismatch`` when the two
    disagree on bounding volume, error or refinement); every content URI is made relative to
    the tileset folder."""
    tileset_dir = Path(tileset_dir)
    doc: dict[str, Any] = orjson.loads((tileset_dir / "tileset.json").read_bytes())
    todo: list[tuple[dict[str, Any], str]] = [(doc["root"], "")]
    while todo:
        tile, base = todo.pop()
        uri = tile.get("content", {}).get("uri")
        if uri is not None:
            uri = posixpath.normpath(posixpath.join(base, uri))
            tile["content"]["uri"] = uri
        if uri is not None and uri.endswith(".json"):
            sub = orjson.loads((tileset_dir / uri).read_bytes())["root"]
            pointer = dict(tile)
            tile.clear()
            tile.update(sub, external=uri)
            if "transform" in pointer:
                tile["transform"] = pointer["transform"]
            if any(pointer.get(k) != sub.get(k) for k in _LINKED) or "transform" in sub:
                tile["external_mismatch"] = True
            base = posixpath.dirname(uri)
            if "content" in tile:
                todo.append((tile, base))  # its own content URI, then its children
                continue
        todo.extend((c, base) for c in tile.get("children", []))
    return doc


#: what a tile pointing to an external tileset and that tileset's root must agree on
_LINKED = ("boundingVolume", "geometricError", "refine")


def _matrix(t: dict[str, Any]) -> F64:
    if "transform" not in t:
        return np.eye(4)
    return np.array(t["transform"], dtype=float).reshape(4, 4).T


def walk(doc: dict[str, Any]) -> Iterator[WalkedTile]:
    def rec(
        t: dict[str, Any], parent_world: F64, depth: int, parent: WalkedTile | None
    ) -> Iterator[WalkedTile]:
        w = WalkedTile(t, parent_world @ _matrix(t), depth, parent)
        yield w
        for c in t.get("children", []):
            yield from rec(c, w.world, depth + 1, w)

    yield from rec(doc["root"], np.eye(4), 0, None)


def box_corners(box: list[float]) -> F64:
    c = np.array(box[:3])
    axes = np.array(box[3:]).reshape(3, 3)
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
    out: F64 = c + signs @ axes
    return out


def in_box(points: F64, box: list[float], eps: float = EPS) -> bool:
    """Are ``points`` (in the box's frame) inside the oriented box?"""
    c = np.array(box[:3])
    axes = np.array(box[3:]).reshape(3, 3)
    rel = points - c
    for a in axes:
        length = np.linalg.norm(a)
        if length == 0:
            continue
        proj = rel @ (a / length)
        if np.any(np.abs(proj) > length + eps):
            return False
    return True


@dataclass
class ContentData:
    """One GLB decoded: vertex positions per primitive in the tile frame, property tables."""

    doc: dict[str, Any]
    positions: list[F64]
    feature_ids: list[NDArray[Any]]
    tables: list[dict[str, list[Any]]]
    node_matrix: F64
    #: per primitive: the property table its feature ids index
    table_of: list[int] = field(default_factory=list)


def read_content(path: Path) -> ContentData:
    doc, binary = read_glb(Path(path).read_bytes())
    positions, fids, table_of = [], [], []
    for node in doc.get("nodes", []):
        if "mesh" not in node:
            continue
        inst = node.get("extensions", {}).get("EXT_mesh_gpu_instancing")
        for prim in doc["meshes"][node["mesh"]]["primitives"]:
            pos = read_accessor(doc, binary, prim["attributes"]["POSITION"]).astype(float)
            fa = prim["attributes"].get("_FEATURE_ID_0")
            fid = read_accessor(doc, binary, fa) if fa is not None else np.zeros(0)
            if inst:  # every instance's copy of the model: T + R (S p)
                a = inst["attributes"]
                t = read_accessor(doc, binary, a["TRANSLATION"]).astype(float)
                q = read_accessor(doc, binary, a["ROTATION"]).astype(float)
                sc = read_accessor(doc, binary, a["SCALE"]).astype(float)
                rot = _quat_matrices(q)
                pos = np.einsum("nij,nvj->nvi", rot, sc[:, None, :] * pos[None]) + t[:, None]
                pos = pos.reshape(-1, 3)
                ia = a.get("_FEATURE_ID_0")
                fid = (
                    np.repeat(read_accessor(doc, binary, ia), len(pos) // len(t))
                    if ia is not None
                    else np.zeros(0)
                )
            positions.append(pos)
            fids.append(fid)
            ext = (inst and node["extensions"].get("EXT_instance_features")) or prim.get(
                "extensions", {}
            ).get("EXT_mesh_features", {})
            table_of.append(int(ext.get("featureIds", [{}])[0].get("propertyTable", 0)))
    meta = doc.get("extensions", {}).get("EXT_structural_metadata")
    tables = (
        [read_property_table(doc, binary, i) for i in range(len(meta["propertyTables"]))]
        if meta
        else []
    )
    root = doc["nodes"][doc["scenes"][doc.get("scene", 0)]["nodes"][0]]
    m = np.array(root.get("matrix", np.eye(4).T.reshape(-1)), float).reshape(4, 4).T
    return ContentData(doc, positions, fids, tables, m, table_of)


def _quat_matrices(q: F64) -> F64:
    x, y, z, w = q.T
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
            np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
            np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
        ],
        axis=1,
    )


def content_to_tile_frame(data: ContentData, pts: F64) -> F64:
    """glTF vertex positions -> the tile frame: root node matrix, then the viewers' y-up to
    z-up rotation (3D Tiles, glTF up-axis)."""
    m = Y_UP_TO_Z_UP @ data.node_matrix
    out: F64 = pts @ m[:3, :3].T + m[:3, 3]
    return out


def check(tileset_dir: Path) -> list[str]:
    """Problems found in a tileset (an empty list means it passed)."""
    tileset_dir = Path(tileset_dir)
    doc = load(tileset_dir)
    problems: list[str] = []
    if doc.get("asset", {}).get("version") != "1.1":
        problems.append("asset.version is not 1.1")
    root = doc["root"]
    if root.get("refine") not in ("ADD", "REPLACE"):
        problems.append(f"root.refine is {root.get('refine')!r}: must be ADD or REPLACE")
    if doc["geometricError"] < root["geometricError"]:
        problems.append("tileset geometricError is smaller than the root's")
    for w in walk(doc):
        t = w.tile
        where = f"tile at depth {w.depth} ({t.get('content', {}).get('uri')})"
        if t.get("external_mismatch"):
            problems.append(f"{where}: differs from the root of its external tileset")
        m = _matrix(t)
        r = m[:3, :3]
        if not np.allclose(r.T @ r, np.eye(3), atol=1e-9) or not np.allclose(m[3], [0, 0, 0, 1]):
            problems.append(f"{where}: transform is not a rigid motion")
        if "box" not in t["boundingVolume"]:
            problems.append(f"{where}: no box bounding volume")
            continue
        if w.parent is not None:
            pe = w.parent.tile["geometricError"]
            if t["geometricError"] > pe + 1e-9:
                problems.append(f"{where}: geometricError {t['geometricError']} > parent's {pe}")
            # this tile's box must be inside the parent's box (ADD: children shown with it)
            corners = box_corners(t["boundingVolume"]["box"])
            to_parent = np.linalg.inv(w.parent.world) @ w.world
            cp = corners @ to_parent[:3, :3].T + to_parent[:3, 3]
            if not in_box(cp, w.parent.tile["boundingVolume"]["box"]):
                problems.append(f"{where}: bounding volume leaves its parent's")
        uri = t.get("content", {}).get("uri")
        if uri:
            path = tileset_dir / uri
            if not path.exists():
                problems.append(f"{where}: content {uri} is missing")
                continue
            data = read_content(path)
            for pts in data.positions:
                local = content_to_tile_frame(data, pts)
                if not in_box(local, t["boundingVolume"]["box"]):
                    problems.append(f"{where}: content leaves the tile's bounding volume")
                cbv = t["content"].get("boundingVolume")
                if cbv and not in_box(local, cbv["box"]):
                    problems.append(f"{where}: content leaves its content bounding volume")
    return problems


def features(tileset_dir: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every feature of every tile: (content uri, row of its property table)."""
    doc = load(Path(tileset_dir))
    for w in walk(doc):
        uri = w.tile.get("content", {}).get("uri")
        if not uri:
            continue
        data = read_content(Path(tileset_dir) / uri)
        for table in data.tables:
            names = list(table)
            for i in range(len(table[names[0]]) if names else 0):
                yield uri, {n: table[n][i] for n in names}


def feature_map(tileset_dir: Path) -> dict[tuple[str, int], tuple[dict[str, Any], F64]]:
    """Every feature by (class, id): its properties and its vertices in ECEF, in the order
    the content gives them. Two builds of the same data give equal maps (within float32
    rounding of the vertices) however they tiled it: what incremental builds are tested by."""
    tileset_dir = Path(tileset_dir)
    out: dict[tuple[str, int], tuple[dict[str, Any], F64]] = {}
    for w in walk(load(tileset_dir)):
        uri = w.tile.get("content", {}).get("uri")
        if not uri:
            continue
        data = read_content(tileset_dir / uri)
        classes = [
            t["class"] for t in data.doc["extensions"]["EXT_structural_metadata"]["propertyTables"]
        ]
        verts: dict[tuple[int, int], list[F64]] = {}
        for pos, fid, ti in zip(data.positions, data.feature_ids, data.table_of, strict=True):
            world = content_to_tile_frame(data, pos) @ w.world[:3, :3].T + w.world[:3, 3]
            for f in np.unique(fid).tolist():
                verts.setdefault((ti, int(f)), []).append(world[fid == f])
        for ti, table in enumerate(data.tables):
            names = list(table)
            for i in range(len(table[names[0]]) if names else 0):
                props = {n: table[n][i] for n in names}
                parts = verts.get((ti, i), [])
                geom = np.concatenate(parts) if parts else np.zeros((0, 3))
                key = (classes[ti], int(props["id"]))
                if key in out:
                    raise AssertionError(f"{key} is in two tiles")
                out[key] = (props, geom)
    return out
