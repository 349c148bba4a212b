"""The tileset.json tree: tight boxes, per-tile ENU transforms, decreasing geometric errors.

Each tile has its own ENU frame at the centre of its quadtree cell; its content vertices are
in that frame. 3D Tiles compose transforms down the tree (a child's transform is relative to
its parent's), so the root carries ENU -> ECEF and every child ``inv(parent) @ own``.

A tile's bounding box is axis-aligned in its own frame and encloses its content and all its
descendants' boxes (ADD refinement: the children's content is shown together with it).
The tree itself is laid out, and split into external tilesets, by :mod:`tiles.subtrees`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
#: boxes are never thinner than this (metres): flat content still gets a usable volume
MIN_HALF = 0.05


def corners(lo: F64, hi: F64) -> F64:
    return np.array(
        [[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]
    )


def box(lo: F64, hi: F64) -> list[float]:
    c = ((lo + hi) / 2).tolist()
    h = np.maximum((hi - lo) / 2, MIN_HALF).tolist()
    return [c[0], c[1], c[2], h[0], 0.0, 0.0, 0.0, h[1], 0.0, 0.0, 0.0, h[2]]


def tileset_json(
    root: dict[str, Any], *, generator: str, version: str, extras: dict[str, Any]
) -> dict[str, Any]:
    return {
        "asset": {"version": "1.1", "generator": generator, "tilesetVersion": version},
        "geometricError": max(2.0 * float(root["geometricError"]), 1.0),
        "root": root,
        "extras": extras,
    }
