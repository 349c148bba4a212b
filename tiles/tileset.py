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


#: which coordinates of each of a box's 8 corners are its high ones
_CORNERS = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], dtype=bool)


def corners(lo: F64, hi: F64) -> F64:
    """The 8 corners of each box ``lo``-``hi`` (both (n, 3)): (n, 8, 3)."""
    return np.where(_CORNERS, hi[:, None, :], lo[:, None, :])


def boxes(lo: F64, hi: F64) -> list[list[float]]:
    """3D Tiles ``box`` volumes of the axis-aligned boxes ``lo``-``hi`` (both (n, 3))."""
    c = (lo + hi) / 2
    h = np.maximum((hi - lo) / 2, MIN_HALF)
    out = np.zeros((len(lo), 12))
    out[:, :3] = c
    out[:, [3, 7, 11]] = h
    rows: list[list[float]] = out.tolist()
    return rows


def tileset_json(
    root: dict[str, Any], *, generator: str, version: str, extras: dict[str, Any]
) -> dict[str, Any]:
    return {
        "asset": {"version": "1.1", "generator": generator, "tilesetVersion": version},
        "geometricError": max(2.0 * float(root["geometricError"]), 1.0),
        "root": root,
        "extras": extras,
    }
