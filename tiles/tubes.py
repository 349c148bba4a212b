"""Tubes along 3D polylines (buried pipes and cables), vectorised over a whole tile.

Each edge of a polyline is a cylinder of ``sides`` faces. At a bend both cylinders are cut by
the bisector plane of the two edges (a mitre joint): two cylinders of the same radius cut by
that plane give the same ellipse, so the joint closes without a gap whatever the edges'
own frames. Bends sharper than about 145 degrees are not mitred (the ellipse would reach far
out); the small gap there is preferred to a spike. Polyline ends get flat caps.

The mean of every ring is its centreline vertex exactly (the ring directions sum to zero), so
a pipe's axis is where the database says it is.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from tiles.mesh import Mesh, unit

#: below this cosine between an edge and its mitre plane's normal, do not mitre
MIN_MITRE_COS = 0.3
#: above this |cosine| with the vertical, a tube's rings are oriented from east, not up
VERTICAL_COS = 0.999


def tubes(
    points: NDArray[np.float64],
    line_of: NDArray[np.int64],
    radius: NDArray[np.float64],
    feature: NDArray[np.int64],
    sides: int = 8,
) -> Mesh:
    """Tubes around polylines given as vertices in the tile frame.

    :param points: (v, 3) vertices, polylines one after the other
    :param line_of: (v,) polyline index of each vertex (non-decreasing)
    :param radius: radius per polyline; ``feature``: feature index per polyline
    """
    if len(points) < 2:
        return Mesh.empty()
    # drop repeated vertices (they have no direction)
    same = np.zeros(len(points), dtype=bool)
    same[1:] = (line_of[1:] == line_of[:-1]) & (
        np.linalg.norm(points[1:] - points[:-1], axis=1) < 1e-6
    )
    points, line_of = points[~same], line_of[~same]
    is_edge = line_of[1:] == line_of[:-1]
    a_idx = np.nonzero(is_edge)[0]
    if not len(a_idx):
        return Mesh.empty()
    a, b = points[a_idx], points[a_idx + 1]
    t = unit(b - a)
    line = line_of[a_idx]
    e = len(a_idx)
    has_prev = np.zeros(e, dtype=bool)
    has_prev[1:] = (a_idx[1:] == a_idx[:-1] + 1) & (line[1:] == line[:-1])
    has_next = np.zeros(e, dtype=bool)
    has_next[:-1] = has_prev[1:]
    t_prev = np.where(has_prev[:, None], np.roll(t, 1, axis=0), t)
    t_next = np.where(has_next[:, None], np.roll(t, -1, axis=0), t)
    n_start = unit(t_prev + t)
    n_end = unit(t + t_next)
    bad_s = np.einsum("ij,ij->i", t, n_start) < MIN_MITRE_COS
    bad_e = np.einsum("ij,ij->i", t, n_end) < MIN_MITRE_COS
    n_start[bad_s] = t[bad_s]
    n_end[bad_e] = t[bad_e]

    up = np.array([0.0, 0.0, 1.0])
    u = np.cross(t, up)
    # near vertical (a node's cylinder, a riser) the cross product with up turns with the
    # tile frame's slight tilt: take east instead, so the rings do not depend on the tile
    vertical = np.abs(t[:, 2]) > VERTICAL_COS
    u[vertical] = np.cross(t[vertical], np.array([1.0, 0.0, 0.0]))
    u = unit(u)
    w = np.cross(t, u)  # (u, w, t) is right-handed: rings turn counter-clockwise about t
    theta = np.linspace(0.0, 2 * np.pi, sides, endpoint=False)
    d = (
        np.cos(theta)[None, :, None] * u[:, None, :] + np.sin(theta)[None, :, None] * w[:, None, :]
    )  # (e, s, 3)
    r = radius[line][:, None, None]

    def ring(centre: NDArray[np.float64], normal: NDArray[np.float64]) -> NDArray[np.float64]:
        along = np.einsum("esk,ek->es", d, normal) / np.einsum("ek,ek->e", t, normal)[:, None]
        out: NDArray[np.float64] = centre[:, None, :] + r * (d - along[:, :, None] * t[:, None, :])
        return out

    start, end = ring(a, n_start), ring(b, n_end)
    side_pos = np.concatenate([start, end], axis=1).reshape(-1, 3)  # per edge: s start, s end
    side_nrm = np.concatenate([d, d], axis=1).reshape(-1, 3)
    j = np.arange(sides)
    j1 = (j + 1) % sides
    quad = np.stack([j, j1, sides + j1, j, sides + j1, sides + j], axis=1).reshape(-1, 3)
    side_tri = (np.arange(e)[:, None, None] * (2 * sides) + quad[None]).reshape(-1, 3)
    fid = np.repeat(feature[line], 2 * sides)
    parts = [
        Mesh(
            side_pos, side_nrm.astype(np.float32), fid.astype(np.uint32), side_tri.astype(np.uint32)
        )
    ]

    # caps: a fan around the end point, facing away from the pipe
    for mask, rings, centre, sign in ((~has_prev, start, a, -1.0), (~has_next, end, b, 1.0)):
        k = int(mask.sum())
        if not k:
            continue
        pos = np.concatenate([centre[mask][:, None, :], rings[mask]], axis=1).reshape(-1, 3)
        nrm = np.repeat(sign * t[mask], sides + 1, axis=0)
        fan = (
            np.stack([np.zeros(sides, int), 1 + j1, 1 + j], axis=1)
            if sign < 0
            else np.stack([np.zeros(sides, int), 1 + j, 1 + j1], axis=1)
        )
        tri = (np.arange(k)[:, None, None] * (sides + 1) + fan[None]).reshape(-1, 3)
        parts.append(
            Mesh(
                pos,
                nrm.astype(np.float32),
                np.repeat(feature[line[mask]], sides + 1).astype(np.uint32),
                tri.astype(np.uint32),
            )
        )
    return Mesh.concat(parts)
