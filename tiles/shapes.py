"""Small generated models: street furniture kinds and network nodes.

Each model is a :class:`~tiles.mesh.Mesh` in its own frame (metres, z up, origin on the
ground at the object's foot, facing +y). Furniture models are drawn once per tile and
instanced (EXT_mesh_gpu_instancing), so a few hundred triangles each cost nothing per object.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from tiles.mesh import Mesh, unit
from tiles.tubes import tubes

_BOX_FACES = [  # (normal axis, sign) -> four corners in counter-clockwise order from outside
    ((0, 0, 1), [(0, 0, 1), (1, 0, 1), (1, 1, 1), (0, 1, 1)]),
    ((0, 0, -1), [(0, 0, 0), (0, 1, 0), (1, 1, 0), (1, 0, 0)]),
    ((1, 0, 0), [(1, 0, 0), (1, 1, 0), (1, 1, 1), (1, 0, 1)]),
    ((-1, 0, 0), [(0, 0, 0), (0, 0, 1), (0, 1, 1), (0, 1, 0)]),
    ((0, 1, 0), [(0, 1, 0), (0, 1, 1), (1, 1, 1), (1, 1, 0)]),
    ((0, -1, 0), [(0, 0, 0), (1, 0, 0), (1, 0, 1), (0, 0, 1)]),
]


def box(cx: float, cy: float, z0: float, sx: float, sy: float, sz: float) -> Mesh:
    """An axis-aligned box centred on (cx, cy) horizontally, from z0 up to z0 + sz."""
    lo = np.array([cx - sx / 2, cy - sy / 2, z0])
    size = np.array([sx, sy, sz])
    pos, nrm, tri = [], [], []
    for i, (n, corners) in enumerate(_BOX_FACES):
        pos += [lo + np.array(c) * size for c in corners]
        nrm += [n] * 4
        tri += [[4 * i, 4 * i + 1, 4 * i + 2], [4 * i, 4 * i + 2, 4 * i + 3]]
    return Mesh(
        np.array(pos, float),
        np.array(nrm, np.float32),
        np.zeros(24, np.uint32),
        np.array(tri, np.uint32),
    )


def cylinder(cx: float, cy: float, z0: float, z1: float, r: float, sides: int = 10) -> Mesh:
    return tubes(
        np.array([[cx, cy, z0], [cx, cy, z1]]),
        np.zeros(2, np.int64),
        np.array([r]),
        np.zeros(1, np.int64),
        sides=sides,
    )


def crown(cz: float, r: float) -> Mesh:
    """A low-poly icosahedron (flat shaded) for tree crowns."""
    p = (1 + 5**0.5) / 2
    v = np.array(
        [
            (-1, p, 0),
            (1, p, 0),
            (-1, -p, 0),
            (1, -p, 0),
            (0, -1, p),
            (0, 1, p),
            (0, -1, -p),
            (0, 1, -p),
            (p, 0, -1),
            (p, 0, 1),
            (-p, 0, -1),
            (-p, 0, 1),
        ],
        float,
    )
    v = unit(v) * r + np.array([0, 0, cz])
    f = np.array(
        [
            (0, 11, 5),
            (0, 5, 1),
            (0, 1, 7),
            (0, 7, 10),
            (0, 10, 11),
            (1, 5, 9),
            (5, 11, 4),
            (11, 10, 2),
            (10, 7, 6),
            (7, 1, 8),
            (3, 9, 4),
            (3, 4, 2),
            (3, 2, 6),
            (3, 6, 8),
            (3, 8, 9),
            (4, 9, 5),
            (2, 4, 11),
            (6, 2, 10),
            (8, 6, 7),
            (9, 8, 1),
        ]
    )
    pos = v[f].reshape(-1, 3)
    n = unit(np.cross(pos[1::3] - pos[0::3], pos[2::3] - pos[0::3]))
    centre = pos.reshape(-1, 3, 3).mean(axis=1) - np.array([0, 0, cz])
    flip = np.einsum("ij,ij->i", n, centre) < 0
    tri = np.arange(len(pos)).reshape(-1, 3)
    tri[flip] = tri[flip][:, ::-1]
    n[flip] = -n[flip]
    return Mesh(
        pos,
        np.repeat(n, 3, axis=0).astype(np.float32),
        np.zeros(len(pos), np.uint32),
        tri.astype(np.uint32),
    )


#: height (m) of each model as drawn; instances are scaled by their stored height / this
NOMINAL_HEIGHT: dict[str, float] = {
    "lamp": 5.0,
    "bench": 0.9,
    "tree": 6.0,
    "bin": 0.9,
    "bollard": 0.9,
    "traffic_light": 3.9,
    "sign": 2.8,
    "parking_space": 0.02,
    "charging_station": 1.5,
    "bus_stop": 2.5,
    "camera": 4.2,
    "gauge": 1.2,
    "fountain": 0.6,
    "bicycle_parking": 0.8,
}


@cache
def furniture_model(kind: str) -> Mesh:
    m = {
        "lamp": lambda: [cylinder(0, 0, 0, 5.0, 0.08), box(0, 0.25, 4.85, 0.3, 0.6, 0.15)],
        "bench": lambda: [
            box(0, 0, 0.4, 1.8, 0.5, 0.08),
            box(0, 0.22, 0.48, 1.8, 0.06, 0.42),
            box(-0.8, 0, 0, 0.08, 0.45, 0.4),
            box(0.8, 0, 0, 0.08, 0.45, 0.4),
        ],
        "tree": lambda: [cylinder(0, 0, 0, 2.8, 0.15, 8), crown(4.0, 2.0)],
        "bin": lambda: [cylinder(0, 0, 0, 0.9, 0.3, 12)],
        "bollard": lambda: [cylinder(0, 0, 0, 0.9, 0.1, 8)],
        "traffic_light": lambda: [cylinder(0, 0, 0, 3.0, 0.07), box(0, 0, 3.0, 0.3, 0.3, 0.9)],
        "sign": lambda: [cylinder(0, 0, 0, 2.2, 0.04, 6), box(0, 0, 2.2, 0.6, 0.05, 0.6)],
        "parking_space": lambda: [box(0, 0, 0, 2.5, 5.0, 0.02)],
        "charging_station": lambda: [box(0, 0, 0, 0.5, 0.3, 1.5)],
        "bus_stop": lambda: [
            box(0, 0, 2.4, 3.0, 1.5, 0.1),
            box(0, 0.7, 0, 3.0, 0.05, 2.4),
            box(-1.45, -0.7, 0, 0.08, 0.08, 2.4),
            box(1.45, -0.7, 0, 0.08, 0.08, 2.4),
        ],
        "camera": lambda: [cylinder(0, 0, 0, 4.0, 0.05, 6), box(0, 0.1, 4.0, 0.15, 0.35, 0.2)],
        "gauge": lambda: [box(0, 0, 0, 0.3, 0.3, 1.2)],
        "fountain": lambda: [cylinder(0, 0, 0, 0.6, 1.5, 16)],
        "bicycle_parking": lambda: [box(0, 0, 0, 2.0, 0.1, 0.8)],
    }.get(kind, lambda: [box(0, 0, 0, 0.5, 0.5, 1.0)])()
    return Mesh.concat(m)


#: network node drawing: radius (m), extent below the node point, extent above it; manholes
#: and hydrants reach the ground (depth_m above the point) and hydrants stand 0.9 m above it
NODE_SHAPES: dict[str, tuple[float, float, float]] = {
    "manhole": (0.6, 0.0, 0.0),
    "chamber": (0.9, 0.0, 0.0),
    "hydrant": (0.15, 0.0, 0.9),
    "valve": (0.25, 0.25, 0.25),
    "junction": (0.3, 0.3, 0.3),
    "meter": (0.3, 0.3, 0.3),
    "substation": (1.5, 0.0, 2.5),
}
#: kinds drawn from their point up to the ground surface
REACHES_GROUND = {"manhole", "chamber", "hydrant", "substation"}
