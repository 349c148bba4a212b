"""Far field: merged, simplified parent tiles above the buildings tree of a big city.

Why: the large-first ADD tree (:mod:`tiles.quadtree`) draws a zoomed-out city as its few
largest buildings, and a viewer that refines it draws thousands of small tiles, one draw call
each. Above ``min_features`` buildings the tree's upper levels become *far-field* tiles
instead: each covers its quadtree cell with every building below it merged into *blocks*, one
box per bin of a ``grid`` x ``grid`` raster of the cell (built area, area-weighted height,
one mesh, one material, one draw call). Zoomed out the renderer stops at a few of them.

- **Levels.** The far field takes levels ``0 .. first_level - 1``; the buildings themselves
  start at ``first_level``, the first level whose bins would be finer than ``min_bin``
  metres (about a building). Each building is still in exactly one real tile.
- **Refinement.** Far-field tiles refine ``REPLACE``: a tile's blocks are swapped for its
  children once they are loaded, down to the real tiles, whose own subtrees refine ``ADD``
  as before. Picking and styling therefore see every building with its full metadata when
  zoomed in; zoomed out, a block is picked as a block.
- **Geometric error.** A far-field tile's error is its bin side (how far a block's outline
  can be from the buildings it stands for), never less than its children's, so the
  renderer refines before the merge shows.
- **Blocks.** A bin's box keeps the bin's built area and volume (sum of footprint areas,
  area-weighted mean top) within the bounding box of its buildings, so streets stay open
  between blocks. Its metadata row (class ``building_block``) keeps what the viewer colours
  by: the count of buildings, the area-weighted height and year built, the main usage.
  Boxes share their eight corners and carry no normals (glTF viewers shade them flat),
  about 230 bytes a block with its metadata row.

Content files are named by the hash of their input like every tile, so an unchanged far
field is reused by the next build.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tiles import metadata, style
from tiles.frames import Frame
from tiles.gltf import ARRAY_BUFFER, TRIANGLES, GltfBuilder
from tiles.quadtree import Quadtree, decode, encode, parent
from tiles.tilework import Result

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

#: bump when the far field's meshing or metadata changes
FARFIELD_VERSION = "farfield-1"
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

#: one light row per baseline building: what blocks are made of (same centre as the index)
_SQL = (
    "SELECT (ST_XMin(b) + ST_XMax(b)) / 2, (ST_YMin(b) + ST_YMax(b)) / 2, ST_XMin(b), "
    "ST_YMin(b), ST_XMax(b), ST_YMax(b), ST_Area(footprint), base_z, height, "
    "coalesce(year_built, -1), coalesce(usage, '') "
    "FROM (SELECT footprint::box2d AS b, footprint, base_z, height, year_built, usage "
    "FROM buildings WHERE scenario_id IS NULL) q"
)
_BATCH = 50_000

#: per box, counter-clockwise seen from outside (z up): roof, then the four walls; no floor
_BOX_TRIANGLES = np.array(
    [4, 5, 6, 4, 6, 7, 0, 1, 5, 0, 5, 4, 1, 2, 6, 1, 6, 5, 2, 3, 7, 2, 7, 6, 3, 0, 4, 3, 4, 7],
    dtype=np.uint32,
)


@dataclass(frozen=True)
class FarFieldParams:
    """When a tileset gets a far field, and how coarse it is."""

    #: buildings tilesets with fewer features keep the plain tree (a district needs none)
    min_features: int = 20_000
    #: bins per side of a far-field tile: at most grid**2 blocks (10 triangles each) a tile
    grid: int = 32
    #: the far field stops where its bins would be finer than this (metres): about a building
    min_bin: float = 20.0


#: what a build uses unless told otherwise (tests lower ``min_features``)
DEFAULT_PARAMS = FarFieldParams()


@dataclass
class _Buildings:
    """Columns of the light rows, one entry per building."""

    x: F64
    y: F64
    box: F64  # (n, 4): xmin, ymin, xmax, ymax
    area: F64
    base: F64
    height: F64
    year: F64
    usage: I64  # index into usages
    usages: list[str]


@dataclass
class FarField:
    """The far field of one build: planned on the tree, then built in the same snapshot."""

    tree: Quadtree
    params: FarFieldParams
    layer: str
    #: the buildings' extent (xmin, ymin, xmax, ymax) in the working CRS
    extent: tuple[float, float, float, float]

    @classmethod
    def plan(
        cls,
        tree: Quadtree,
        *,
        kind: str,
        baseline: bool,
        features: int,
        layer: str,
        extent: tuple[float, float, float, float],
        params: FarFieldParams | None = None,
    ) -> FarField | None:
        """A far field for a big baseline buildings tileset, else None (tree unchanged).

        The returned ``tree`` is the same square with content starting at the first level
        below the far field: build the real tiles with it.
        """
        p = params or DEFAULT_PARAMS
        if kind != "buildings" or not baseline or features < p.min_features:
            return None
        first = first_content_level(tree.side, p, tree.depth)
        if first == 0:
            return None
        deeper = replace(tree, params=replace(tree.params, first_level=first), nodes={})
        return cls(deeper, p, layer, extent)

    @property
    def first_level(self) -> int:
        return self.tree.params.first_level

    def centre(self, key: int) -> tuple[float, float]:
        """A tile's frame origin: the centre of its cell, or for a far-field tile the centre
        of the part of its cell the buildings cover. The upper cells of a snapped quadtree
        reach far past the city; a frame tens of kilometres away would tilt the tile's box by
        the Earth's curvature (hundreds of metres deep) and put a viewer's ground below it."""
        if decode(key)[0] >= self.first_level:
            return self.tree.centre(key)
        x0, y0, x1, y1 = self.tree.cell(key)
        ex0, ey0, ex1, ey1 = self.extent
        x0, y0, x1, y1 = max(x0, ex0), max(y0, ey0), min(x1, ex1), min(y1, ey1)
        return (x0 + x1) / 2, (y0 + y1) / 2

    def bin_size(self, level: int) -> float:
        return self.tree.side / (1 << level) / self.params.grid

    def refine(self, key: int) -> str | None:
        """REPLACE on far-field tiles, ADD on the real tiles right below them."""
        level = decode(key)[0]
        if level < self.first_level:
            return "REPLACE"
        return "ADD" if level == self.first_level else None

    def geometric_errors(self, errors: dict[int, float], keys: list[int]) -> dict[int, float]:
        """Errors of the far-field ``keys``: the bin side, at least their children's."""
        out = {k: errors.get(k, 0.0) for k in keys}
        for key in sorted((k for k in keys if decode(k)[0] <= self.first_level), reverse=True):
            level = decode(key)[0]
            if level < self.first_level:
                out[key] = max(out[key], self.bin_size(level))
            if (up := parent(key)) is not None and up in out:
                out[up] = max(out[up], out[key])
        return {k: v for k, v in out.items() if decode(k)[0] < self.first_level}

    def build(
        self, cur: Any, epsg: int, content_dir: Path, reusable: frozenset[str]
    ) -> list[Result]:
        """Read the buildings (in the build's snapshot) and write every far-field tile."""
        b = _read(cur)
        if not len(b.x):
            return []
        # the frames sit on the buildings read now (an incremental build may have moved them)
        box = b.box
        self.extent = (
            float(box[:, 0].min()),
            float(box[:, 1].min()),
            float(box[:, 2].max()),
            float(box[:, 3].max()),
        )
        t = self.tree
        fx = np.clip((b.x - t.x0) / t.side, 0.0, np.nextafter(1.0, 0.0))
        fy = np.clip((b.y - t.y0) / t.side, 0.0, np.nextafter(1.0, 0.0))
        out: list[Result] = []
        for level in range(self.first_level):
            out += self._level(level, fx, fy, b, epsg, content_dir, reusable)
        return out

    def _level(
        self,
        level: int,
        fx: F64,
        fy: F64,
        b: _Buildings,
        epsg: int,
        content_dir: Path,
        reusable: frozenset[str],
    ) -> list[Result]:
        g = self.params.grid
        n_side = (1 << level) * g
        bx = (fx * n_side).astype(np.int64)
        by = (fy * n_side).astype(np.int64)
        blocks = _blocks(bx * n_side + by, b)
        tile = np.asarray(encode(level, blocks.bin // n_side // g, blocks.bin % n_side // g))
        order = np.argsort(tile, kind="stable")
        keys, start = np.unique(tile[order], return_index=True)
        bounds = np.append(start, len(order))
        out = []
        for i, key in enumerate(keys.tolist()):
            sel = order[bounds[i] : bounds[i + 1]]
            out.append(
                self._tile(int(key), blocks.take(sel), b.usages, epsg, content_dir, reusable)
            )
        return out

    def _tile(
        self,
        key: int,
        blocks: _Blocks,
        usages: list[str],
        epsg: int,
        content_dir: Path,
        reusable: frozenset[str],
    ) -> Result:
        centre = self.centre(key)
        h = hashlib.blake2b(digest_size=16)
        h.update(repr((FARFIELD_VERSION, key, epsg, centre, self.layer, style.BUILDING)).encode())
        for arr in (blocks.box, blocks.z, blocks.count, blocks.height, blocks.year):
            h.update(np.ascontiguousarray(arr).tobytes())
        h.update("\0".join(usages[u] for u in blocks.usage.tolist()).encode())
        digest = h.hexdigest()
        path = content_dir / f"{digest}.glb"
        if digest in reusable and path.exists():
            return Result(key, digest, True, len(blocks.count))
        glb, lo, hi = _glb(Frame.at(epsg, *centre), blocks, usages, self.layer)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(glb)
        os.replace(tmp, path)
        return Result(
            key,
            digest,
            False,
            len(blocks.count),
            len(glb),
            [float(v) for v in lo],
            [float(v) for v in hi],
        )


def first_content_level(side: float, params: FarFieldParams, depth: int) -> int:
    """The first level of real tiles: the first whose bins are finer than ``min_bin``."""
    level = 0
    while side / (1 << level) / params.grid >= params.min_bin:
        level += 1
    return min(level, depth)


def _read(cur: Any) -> _Buildings:
    nums: list[NDArray[np.float64]] = []
    usage: list[str] = []
    cur.execute(_SQL)
    while batch := cur.fetchmany(_BATCH):
        nums.append(np.array([r[:10] for r in batch], dtype=np.float64))
        usage += [r[10] for r in batch]
    a = np.concatenate(nums) if nums else np.zeros((0, 10))
    usages, codes = np.unique(np.array(usage, dtype=object), return_inverse=True)
    return _Buildings(
        a[:, 0],
        a[:, 1],
        a[:, 2:6],
        np.maximum(a[:, 6], 1e-6),
        a[:, 7],
        a[:, 8],
        a[:, 9],
        codes.astype(np.int64).reshape(-1),
        [str(u) for u in usages],
    )


@dataclass
class _Blocks:
    bin: I64
    box: F64  # (m, 4) the block's outline
    z: F64  # (m, 2) bottom, top
    count: I64
    height: F64
    year: F64  # -1 when no building of the block has one
    usage: I64

    def take(self, sel: I64) -> _Blocks:
        return _Blocks(
            self.bin[sel],
            self.box[sel],
            self.z[sel],
            self.count[sel],
            self.height[sel],
            self.year[sel],
            self.usage[sel],
        )


def _blocks(bin_id: I64, b: _Buildings) -> _Blocks:
    """One block per non-empty bin: built area and volume kept inside the bin's extent."""
    order = np.argsort(bin_id, kind="stable")
    ids = bin_id[order]
    uniq, start, count = np.unique(ids, return_index=True, return_counts=True)

    def total(v: F64) -> F64:
        return np.add.reduceat(v[order], start)

    area = total(b.area)
    xmin = np.minimum.reduceat(b.box[order, 0], start)
    ymin = np.minimum.reduceat(b.box[order, 1], start)
    xmax = np.maximum.reduceat(b.box[order, 2], start)
    ymax = np.maximum.reduceat(b.box[order, 3], start)
    cx = total(b.area * b.x) / area
    cy = total(b.area * b.y) / area
    # the bin's built area as a box of its extent's proportions, centred on the built mass
    shrink = np.sqrt(np.clip(area / np.maximum((xmax - xmin) * (ymax - ymin), 1e-6), 0.0, 1.0))
    hw = (xmax - xmin) * shrink / 2
    hh = (ymax - ymin) * shrink / 2
    cx = np.clip(cx, xmin + hw, xmax - hw)
    cy = np.clip(cy, ymin + hh, ymax - hh)
    bottom = np.minimum.reduceat(b.base[order], start)
    top = total(b.area * (b.base + b.height)) / area
    height = total(b.area * b.height) / area
    dated = (b.year >= 0).astype(np.float64)
    dated_area = total(b.area * dated)
    year = np.where(
        dated_area > 0, np.rint(total(b.area * dated * b.year) / np.maximum(dated_area, 1e-9)), -1
    )
    # main usage: the usage with the largest footprint area in the bin
    n_u = max(1, int(b.usage.max()) + 1) if len(b.usage) else 1
    pair = bin_id * n_u + b.usage
    pairs, inv = np.unique(pair, return_inverse=True)
    pair_area = np.bincount(inv.reshape(-1), weights=b.area)
    pick = np.lexsort((-pair_area, pairs // n_u))
    first = np.unique(pairs[pick] // n_u, return_index=True)[1]
    usage = (pairs[pick][first] % n_u).astype(np.int64)
    return _Blocks(
        uniq.astype(np.int64),
        np.column_stack([cx - hw, cy - hh, cx + hw, cy + hh]),
        np.column_stack([bottom, np.maximum(top, bottom + 0.5)]),
        count.astype(np.int64),
        height,
        year,
        usage,
    )


def _glb(frame: Frame, blocks: _Blocks, usages: list[str], layer: str) -> tuple[bytes, F64, F64]:
    m = len(blocks.count)
    x0, y0, x1, y1 = blocks.box.T
    z0, z1 = blocks.z.T
    xs = np.stack([x0, x1, x1, x0, x0, x1, x1, x0], axis=1).reshape(-1)
    ys = np.stack([y0, y0, y1, y1, y0, y0, y1, y1], axis=1).reshape(-1)
    zs = np.stack([z0, z0, z0, z0, z1, z1, z1, z1], axis=1).reshape(-1)
    pos = frame.local(xs, ys, zs).astype(np.float32)
    tris = (_BOX_TRIANGLES[None, :] + (8 * np.arange(m, dtype=np.uint32))[:, None]).reshape(-1)
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
            "usage": [usages[u] for u in blocks.usage.tolist()],
            "year_built": blocks.year.astype(np.int64).tolist(),
        },
        m,
    )
    gb.use_extension("EXT_mesh_features")
    prim = {
        "attributes": {
            "POSITION": gb.accessor(pos, target=ARRAY_BUFFER, minmax=True),
            "_FEATURE_ID_0": gb.accessor(
                metadata.feature_ids(m, np.repeat(np.arange(m, dtype=np.uint32), 8)),
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
