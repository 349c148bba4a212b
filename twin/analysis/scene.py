"""One scene for every ray: the buildings around a place, meshed by the tiles' own code, in
one local east-north-up frame, with the ground under them.

"Before" is the baseline; "after" is the baseline minus the buildings a scenario replaces or
removes, plus the scenario's own rows: the same selection as the scenario's tileset
(:class:`tiles.kinds.scenario.ScenarioKind`), so what a ray hits is what the viewer draws.
Each triangle knows what it is (ground, an existing building, a project building) and which
building it belongs to, so a hit can be coloured, named and counted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Engine, text

from geodata.errors import NotFound
from geodata.terrain import Dem, load_dem
from geodata.working_crs import require_working_crs
from tiles.extrude import building_mesh
from tiles.frames import Frame
from tiles.kinds.scenario import ScenarioKind, scenario_spec

#: what a triangle (or a ray that hits it) is; rays that hit nothing see the sky
SKY, GROUND, BUILDING, PROJECT = 0, 1, 2, 3
KIND_NAMES = ("sky", "ground", "building", "project")
#: rays start this far off the surface they leave (no self-hit from float noise)
SURFACE_OFFSET_M = 0.05


@dataclass(frozen=True)
class ScenarioRef:
    id: int
    slug: str


@dataclass
class Scene:
    frame: Frame
    #: (n, 3) float32 vertices in the frame
    vertices: NDArray[np.float32]
    #: (m, 3) int32 vertex indices
    triangles: NDArray[np.int32]
    #: (m,) what each triangle is (GROUND, BUILDING, PROJECT)
    kind: NDArray[np.uint8]
    #: (m,) the building id of each triangle (-1 for the ground)
    building: NDArray[np.int64]
    #: the ground's height in the frame (the plane, or the DEM's under the centre)
    ground_z: float

    @property
    def key(self) -> str:
        """Identity of the geometry (worker processes keep scenes by it)."""
        h = hashlib.blake2b(digest_size=16)
        h.update(self.vertices.tobytes())
        h.update(self.triangles.tobytes())
        return h.hexdigest()

    def soup(self) -> NDArray[np.float32]:
        """(m, 3, 3) triangle corners, as Embree's triangle mesh takes them."""
        return np.ascontiguousarray(self.vertices[self.triangles], dtype=np.float32)

    def local(self, x: Any, y: Any, z: Any) -> NDArray[np.float64]:
        """Working-CRS points -> the scene's frame."""
        return self.frame.local(np.atleast_1d(x), np.atleast_1d(y), np.atleast_1d(z))


def find_scenario(engine: Engine, slug: str) -> ScenarioRef:
    """The scenario of that slug; NotFound lists the known ones."""
    with engine.connect() as conn:
        row = conn.execute(text("SELECT id FROM scenarios WHERE slug = :s"), {"s": slug}).first()
        if row is None:
            known = conn.execute(text("SELECT slug FROM scenarios ORDER BY slug")).scalars().all()
            raise NotFound(
                f"no scenario {slug!r}; known: {', '.join(known) if known else 'none yet'}"
            )
    return ScenarioRef(int(row[0]), slug)


def _selection(scenario: ScenarioRef | None) -> tuple[str, dict[str, Any]]:
    if scenario is None:
        return "b.scenario_id IS NULL", {}
    spec = scenario_spec(scenario.id, scenario.slug)
    hidden = ScenarioKind().hidden_sql(spec)
    where = f"(b.scenario_id IS NULL AND b.id NOT IN ({hidden})) OR {spec.scenario_filter('b.')}"
    return where, {"scenario_id": scenario.id, "project_id": None}


def load_buildings(
    engine: Engine, x: float, y: float, radius: float, scenario: ScenarioRef | None
) -> list[tuple[Any, ...]]:
    """(id, footprint WKB, base_z, height, lod2 WKB or None, is_scenario_row) of the
    buildings within ``radius`` of (x, y) as the scene selects them."""
    where, params = _selection(scenario)
    with engine.connect() as conn:
        epsg = require_working_crs(conn)
        cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cur.execute(
            "SELECT b.id, ST_AsBinary(b.footprint), b.base_z, b.height, ST_AsBinary(b.lod2), "
            "b.scenario_id IS NOT NULL FROM buildings b WHERE b.footprint && "
            f"ST_Expand(ST_SetSRID(ST_MakePoint(%(x)s, %(y)s), {epsg}), %(r)s) AND ({where}) "
            "ORDER BY b.id",
            {"x": x, "y": y, "r": radius, **params},
        )
        return list(cur.fetchall())


