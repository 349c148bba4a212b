"""Far field: merged, simplified parent tiles above the buildings tree of a big city.

Why: the large-first ADD tree (:mod:`tiles.quadtree`) draws a zoomed-out city as its few
largest buildings, and a viewer that refines it draws thousands of small tiles, one draw call
each. Above ``min_features`` buildings the tree's upper levels become *far-field* tiles
instead: each covers its quadtree cell with every building below it merged into *blocks*, one
box per bin of a ``grid`` x ``grid`` raster of the cell (built area, area-weighted height,
one mesh, one material, one draw call). Zoomed out the renderer stops at a few of them.

- **Levels.** The far field takes levels ``0 .. first_level - 1``; the buildings themselves
  start at ``first_level``, the first level whose bins would be finer than ``min_bin``
  metres (40: about a city block, so real tiles span about a kilometre, ~600 buildings at
  the synthetic city's density; at 20 m they spanned 500 m with ~150, and a scattered
  change rewrote three times as many files, with no gain in the viewer). Each
  building is still in exactly one real tile.
- **Refinement.** Far-field tiles refine ``REPLACE``: a tile's blocks are swapped for its
  children once they are loaded, down to the real tiles, whose own subtrees refine ``ADD``
  as before. Picking and styling therefore see every building with its full metadata when
  zoomed in; zoomed out, a block is picked as a block.
- **Geometric error.** A far-field tile's error is its bin side (how far a block's outline
  can be from the buildings it stands for), never less than its children's, so the
  renderer refines before the merge shows.
- **Blocks.** A bin's box keeps the bin's built area and volume (sum of footprint areas,
  area-weighted mean top) within the bounding box of its buildings, so streets stay open
  between blocks (:mod:`tiles.blockmesh`).
- **Proportional to the change.** Blocks are sums over the finest level's bins
  (:mod:`tiles.blocks`), which a build keeps with the bin of every building: an incremental
  build re-reads the buildings of the bins its changes touch and re-meshes only the tiles
  above them, byte for byte what a full build would write. Content files are named by the
  hash of their input like every tile, so untouched tiles keep their files.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from geodata.errors import ConfigError
from tiles import style
from tiles.blockmesh import CLASS, Blocks, block_glb, merge_blocks
from tiles.blocks import I64, Grid, read_light, span, unmorton
from tiles.farstate import Centres, FarState
from tiles.frames import Frame
from tiles.layout import write_new
from tiles.quadtree import Quadtree, decode, encode, parent
from tiles.tiletask import Result

__all__ = [
    "CLASS",
    "DEFAULT_PARAMS",
    "FarField",
    "FarFieldParams",
    "FarJob",
    "first_content_level",
]

#: bump when the far field's meshing or metadata changes
FARFIELD_VERSION = "farfield-4"


@dataclass(frozen=True)
class FarFieldParams:
    """When a tileset gets a far field, and how coarse it is."""

    #: buildings tilesets with fewer features keep the plain tree (a district needs none)
    min_features: int = 20_000
    #: bins per side of a far-field tile (a power of two): at most grid**2 blocks a tile
    grid: int = 32
    #: the far field stops where its bins would be finer than this (metres): about a city
    #: block; the real tiles below then span about a kilometre (32 bins of 20-40 m)
    min_bin: float = 40.0
    #: a block lower than this share of its tile's geometric error is drawn as its roof
    #: only (tiles.blockmesh): 0 keeps every wall
    wall_factor: float = 0.5

    def __post_init__(self) -> None:
        if self.grid < 1 or self.grid & (self.grid - 1):
            raise ConfigError(f"far-field grid {self.grid} is not a power of two: use 16 or 32")


#: what a build uses unless told otherwise (tests lower ``min_features``)
DEFAULT_PARAMS = FarFieldParams()


@dataclass
class FarField:
    """The far field of one build: planned on the tree, then built in the same snapshot."""

    tree: Quadtree
    params: FarFieldParams
    layer: str
    #: the buildings' extent (xmin, ymin, xmax, ymax) in the working CRS
    extent: tuple[float, float, float, float]
    #: the bins the far field was built from (set by build or update)
    state: FarState | None = None
    #: light rows of buildings read by build or update
    read: int = 0
    #: per level, its bins' and uses' codes, contiguous (set by build and update)
    _codes: list[tuple[I64, I64]] = field(default_factory=list, repr=False)

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

    @property
    def grid(self) -> Grid:
        """The bins of the finest far-field level over the root square."""
        t = self.tree
        return Grid(t.x0, t.y0, t.side, (1 << (self.first_level - 1)) * self.params.grid)

    @property
    def _shift(self) -> int:
        """A bin's code >> this = the code of its tile (at the bin's level)."""
        return 2 * (self.params.grid.bit_length() - 1)

    def centre(self, key: int) -> tuple[float, float]:
        """A tile's frame origin: the centre of its cell, or for a far-field tile the centre
        of the part of its cell the buildings cover. The upper cells of a snapped quadtree
        reach far past the city; a frame tens of kilometres away would tilt the tile's box by
        the Earth's curvature (hundreds of metres deep) and put a viewer's ground below it."""
        return self._centre(key, self.extent)

    def _centre(self, key: int, extent: tuple[float, float, float, float]) -> tuple[float, float]:
        if decode(key)[0] >= self.first_level:
            return self.tree.centre(key)
        x0, y0, x1, y1 = self.tree.cell(key)
        ex0, ey0, ex1, ey1 = extent
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
        self, cur: object, epsg: int, content_dir: Path, reusable: frozenset[str]
    ) -> list[Result | FarJob]:
        """Read every building (in the build's snapshot), sum the bins; a tile whose file
        is reusable is a Result, the others are jobs for the content pass's workers."""
        light = read_light(cur)
        self.read = len(light.id)
        if not len(light.id):
            return []
        self.state = state = FarState.of(light, self.grid, self.first_level)
        self.extent = state.extent()
        out: list[Result | FarJob] = []
        self._index()
        for level in range(self.first_level):
            codes = np.unique(state.levels[level]["code"] >> self._shift)
            for code, key in zip(codes.tolist(), self._keys(level, codes), strict=True):
                out.append(self._tile(level, code, key, epsg, content_dir, reusable))
        return out

    def _keys(self, level: int, codes: I64) -> list[int]:
        """Tile keys of tile codes (Morton) of ``level``."""
        ix, iy = unmorton(codes)
        keys: list[int] = np.asarray(encode(level, ix, iy), dtype=np.int64).reshape(-1).tolist()
        return keys

    def update(
        self,
        cur: object,
        state: FarState,
        changed: I64,
        at: Centres,
        epsg: int,
        content_dir: Path,
        reusable: frozenset[str],
    ) -> tuple[list[Result | FarJob], set[int]]:
        """Sum again the bins the ``changed`` buildings were or are in, and remake the tiles
        above them (and those whose frame moved with the extent); returns their results or
        jobs, and the keys of every tile looked at (those without one lost their last
        block)."""
        self.state = state
        touched, self.read = state.update(cur, self.grid, changed, at)
        before = self.extent
        self.extent = state.extent() if len(state.levels[0]) else before
        out: list[Result | FarJob] = []
        keys: set[int] = set()
        self._index()
        for level in range(self.first_level):
            codes = set((touched[level] >> self._shift).tolist())
            if before != self.extent:  # frames on the covered part of a cell may move
                codes |= self._moved(level, before)
            todo = np.array(sorted(codes), dtype=np.int64)
            for code, key in zip(todo.tolist(), self._keys(level, todo), strict=True):
                keys.add(key)
                lo, hi = self._run(code)
                if len(span(state.levels[level], lo, hi, self._codes[level][0])):
                    out.append(self._tile(level, code, key, epsg, content_dir, reusable))
        return out, keys

    def _moved(self, level: int, before: tuple[float, float, float, float]) -> set[int]:
        """Codes of the tiles of ``level`` (with bins) whose frame the new extent moves."""
        assert self.state is not None
        codes = np.unique(self.state.levels[level]["code"] >> self._shift)
        return {
            code
            for code, key in zip(codes.tolist(), self._keys(level, codes), strict=True)
            if self._centre(key, before) != self._centre(key, self.extent)
        }

    def _index(self) -> None:
        """Each level's codes (bins, uses) as contiguous arrays, once the bins are final: a
        field of a record array is strided, and a binary search on it copies it whole."""
        assert self.state is not None
        self._codes = [
            (np.ascontiguousarray(b["code"]), np.ascontiguousarray(u["code"]))
            for b, u in zip(self.state.levels, self.state.uses, strict=True)
        ]

    def _run(self, code: int) -> tuple[int, int]:
        """The codes of a tile's bins: ``lo <= code < hi``."""
        return code << self._shift, (code + 1) << self._shift

    def _tile(
        self,
        level: int,
        code: int,
        key: int,
        epsg: int,
        content_dir: Path,
        reusable: frozenset[str],
    ) -> Result | FarJob:
        assert self.state is not None
        lo, hi = self._run(code)
        st = self.state
        blocks = merge_blocks(
            span(st.levels[level], lo, hi, self._codes[level][0]),
            span(st.uses[level], lo, hi, self._codes[level][1]),
            st.usages,
        )
        centre = self.centre(key)
        min_wall = self.params.wall_factor * self.bin_size(level)
        h = hashlib.blake2b(digest_size=16)
        h.update(
            repr(
                (FARFIELD_VERSION, key, epsg, centre, self.layer, style.BUILDING, min_wall)
            ).encode()
        )
        for arr in (blocks.box, blocks.z, blocks.count, blocks.height, blocks.year):
            h.update(np.ascontiguousarray(arr).tobytes())
        h.update("\0".join(blocks.usage).encode())
        digest = h.hexdigest()
        if digest in reusable and (content_dir / f"{digest}.glb").exists():
            return Result(key, digest, True, len(blocks.count))
        return FarJob(key, digest, epsg, centre, blocks, self.layer, min_wall, str(content_dir))


@dataclass
class FarJob:
    """Meshing and writing one far-field tile, run by the content pass's workers beside the
    real tiles (the bins are summed in the build's process; only the meshing is parallel)."""

    key: int
    digest: str
    epsg: int
    centre: tuple[float, float]
    blocks: Blocks
    layer: str
    min_wall: float
    content_dir: str

    def __call__(self) -> Result:
        glb, blo, bhi = block_glb(
            Frame.at(self.epsg, *self.centre), self.blocks, self.layer, self.min_wall
        )
        write_new(Path(self.content_dir) / f"{self.digest}.glb", glb)
        return Result(
            self.key,
            self.digest,
            False,
            len(self.blocks.count),
            len(glb),
            [float(v) for v in blo],
            [float(v) for v in bhi],
        )


def first_content_level(side: float, params: FarFieldParams, depth: int) -> int:
    """The first level of real tiles: the first whose bins are finer than ``min_bin``."""
    level = 0
    while side / (1 << level) / params.grid >= params.min_bin:
        level += 1
    return min(level, depth)
