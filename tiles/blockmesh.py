"""Blocks of a far-field tile (tiles.farfield) from its level's bins (tiles.blocks), and
their GLB: one box per block sharing its eight corners (no normals: glTF viewers shade it
flat), ten triangles (two, a roof only, when its walls would be too small to see at the
tile's geometric error), one mesh, one material, one draw call, and a ``building_block``
metadata row per block (count of buildings, area-weighted height and year built, main usage)
so styling by height, usage or age still works zoomed out; about 230 bytes a block.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tiles import metadata, style
from tiles.blocks import F64, I64, starts
from tiles.frames import Frame, lonlat
from tiles.gltf import ARRAY_BUFFER, TRIANGLES, GltfBuilder

CLASS = "building_block"

metadata.CLASSES[CLASS] = (
    metadata.Prop("layer", "STRING", required=True, description="layer of the twin"),
    metadata.Prop(
        "buildings", "SCALAR", "UINT32", required=True, description="buildings in the block"
    ),
    metadata.Prop(
        "height",
        "SCALAR",
        "FLOAT32",
        required=True,
        description="footprint-area-weighted mean height in metres",
    ),
    metadata.Prop("base_z", "SCALAR", "FLOAT32", required=True, description="lowest ground height"),
    metadata.Prop("usage", "STRING", no_data="", description="use of the largest built area"),
    metadata.Prop(
        "year_built",
        "SCALAR",
        "INT16",
        no_data=-1,
        description="footprint-area-weighted mean year of construction",
    ),
)

#: per box, counter-clockwise seen from outside (z up): roof, then the four walls; no floor
_BOX_TRIANGLES = np.array(
    [4, 5, 6, 4, 6, 7, 0, 1, 5, 0, 5, 4, 1, 2, 6, 1, 6, 5, 2, 3, 7, 2, 7, 6, 3, 0, 4, 3, 4, 7],
    dtype=np.uint32,
)


@dataclass
class Blocks:
    """One block per non-empty bin of a tile's level, in code order."""

    box: F64  # (m, 4) the block's outline
    z: F64  # (m, 2) bottom, top
    count: I64
    height: F64
    year: F64  # -1 when no building of the block has one
    usage: list[str]


def merge_blocks(bins: NDArray[np.void], uses: NDArray[np.void], usages: list[str]) -> Blocks:
    """One block per bin of a tile (``bins`` and their ``uses``, sorted by code): the built
    area and volume kept inside the extent of the bin's buildings."""
    area = bins["area"]
    xmin, ymin, xmax, ymax = bins["xmin"], bins["ymin"], bins["xmax"], bins["ymax"]
    cx, cy = bins["ax"] / area, bins["ay"] / area
    # the built area as a box of its extent's proportions, centred on the built mass
    shrink = np.sqrt(np.clip(area / np.maximum((xmax - xmin) * (ymax - ymin), 1e-6), 0.0, 1.0))
    hw, hh = (xmax - xmin) * shrink / 2, (ymax - ymin) * shrink / 2
    cx = np.clip(cx, xmin + hw, xmax - hw)
    cy = np.clip(cy, ymin + hh, ymax - hh)
    bottom = bins["base"]
    top = bins["atop"] / area
    dated = bins["dated"]
    year = np.where(dated > 0, np.rint(bins["ayear"] / np.maximum(dated, 1e-9)), -1.0)
    # main usage: the one with the largest built area (ties: the first name)
    pick = np.lexsort((uses["usage"], -uses["area"], uses["code"]))
    first = pick[starts(uses["code"][pick])]
    return Blocks(
        np.column_stack([cx - hw, cy - hh, cx + hw, cy + hh]),
        np.column_stack([bottom, np.maximum(top, bottom + 0.5)]),
        bins["count"].astype(np.int64),
        bins["ah"] / area,
        year,
        [usages[u] for u in uses["usage"][first].tolist()],
    )


def block_glb(
    frame: Frame, blocks: Blocks, layer: str, min_wall: float = 0.0
) -> tuple[bytes, F64, F64]:
    """One mesh of boxes sharing their eight corners (no normals: shaded flat), one
    material, and a ``building_block`` row per block.

    A block lower than ``min_wall`` keeps only its roof (four corners, two triangles): the
    far field passes half the tile's bin side (its geometric error is at least that), so a
    wall it drops is under half the screen-space error target tall wherever the renderer
    shows the tile, and walls are four fifths of the triangles."""
    m = len(blocks.count)
    x0, y0, x1, y1 = blocks.box.T
    z0, z1 = blocks.z.T
    walled = (z1 - z0) >= min_wall
    # the four corners of each box through PROJ once, then at both heights
    xs = np.stack([x0, x1, x1, x0], axis=1).reshape(-1)
    ys = np.stack([y0, y0, y1, y1], axis=1).reshape(-1)
    lon, lat = (np.tile(v.reshape(m, 4), 2).reshape(-1) for v in lonlat(frame.epsg, xs, ys))
    zs = np.stack([z0, z0, z0, z0, z1, z1, z1, z1], axis=1).reshape(-1)
    # a roof-only block keeps its top corners only (the last four of its eight)
    keep = np.repeat(walled, 8) | np.tile(np.arange(8) >= 4, m)
    pos = frame.local_from_lonlat(lon[keep], lat[keep], zs[keep]).astype(np.float32)
    nverts = np.where(walled, 8, 4).astype(np.uint32)
    first = np.concatenate([[0], np.cumsum(nverts)[:-1]]).astype(np.uint32)
    # box corner c of a block is vertex first + c, or first + c - 4 on a roof-only block
    base = first.astype(np.int64) - np.where(walled, 0, 4)
    tris_all = _BOX_TRIANGLES[None, :].astype(np.int64) + base[:, None]
    used = walled[:, None] | (np.arange(len(_BOX_TRIANGLES)) < 6)[None, :]  # roof first
    tris = tris_all[used].astype(np.uint32)
    gb = GltfBuilder()
    mat = gb.material("building-block", style.BUILDING)
    table = metadata.property_table(
        gb,
        CLASS,
        {
            "layer": [layer] * m,
            "buildings": blocks.count.tolist(),
            "height": blocks.height.tolist(),
            "base_z": blocks.z[:, 0].tolist(),
            "usage": blocks.usage,
            "year_built": blocks.year.astype(np.int64).tolist(),
        },
        m,
    )
    gb.use_extension("EXT_mesh_features")
    prim = {
        "attributes": {
            "POSITION": gb.accessor(pos, target=ARRAY_BUFFER, minmax=True),
            "_FEATURE_ID_0": gb.accessor(
                metadata.feature_ids(m, np.repeat(np.arange(m, dtype=np.uint32), nverts)),
                target=ARRAY_BUFFER,
            ),
        },
        "indices": gb.indices(tris, len(pos)),
        "material": mat,
        "mode": TRIANGLES,
        "extensions": {"EXT_mesh_features": metadata.mesh_features(m, 0)},
    }
    node = gb.node({"mesh": gb.mesh([prim], name="blocks"), "name": "blocks"})
    gb.z_up_root([node])
    metadata.attach(gb, [table], [CLASS])
    lo = np.array([pos[:, i].min() for i in range(3)], dtype=np.float64)
    hi = np.array([pos[:, i].max() for i in range(3)], dtype=np.float64)
    return gb.glb(), lo, hi