def build_scene(
    engine: Engine,
    x: float,
    y: float,
    *,
    radius: float = 500.0,
    scenario: ScenarioRef | None = None,
    ground_z: float | None = None,
) -> Scene:
    """The scene within ``radius`` metres of (x, y) (working CRS). The ground is the twin's
    DEM where it has one (:func:`terrain_mesh`), over a plane at ``ground_z`` (default: the
    DEM's height at (x, y), else the lowest building base around, else 0) reaching past the
    buildings, so a ray downwards always meets something."""
    with engine.connect() as conn:
        epsg = require_working_crs(conn)
    rows = load_buildings(engine, x, y, radius, scenario)
    frame = Frame.at(epsg, x, y)
    base = np.array([float(r[2]) for r in rows], dtype=np.float64)
    height = np.array([float(r[3]) for r in rows], dtype=np.float64)
    mesh = building_mesh(frame, [bytes(r[1]) for r in rows], base, height,
                         [bytes(r[4]) if r[4] is not None else None for r in rows])  # fmt: skip
    ids = np.array([int(r[0]) for r in rows], dtype=np.int64)
    is_project = np.array([bool(r[5]) for r in rows], dtype=bool)
    g = 4.0 * radius
    dem = load_dem(engine)
    terrain = terrain_mesh(dem, frame, x, y, g) if dem is not None else None
    if ground_z is not None:
        z0 = float(ground_z)
    elif terrain is not None:
        z0 = terrain.centre_z
    else:
        z0 = float(base.min()) if len(base) else 0.0
    tri = mesh.triangles.astype(np.int32)
    tri_feature = mesh.features[tri[:, 0]] if len(tri) else np.zeros(0, np.uint32)
    kind = np.where(is_project[tri_feature], PROJECT, BUILDING).astype(np.uint8)
    verts = [mesh.positions.astype(np.float32)]
    tris = [tri]
    # the ground: a square plane in the frame, well past the buildings (under the DEM)
    plane_z = z0 if terrain is None else min(z0, terrain.lowest) - PLANE_BELOW_DEM_M
    corners = [[-g, -g], [g, -g], [g, g], [-g, g]]
    verts.append(np.array([[cx, cy, plane_z] for cx, cy in corners], np.float32))
    tris.append(np.array([[0, 1, 2], [0, 2, 3]], dtype=np.int32) + len(verts[0]))
    if terrain is not None:
        tris.append(terrain.triangles + sum(len(v) for v in verts))
        verts.append(terrain.vertices)
    n_ground = sum(len(t) for t in tris[1:])
    return Scene(
        frame,
        np.concatenate(verts),
        np.concatenate(tris),
        np.concatenate([kind, np.full(n_ground, GROUND, np.uint8)]),
        np.concatenate([ids[tri_feature], np.full(n_ground, -1, np.int64)]),
        z0,
    )


#: the most DEM cells a scene's terrain has along a side (it is resampled beyond): the
#: ground within a few kilometres needs metres, not the DEM's every cell, and Embree's build
#: grows with the triangles
TERRAIN_CELLS = 384
#: the catch-all plane lies this far under the DEM's lowest point (outside the DEM only)
PLANE_BELOW_DEM_M = 0.5


@dataclass
class TerrainMesh:
    vertices: NDArray[np.float32]
    triangles: NDArray[np.int32]
    #: the DEM's height at the scene's centre (its lowest point there is none)
    centre_z: float
    lowest: float


def terrain_mesh(dem: Dem, frame: Frame, x: float, y: float, half: float) -> TerrainMesh | None:
    """The DEM's cells within ``half`` metres of (x, y) as triangles in ``frame``: two per
    quad of cell centres (every k-th cell when more than :data:`TERRAIN_CELLS` a side),
    none where a corner is nodata; None when the DEM does not reach the square."""
    inv = ~dem.transform
    h, w = dem.z.shape
    cols = sorted(inv.a * cx + inv.c for cx in (x - half, x + half))
    rows = sorted(inv.e * cy + inv.f for cy in (y - half, y + half))
    c0, c1 = max(int(np.floor(cols[0])), 0), min(int(np.ceil(cols[1])), w)
    r0, r1 = max(int(np.floor(rows[0])), 0), min(int(np.ceil(rows[1])), h)
    if c1 - c0 < 2 or r1 - r0 < 2:
        return None
    step = max(1, int(np.ceil(max(c1 - c0, r1 - r0) / TERRAIN_CELLS)))
    rr = np.arange(r0, r1, step)
    cc = np.arange(c0, c1, step)
    z = dem.z[np.ix_(rr, cc)]
    if not np.isfinite(z).any():
        return None
    gc, gr = np.meshgrid(cc + 0.5, rr + 0.5)
    wx = dem.transform.a * gc + dem.transform.b * gr + dem.transform.c
    wy = dem.transform.d * gc + dem.transform.e * gr + dem.transform.f
    local = frame.local(wx.ravel(), wy.ravel(), np.nan_to_num(z).ravel()).astype(np.float32)
    nr, nc = z.shape
    idx = np.arange(nr * nc, dtype=np.int32).reshape(nr, nc)
    a, b = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel()
    c, d = idx[1:, :-1].ravel(), idx[1:, 1:].ravel()
    quads = np.column_stack([a, b, c, d])
    ok = np.isfinite(z.ravel())[quads].all(axis=1)
    a, b, c, d = quads[ok].T
    triangles = np.concatenate([np.column_stack([a, c, b]), np.column_stack([b, c, d])])
    from geodata.terrain import sample_bilinear

    centre = float(sample_bilinear(dem, np.array([[x, y]]))[0])
    lowest = float(np.nanmin(z))
    return TerrainMesh(
        local, triangles.astype(np.int32), centre if np.isfinite(centre) else lowest, lowest
    )
