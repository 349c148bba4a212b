"""Adaptive large-first quadtree: which tile each feature goes to.

Refinement is ADD with the biggest features highest: features arrive sorted by size
(largest first); each goes to the first node on its root-to-leaf path that still has room
(a feature budget and a byte budget per tile). A node that once refused a feature stays
closed, so a tile holds exactly the largest features of its cell that its ancestors did not
take. The tree grows only where features are: dense districts get deep, empty land gets no
tiles at all.

Why ADD large-first rather than REPLACE with coarser content: buildings do not simplify well
(a simplified block of houses is a different city), while a skyline of the largest buildings
is a truthful first view. It also keeps every feature in exactly one tile, so picking,
styling and incremental rebuilds never see duplicates.

The first full view (root and first level) is bounded: levels 0 and 1 get a byte budget of
``first_view_fraction * total / 5`` each, so at most that fraction of the tileset's bytes is
fetched before the viewer refines.

Assignment works in batches of the sorted stream with numpy (no per-feature Python loop) and
keeps only per-node counters: memory is O(batch + tiles), not O(features).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from geodata.errors import InputError

_BITS = 21
_MASK = (1 << _BITS) - 1
MAX_DEPTH = _MASK.bit_length() - 1
#: metres: projected CRSs of the Earth stay well inside (its circumference is 4e7 m)
MAX_COORDINATE = 1e9


def encode(
    level: int | NDArray[np.int64], ix: NDArray[np.int64] | int, iy: NDArray[np.int64] | int
) -> NDArray[np.int64] | int:
    """A node key: level, column and row packed in one int64 (sortable by level)."""
    if type(level) is int and type(ix) is int and type(iy) is int:  # plain ints: no numpy
        return (level << (2 * _BITS)) | (ix << _BITS) | iy  # (~0.3 µs, not ~6)
    key = (np.int64(level) << (2 * _BITS)) | (np.int64(ix) << _BITS) | np.int64(iy)
    return int(key) if np.ndim(key) == 0 else np.asarray(key, dtype=np.int64)


def decode(key: int) -> tuple[int, int, int]:
    key = int(key)
    return key >> (2 * _BITS), (key >> _BITS) & _MASK, key & _MASK


def parent(key: int) -> int | None:
    level, ix, iy = decode(key)
    if level == 0:
        return None
    return ((level - 1) << (2 * _BITS)) | ((ix >> 1) << _BITS) | (iy >> 1)


@dataclass(frozen=True)
class TreeParams:
    """Budgets of the tiling; defaults suit 3D city models in browsers and headsets."""

    #: upper bound of one tile's content, in estimated bytes
    max_tile_bytes: int = 1_000_000
    #: upper bound of features in one tile (picking tables stay small)
    max_tile_features: int = 4000
    #: share of the whole tileset's bytes fetched for the first full view (root + level 1)
    first_view_fraction: float = 0.03
    #: cells are never split below this side (metres); the deepest level takes the rest
    min_cell: float = 25.0
    #: geometric error of a tile = this factor x the largest feature size below it
    error_factor: float = 1.0
    #: features go no higher than this level (the levels above belong to a far field,
    #: tiles.farfield); 0 is the plain tree
    first_level: int = 0
    #: tileset.json holds at least this many levels (the first view needs no other file)
    subtree_levels: int = 4
    #: a deeper tile roots an external tileset file when its subtree, less what deeper
    #: files hold, has at least this many tiles (tiles.subtrees)
    subtree_tiles: int = 64


@dataclass
class Node:
    count: int = 0
    nbytes: int = 0
    closed: bool = False
    #: size of the largest feature in this tile (the first one to arrive)
    max_size: float = 0.0


@dataclass
class Quadtree:
    """Square root cell (x0, y0, side) in the working CRS; nodes created on demand."""

    x0: float
    y0: float
    side: float
    total_bytes: float
    params: TreeParams = field(default_factory=TreeParams)
    nodes: dict[int, Node] = field(default_factory=dict)

    @classmethod
    def around(
        cls,
        xmin: float,
        ymin: float,
        xmax: float,
        ymax: float,
        total_bytes: float,
        params: TreeParams | None = None,
    ) -> Quadtree:
        """The root cell: a square of power-of-two side aligned on multiples of its side.

        Snapping (rather than fitting the extent exactly) keeps every cell, and so every tile
        key and frame, unchanged when features are added or edited inside the same square:
        incremental builds then rewrite only the tiles that really changed.

        A square aligned on multiples of its side never has 0 inside (0 is always one of its
        edges), so on an axis where the extent crosses 0 the square is centred on the
        multiples instead (``[k side - side/2, k side + side/2)``); extents that do not cross
        0 keep the aligned squares, and so their tile keys. An extent that is not finite or
        lies beyond ``MAX_COORDINATE`` is an :class:`InputError`.
        """
        check_extent(xmin, ymin, xmax, ymax)
        centred_x, centred_y = xmin < 0 <= xmax, ymin < 0 <= ymax
        side = 2.0 ** math.ceil(math.log2(max(xmax - xmin, ymax - ymin, 1.0)))
        while True:  # ends: side / 2 outgrows every |coordinate| (bounded above)
            x0 = _snap(xmin, side, centred_x)
            y0 = _snap(ymin, side, centred_y)
            if xmax < x0 + side and ymax < y0 + side:
                return cls(x0, y0, side, total_bytes, params or TreeParams())
            side *= 2

    @property
    def depth(self) -> int:
        return int(min(MAX_DEPTH, max(0, math.floor(math.log2(self.side / self.params.min_cell)))))

    def byte_budget(self, level: int) -> float:
        p = self.params
        if level <= 1 and p.first_level == 0:
            return max(1.0, min(p.max_tile_bytes, p.first_view_fraction * self.total_bytes / 5))
        return p.max_tile_bytes

    def cell(self, key: int) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) of a node's cell."""
        level, ix, iy = decode(key)
        size = self.side / (1 << level)
        return (
            self.x0 + ix * size,
            self.y0 + iy * size,
            self.x0 + (ix + 1) * size,
            self.y0 + (iy + 1) * size,
        )

    def centre(self, key: int) -> tuple[float, float]:
        xmin, ymin, xmax, ymax = self.cell(key)
        return (xmin + xmax) / 2, (ymin + ymax) / 2

    def assign(
        self,
        x: NDArray[np.float64],
        y: NDArray[np.float64],
        nbytes: NDArray[np.int64],
        size: NDArray[np.float64],
    ) -> NDArray[np.int64]:
        """Keys for a batch of features sorted by decreasing size (continuing earlier batches)."""
        n = len(x)
        out = np.full(n, -1, dtype=np.int64)
        fx = np.clip((np.asarray(x) - self.x0) / self.side, 0.0, np.nextafter(1.0, 0.0))
        fy = np.clip((np.asarray(y) - self.y0) / self.side, 0.0, np.nextafter(1.0, 0.0))
        nbytes = np.asarray(nbytes, dtype=np.int64)
        rem = np.arange(n)
        depth = self.depth
        for level in range(min(self.params.first_level, depth), depth + 1):
            if not len(rem):
                break
            scale = 1 << level
            keys = np.asarray(
                encode(
                    level, (fx[rem] * scale).astype(np.int64), (fy[rem] * scale).astype(np.int64)
                )
            )
            if level == depth:  # the deepest level takes whatever is left
                self._take(keys, rem, nbytes, size, out)
                break
            order = np.argsort(keys, kind="stable")
            ks = keys[order]
            uniq, start, counts = np.unique(ks, return_index=True, return_counts=True)
            rank = np.arange(len(ks)) - np.repeat(start, counts)
            b = nbytes[rem][order]
            cum = np.cumsum(b)
            group_cum = cum - np.repeat(cum[start] - b[start], counts)
            used_n = np.empty(len(uniq), dtype=np.int64)
            used_b = np.empty(len(uniq), dtype=np.int64)
            closed = np.empty(len(uniq), dtype=bool)
            for i, k in enumerate(uniq.tolist()):
                node = self.nodes.get(k)
                used_n[i], used_b[i], closed[i] = (
                    (node.count, node.nbytes, node.closed) if node else (0, 0, False)
                )
            budget = self.byte_budget(level)
            g_n = np.repeat(used_n, counts)
            fits = ~np.repeat(closed, counts) & (
                (
                    (g_n + rank + 1 <= self.params.max_tile_features)
                    & (np.repeat(used_b, counts) + group_cum <= budget)
                )
                | ((g_n == 0) & (rank == 0))  # an empty tile always takes one feature
            )
            accepted = np.zeros(len(rem), dtype=bool)
            accepted[order[fits]] = True
            self._take(keys[accepted], rem[accepted], nbytes, size, out)
            refused_groups = np.unique(ks[~fits])
            for k in refused_groups.tolist():
                self.nodes.setdefault(k, Node()).closed = True
            rem = rem[~accepted]
        return out

    def _take(
        self,
        keys: NDArray[np.int64],
        idx: NDArray[np.int64],
        nbytes: NDArray[np.int64],
        size: NDArray[np.float64],
        out: NDArray[np.int64],
    ) -> None:
        if not len(keys):
            return
        out[idx] = keys
        order = np.argsort(keys, kind="stable")
        ks = keys[order]
        uniq, start, counts = np.unique(ks, return_index=True, return_counts=True)
        sums = np.add.reduceat(nbytes[idx][order], start)
        first_size = np.asarray(size)[idx][order][start]
        for k, c, s, fs in zip(
            uniq.tolist(), counts.tolist(), sums.tolist(), first_size.tolist(), strict=True
        ):
            node = self.nodes.get(k)
            if node is None:
                node = self.nodes[k] = Node()
            if node.count == 0:
                node.max_size = max(node.max_size, fs)
            node.count += c
            node.nbytes += s

    def children(self) -> dict[int, list[int]]:
        """Child keys of every node that has some (nodes with no feature are dropped)."""
        kids: dict[int, list[int]] = {}
        for k, node in self.nodes.items():
            if node.count == 0:
                continue
            p = parent(k)
            if p is not None:
                kids.setdefault(p, []).append(k)
        for v in kids.values():
            v.sort()
        return kids

    def geometric_errors(self) -> dict[int, float]:
        """Per node: factor x the largest feature size in its strict descendants (leaf: 0)."""
        sizes = {k: n.max_size for k, n in self.nodes.items() if n.count}
        return geometric_errors(sizes, self.params.error_factor)

    def path_keys(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.int64]:
        """(n, depth + 1): the key of every level's cell holding each point, root first (as
        :meth:`assign` computes them)."""
        top = np.nextafter(1.0, 0.0)
        fx = np.clip((np.asarray(x) - self.x0) / self.side, 0.0, top)
        fy = np.clip((np.asarray(y) - self.y0) / self.side, 0.0, top)
        levels = np.arange(self.depth + 1, dtype=np.int64)
        scale = (np.int64(1) << levels).astype(np.float64)[None, :]
        ix = (fx[:, None] * scale).astype(np.int64)
        iy = (fy[:, None] * scale).astype(np.int64)
        out: NDArray[np.int64] = (levels[None, :] << (2 * _BITS)) | (ix << _BITS) | iy
        return out

    def holds(self, x: float, y: float) -> bool:
        """Is (x, y) inside the root cell (no clamping needed)?"""
        return self.x0 <= x < self.x0 + self.side and self.y0 <= y < self.y0 + self.side


