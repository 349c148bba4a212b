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
    """The scene within ``radius`` metres of (x, y) (working CRS). The ground is a plane at
    ``ground_z`` (default: the lowest building base around, else 0) reaching past the
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
    z0 = float(ground_z) if ground_z is not None else (float(base.min()) if len(base) else 0.0)
    tri = mesh.triangles.astype(np.int32)
    tri_feature = mesh.features[tri[:, 0]] if len(tri) else np.zeros(0, np.uint32)
    kind = np.where(is_project[tri_feature], PROJECT, BUILDING).astype(np.uint8)
    verts = mesh.positions.astype(np.float32)
    # the ground: a square plane in the frame, well past the buildings
    g = 4.0 * radius
    gv = np.array([[-g, -g, z0], [g, -g, z0], [g, g, z0], [-g, g, z0]], dtype=np.float32)
    gt = np.array([[0, 1, 2], [0, 2, 3]], dtype=np.int32) + len(verts)
    return Scene(
        frame,
        np.concatenate([verts, gv]),
        np.concatenate([tri, gt]),
        np.concatenate([kind, np.full(2, GROUND, np.uint8)]),
        np.concatenate([ids[tri_feature], np.full(2, -1, np.int64)]),
        z0,
    )
