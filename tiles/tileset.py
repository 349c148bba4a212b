"""The tileset.json tree: tight boxes, per-tile ENU transforms, decreasing geometric errors.

Each tile has its own ENU frame at the centre of its quadtree cell; its content vertices are
in that frame. 3D Tiles compose transforms down the tree (a child's transform is relative to
its parent's), so the root carries ENU -> ECEF and every child ``inv(parent) @ own``.

A tile's bounding box is axis-aligned in its own frame and encloses its content and all its
descendants' boxes (ADD refinement: the children's content is shown together with it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tiles.frames import Frame, column_major, rigid_inverse

F64 = NDArray[np.float64]
#: boxes are never thinner than this (metres): flat content still gets a usable volume
MIN_HALF = 0.05


@dataclass
class TileInfo:
    key: int
    frame: Frame
    uri: str | None  # None: no content left, only children (emptied by deletions)
    lo: F64  # content bounds in the tile frame
    hi: F64
    features: int
    nbytes: int
    geometric_error: float


def _corners(lo: F64, hi: F64) -> F64:
    return np.array(
        [[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]
    )


def box(lo: F64, hi: F64) -> list[float]:
    c = (lo + hi) / 2
    h = np.maximum((hi - lo) / 2, MIN_HALF)
    return [
        float(c[0]),
        float(c[1]),
        float(c[2]),
        float(h[0]),
        0.0,
        0.0,
        0.0,
        float(h[1]),
        0.0,
        0.0,
        0.0,
        float(h[2]),
    ]


def build_tree(
    tiles: dict[int, TileInfo],
    children: dict[int, list[int]],
    root: int,
    *,
    refine: str = "ADD",
    refine_of: Callable[[int], str | None] | None = None,
) -> tuple[dict[str, Any], dict[int, tuple[F64, F64]]]:
    """The root tile dict and every tile's subtree bounds (in its own frame).

    ``refine_of(key)`` sets a tile's own ``refine`` (None: inherited from its parent), for
    trees that mix REPLACE and ADD (tiles.farfield)."""
    subtree: dict[int, tuple[F64, F64]] = {}

    def bounds(key: int) -> tuple[F64, F64]:
        t = tiles[key]
        pts = [_corners(t.lo, t.hi)] if t.uri is not None else []
        to_here = t.frame.inverse
        for c in children.get(key, []):
            clo, chi = bounds(c)
            m = to_here @ tiles[c].frame.matrix
            cp = _corners(clo, chi) @ m[:3, :3].T + m[:3, 3]
            pts.append(cp)
        allp = np.concatenate(pts)
        subtree[key] = (allp.min(axis=0), allp.max(axis=0))
        return subtree[key]

    bounds(root)

    def node(key: int, parent_matrix: F64 | None) -> dict[str, Any]:
        t = tiles[key]
        rel = (
            t.frame.matrix
            if parent_matrix is None
            else (rigid_inverse(parent_matrix) @ t.frame.matrix)
        )
        lo, hi = subtree[key]
        out: dict[str, Any] = {
            "boundingVolume": {"box": box(lo, hi)},
            "geometricError": float(t.geometric_error),
            "transform": column_major(rel),
        }
        if t.uri is not None:
            out["content"] = {"uri": t.uri, "boundingVolume": {"box": box(t.lo, t.hi)}}
        own = refine_of(key) if refine_of is not None else None
        if parent_matrix is None or own is not None:
            out["refine"] = own or refine
        kids = children.get(key, [])
        if kids:
            out["children"] = [node(c, t.frame.matrix) for c in kids]
        return out

    return node(root, None), subtree


def tileset_json(
    root: dict[str, Any], *, generator: str, version: str, extras: dict[str, Any]
) -> dict[str, Any]:
    return {
        "asset": {"version": "1.1", "generator": generator, "tilesetVersion": version},
        "geometricError": max(2.0 * float(root["geometricError"]), 1.0),
        "root": root,
        "extras": extras,
    }