def check_extent(xmin: float, ymin: float, xmax: float, ymax: float) -> None:
    """Refuse an extent no tree can cover: not finite, inverted, or beyond
    ``MAX_COORDINATE`` metres (no projected CRS of the Earth goes that far; such values
    come from data in another CRS or broken geometries)."""
    values = (xmin, ymin, xmax, ymax)
    if not all(math.isfinite(v) for v in values):
        raise InputError(
            f"the features' extent {values} is not finite: find the broken geometries "
            "(coordinates NaN or infinite) and re-import them"
        )
    if xmin > xmax or ymin > ymax:
        raise InputError(f"the features' extent {values} is inverted (min above max)")
    if max(abs(v) for v in values) > MAX_COORDINATE:
        raise InputError(
            f"the features' extent {values} reaches beyond {MAX_COORDINATE:.0e} m: the data "
            "is not in the twin's working CRS (metres); re-import it with its real CRS"
        )


def _snap(lo: float, side: float, centred: bool) -> float:
    """The low edge of the square of ``side`` holding ``lo``: on a multiple of ``side``, or
    half a side below one (``centred``: the squares that have 0 inside)."""
    if centred:
        return math.floor(lo / side + 0.5) * side - side / 2
    return math.floor(lo / side) * side


def ancestors(key: int) -> list[int]:
    """Keys of every node above ``key``, nearest first."""
    out = []
    k = parent(key)
    while k is not None:
        out.append(k)
        k = parent(k)
    return out


def with_ancestors(keys: Iterable[int]) -> set[int]:
    """``keys`` and every node above them (one parent computation per distinct node)."""
    out = set(keys)
    level = out
    while level:
        up = {p for k in level if (p := parent(k)) is not None} - out
        out |= up
        level = up
    return out


def geometric_errors(max_size: dict[int, float], factor: float) -> dict[int, float]:
    """Per node (those given and all their ancestors): ``factor`` x the largest feature size
    in its strict descendants (a leaf: 0). ``max_size`` is each node's largest own feature."""
    below: dict[int, float] = {}
    nodes = with_ancestors(max_size)
    for k in sorted(nodes, reverse=True):  # deeper levels have larger keys
        par = parent(k)
        if par is not None:
            below[par] = max(below.get(par, 0.0), max_size.get(k, 0.0), below.get(k, 0.0))
    return {k: factor * below.get(k, 0.0) for k in nodes}
