"""Tile contents: rows of one tile -> a GLB with EXT_mesh_features + EXT_structural_metadata.

One function per kind of tileset, each taking the rows of :mod:`tiles.sources` in the order
the SQL gives them (feature index = row position, so the order is deterministic) and the
tile's frame, and returning the GLB bytes with the content's bounds in that frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray

from tiles import metadata, shapes, style
from tiles.extrude import extrude, faces
from tiles.frames import Frame
from tiles.gltf import GltfBuilder
from tiles.mesh import Mesh
from tiles.tubes import tubes

F64 = NDArray[np.float64]


@dataclass
class Content:
    glb: bytes
    features: int
    lo: F64  # content bounds in the tile frame
    hi: F64


def _bounds(meshes: Sequence[Mesh | None], points: F64 | None = None) -> tuple[F64, F64]:
    los, his = [], []
    for m in meshes:
        b = m.bounds() if m is not None else None
        if b is not None:
            los.append(b[0])
            his.append(b[1])
    if points is not None and len(points):
        los.append(np.array([points[:, i].min() for i in range(3)]))
        his.append(np.array([points[:, i].max() for i in range(3)]))
    if not los:
        return np.zeros(3), np.zeros(3)
    return np.min(los, axis=0), np.max(his, axis=0)


# -- buildings -------------------------------------------------------------------------------
def buildings(
    frame: Frame, rows: Sequence[tuple[Any, ...]], *, layer: str, scenario: bool = False
) -> Content:
    """Rows: (id, footprint wkb, base_z, height, levels, usage, roof_type, year_built, name,
    source_id, scenario_id, replaces_id, lod2 wkb)."""
    n = len(rows)
    cols = list(zip(*rows, strict=True)) if rows else [()] * 13
    base = np.asarray(cols[2], dtype=np.float64)
    height = np.asarray(cols[3], dtype=np.float64)
    lod2 = cols[12]
    has_lod2 = (
        np.zeros(n, dtype=bool)
        if lod2.count(None) == n
        else np.fromiter((g is not None for g in lod2), dtype=bool, count=n)
    )
    idx = np.arange(n)
    parts: list[Mesh] = []
    if has_lod2.any():
        sel = idx[has_lod2]
        lod2_mesh = faces(frame, [lod2[i] for i in sel.tolist()], sel)
        parts.append(lod2_mesh)
        # a LoD2 geometry whose faces give no triangle (degenerate) falls back to LoD1:
        # every building in the property table must be drawn
        has_lod2[sel[~np.isin(sel, lod2_mesh.features)]] = False
    lod1 = idx[~has_lod2]
    if len(lod1):
        fps = [cols[1][i] for i in lod1.tolist()] if has_lod2.any() else list(cols[1])
        parts.append(extrude(frame, fps, base[lod1], height[lod1], lod1))
    mesh = Mesh.concat(parts)

    gb = GltfBuilder()
    rgba = style.SCENARIO_BUILDING if scenario else style.BUILDING
    mat = gb.material("scenario-building" if scenario else "building", rgba)
    table = metadata.property_table(
        gb,
        "building",
        {
            "id": cols[0],
            "layer": [layer] * n,
            "height": cols[3],
            "base_z": cols[2],
            "levels": cols[4],
            "usage": cols[5],
            "roof_type": cols[6],
            "year_built": cols[7],
            "name": cols[8],
            "source_id": cols[9],
            "scenario_id": cols[10],
            "replaces_id": cols[11],
        },
        n,
    )
    prim = mesh.primitive(gb, mat, n, 0)
    m = gb.mesh([prim], name="buildings")
    child = gb.node({"mesh": m, "name": "buildings"})
    gb.z_up_root([child])
    metadata.attach(gb, [table], ["building"])
    lo, hi = _bounds([mesh])
    return Content(gb.glb(), n, lo, hi)


# -- networks --------------------------------------------------------------------------------
def network(
    frame: Frame,
    rows: Sequence[tuple[Any, ...]],
    *,
    layer: str,
    network: str,
    min_diameter_m: float = style.MIN_VISIBLE_DIAMETER_M,
    sides: int = 8,
) -> Content:
    """Rows: (src, id, wkb, depth_m, diameter_mm, material, install_year, operator, status,
    synthetic, source_id, kind); src 0 = segment (LineStringZ), 1 = node (PointZ).

    Segments become tubes of their diameter (never thinner than ``min_diameter_m``) along
    their 3D centreline; nodes become upright cylinders (see tiles.shapes.NODE_SHAPES).
    """
    segs = [r for r in rows if r[0] == 0]
    nodes = [r for r in rows if r[0] == 1]
    gb = GltfBuilder()
    colour = style.NETWORK_COLOURS.get(network, (0.5, 0.5, 0.5, 1.0))
    tables: list[dict[str, Any]] = []
    prims: list[dict[str, Any]] = []
    meshes: list[Mesh] = []
    classes: list[str] = []
    if segs:
        geoms = shapely.from_wkb([r[2] for r in segs])
        xyz, line_of = shapely.get_coordinates(geoms, include_z=True, return_index=True)
        local = frame.local(xyz[:, 0], xyz[:, 1], xyz[:, 2])
        default = style.DEFAULT_DIAMETER_MM.get(network, 100.0)
        diam = np.array([default if r[4] is None else r[4] for r in segs], dtype=float) / 1000
        radius = np.maximum(diam, min_diameter_m) / 2
        mesh = tubes(local, line_of, radius, np.arange(len(segs)), sides=sides)
        cols = list(zip(*segs, strict=True))
        tables.append(
            metadata.property_table(
                gb,
                "network_segment",
                {
                    "id": cols[1],
                    "layer": [layer] * len(segs),
                    "network": [network] * len(segs),
                    "diameter_mm": cols[4],
                    "material": cols[5],
                    "depth_m": cols[3],
                    "install_year": cols[6],
                    "operator": cols[7],
                    "status": cols[8],
                    "synthetic": cols[9],
                    "source_id": cols[10],
                },
                len(segs),
            )
        )
        mat = gb.material(f"{network}-pipe", colour, roughness=0.6)
        prims.append(mesh.primitive(gb, mat, len(segs), len(tables) - 1))
        meshes.append(mesh)
        classes.append("network_segment")
    if nodes:
        pts = shapely.get_coordinates(shapely.from_wkb([r[2] for r in nodes]), include_z=True)
        lines, radii = [], []
        for (x, y, z), r in zip(pts, nodes, strict=True):
            radius, below, above = shapes.NODE_SHAPES.get(r[11] or "", (0.3, 0.3, 0.3))
            top = z + above + (r[3] if r[11] in shapes.REACHES_GROUND else 0.0)
            lines += [(x, y, z - below), (x, y, max(top, z - below + 0.1))]
            radii.append(radius)
        arr = np.array(lines, dtype=float)
        local = frame.local(arr[:, 0], arr[:, 1], arr[:, 2])
        mesh = tubes(
            local,
            np.repeat(np.arange(len(nodes)), 2),
            np.array(radii),
            np.arange(len(nodes)),
            sides=12,
        )
        cols = list(zip(*nodes, strict=True))
        tables.append(
            metadata.property_table(
                gb,
                "network_node",
                {
                    "id": cols[1],
                    "layer": [layer] * len(nodes),
                    "network": [network] * len(nodes),
                    "kind": cols[11],
                    "depth_m": cols[3],
                    "synthetic": cols[9],
                    "source_id": cols[10],
                },
                len(nodes),
            )
        )
        mat = gb.material(f"{network}-node", style.darker(colour), roughness=0.7)
        prims.append(mesh.primitive(gb, mat, len(nodes), len(tables) - 1))
        meshes.append(mesh)
        classes.append("network_node")
    m = gb.mesh(prims, name=network)
    gb.z_up_root([gb.node({"mesh": m, "name": network})])
    metadata.attach(gb, tables, classes)
    lo, hi = _bounds(meshes)
    return Content(gb.glb(), len(rows), lo, hi)


# -- furniture (instanced) -------------------------------------------------------------------
def furniture(frame: Frame, rows: Sequence[tuple[Any, ...]], *, layer: str) -> Content:
    """Rows: (id, kind, x, y, z, heading, height, name, source_id), sorted by kind.

    One instanced node per kind (EXT_mesh_gpu_instancing) with per-instance feature ids
    (EXT_instance_features) into one property table for the tile.
    """
    n = len(rows)
    cols = list(zip(*rows, strict=True))
    xyz = np.array([cols[2], cols[3], cols[4]], dtype=float).T
    local = frame.local(xyz[:, 0], xyz[:, 1], xyz[:, 2])
    gb = GltfBuilder()
    table = metadata.property_table(
        gb,
        "furniture",
        {
            "id": cols[0],
            "layer": [layer] * n,
            "kind": cols[1],
            "height": cols[6],
            "heading": cols[5],
            "name": cols[7],
            "source_id": cols[8],
        },
        n,
    )
    kinds = np.array(cols[1], dtype=object)
    children = []
    extents: list[np.ndarray] = []
    for kind in dict.fromkeys(cols[1]):
        sel = np.nonzero(kinds == kind)[0]
        model = shapes.furniture_model(kind)
        nominal = shapes.NOMINAL_HEIGHT.get(kind, 1.0)
        heights = np.array([nominal if cols[6][i] is None else cols[6][i] for i in sel], float)
        scale = heights / nominal if kind != "parking_space" else np.ones(len(sel))
        heading = np.radians([0.0 if cols[5][i] is None else cols[5][i] for i in sel])
        half = -heading / 2  # heading is clockwise from north: a negative turn about +z
        rot = np.stack([np.zeros(len(sel)), np.zeros(len(sel)), np.sin(half), np.cos(half)], 1)
        mat = gb.material(kind, style.FURNITURE_COLOURS.get(kind, (0.6, 0.6, 0.6, 1.0)))
        prim = {
            "attributes": {
                "POSITION": gb.accessor(
                    model.positions.astype(np.float32), target=34962, minmax=True
                ),
                "NORMAL": gb.accessor(model.normals, target=34962),
            },
            "indices": gb.indices(model.triangles, model.vertex_count),
            "material": mat,
            "mode": 4,
        }
        mesh = gb.mesh([prim], name=kind)
        gb.use_extension("EXT_mesh_gpu_instancing")
        gb.use_extension("EXT_instance_features")
        children.append(
            gb.node(
                {
                    "name": kind,
                    "mesh": mesh,
                    "extensions": {
                        "EXT_mesh_gpu_instancing": {
                            "attributes": {
                                "TRANSLATION": gb.accessor(local[sel].astype(np.float32)),
                                "ROTATION": gb.accessor(rot.astype(np.float32)),
                                "SCALE": gb.accessor(
                                    np.repeat(scale[:, None], 3, 1).astype(np.float32)
                                ),
                                "_FEATURE_ID_0": gb.accessor(sel.astype(np.float32)),
                            }
                        },
                        "EXT_instance_features": {
                            "featureIds": [
                                {"featureCount": len(sel), "attribute": 0, "propertyTable": 0}
                            ]
                        },
                    },
                }
            )
        )
        # bounds: the model's box corners, rotated and scaled, at every instance
        mb = model.bounds()
        assert mb is not None
        r = float(np.hypot(max(abs(mb[0][0]), abs(mb[1][0])), max(abs(mb[0][1]), abs(mb[1][1]))))
        ext_lo = local[sel] + np.column_stack([-r * scale, -r * scale, mb[0][2] * scale])
        ext_hi = local[sel] + np.column_stack([r * scale, r * scale, mb[1][2] * scale])
        extents += [ext_lo, ext_hi]
    gb.z_up_root(children)
    metadata.attach(gb, [table], ["furniture"])
    lo, hi = _bounds([], np.concatenate(extents))
    return Content(gb.glb(), n, lo, hi)


BUILDERS = {"buildings": buildings, "network": network, "furniture": furniture}
