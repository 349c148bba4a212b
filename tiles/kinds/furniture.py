"""Street furniture: one instanced model per kind (EXT_mesh_gpu_instancing), one property
table per tile with per-instance feature ids (EXT_instance_features)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np

from geodata.layers import LAYERS
from tiles import metadata, shapes, style
from tiles.frames import Frame
from tiles.gltf import GltfBuilder
from tiles.kinds.base import (
    BYTES_PER_INSTANCE,
    F64,
    Content,
    TilesetKind,
    TilesetSpec,
    bounds,
    changed_ids,
)


class FurnitureRow(NamedTuple):
    id: int
    kind: str
    x: float
    y: float
    z: float
    heading: float | None  # degrees clockwise from north
    height: float | None
    name: str | None
    source_id: str | None


@dataclass(frozen=True)
class FurnitureOptions:
    layer: str


class FurnitureKind(TilesetKind[FurnitureRow, FurnitureOptions]):
    """Every furniture row the layer's filter (geodata.layers) selects."""

    name = "furniture"
    Row = FurnitureRow
    metadata_classes = ("furniture",)
    tables: ClassVar[dict[int, str]] = {0: "furniture"}

    def _where(self, spec: TilesetSpec) -> str:
        return f"({LAYERS[spec.layer].where or 'TRUE'}) AND {spec.scenario_filter()}"

    def extent_sql(self, spec: TilesetSpec) -> str:
        return (
            f"SELECT count(*), ST_Extent(geom), count(*) * {BYTES_PER_INSTANCE} "
            f"FROM furniture WHERE {self._where(spec)}"
        )

    def index_sql(self, spec: TilesetSpec, *, changed: bool = False) -> str:
        only = f" AND {changed_ids(0)}" if changed else ""
        return (
            "SELECT 0, id, ST_X(geom), ST_Y(geom), coalesce(height, 1.0) AS size, "
            f"{BYTES_PER_INSTANCE} FROM furniture WHERE {self._where(spec)}{only} "
            "ORDER BY size DESC, id"
        )

    def rows_sql(self, spec: TilesetSpec) -> str:
        return (
            "SELECT a.tile, f.id, f.kind, ST_X(f.geom), ST_Y(f.geom), ST_Z(f.geom), f.heading, "
            "f.height, f.name, f.source_id FROM tile_assign a JOIN furniture f ON f.id = a.id "
            "ORDER BY a.tile, f.kind, f.id"
        )

    def options(self, spec: TilesetSpec) -> FurnitureOptions:
        return FurnitureOptions(spec.layer)

    def build_content(
        self, frame: Frame, rows: Sequence[FurnitureRow], options: FurnitureOptions
    ) -> Content:
        n = len(rows)
        xyz = np.array([(r.x, r.y, r.z) for r in rows], dtype=float).reshape(n, 3)
        local = frame.local(xyz[:, 0], xyz[:, 1], xyz[:, 2])
        gb = GltfBuilder()
        table = metadata.property_table(
            gb,
            "furniture",
            {
                "id": [r.id for r in rows],
                "layer": [options.layer] * n,
                "kind": [r.kind for r in rows],
                "height": [r.height for r in rows],
                "heading": [r.heading for r in rows],
                "name": [r.name for r in rows],
                "source_id": [r.source_id for r in rows],
            },
            n,
        )
        kinds = np.array([r.kind for r in rows], dtype=object)
        children = []
        los: list[F64] = []
        his: list[F64] = []
        for kind in dict.fromkeys(r.kind for r in rows):
            sel = np.nonzero(kinds == kind)[0]
            node, lo, hi = _instances(gb, kind, [rows[i] for i in sel.tolist()], sel, local[sel])
            children.append(node)
            los.append(lo)
            his.append(hi)
        gb.z_up_root(children)
        metadata.attach(gb, [table], list(self.metadata_classes))
        lo, hi = bounds(los, his)
        return Content(gb.glb(), n, lo, hi)


def _instances(
    gb: GltfBuilder, kind: str, rows: list[FurnitureRow], sel: Any, local: F64
) -> tuple[int, F64, F64]:
    """One instanced node of ``kind``'s model; returns it with its bounds in the tile frame."""
    model = shapes.furniture_model(kind)
    nominal = shapes.NOMINAL_HEIGHT.get(kind, 1.0)
    n = len(rows)
    heights = np.array([nominal if r.height is None else r.height for r in rows], float)
    scale = heights / nominal if kind != "parking_space" else np.ones(n)
    heading = np.radians([0.0 if r.heading is None else r.heading for r in rows])
    half = -heading / 2  # heading is clockwise from north: a negative turn about +z
    rot = np.stack([np.zeros(n), np.zeros(n), np.sin(half), np.cos(half)], 1)
    mat = gb.material(kind, style.FURNITURE_COLOURS.get(kind, (0.6, 0.6, 0.6, 1.0)))
    prim = {
        "attributes": {
            "POSITION": gb.accessor(model.positions.astype(np.float32), target=34962, minmax=True),
            "NORMAL": gb.accessor(model.normals, target=34962),
        },
        "indices": gb.indices(model.triangles, model.vertex_count),
        "material": mat,
        "mode": 4,
    }
    mesh = gb.mesh([prim], name=kind)
    gb.use_extension("EXT_mesh_gpu_instancing")
    gb.use_extension("EXT_instance_features")
    node = gb.node(
        {
            "name": kind,
            "mesh": mesh,
            "extensions": {
                "EXT_mesh_gpu_instancing": {
                    "attributes": {
                        "TRANSLATION": gb.accessor(local.astype(np.float32)),
                        "ROTATION": gb.accessor(rot.astype(np.float32)),
                        "SCALE": gb.accessor(np.repeat(scale[:, None], 3, 1).astype(np.float32)),
                        "_FEATURE_ID_0": gb.accessor(np.asarray(sel).astype(np.float32)),
                    }
                },
                "EXT_instance_features": {
                    "featureIds": [{"featureCount": n, "attribute": 0, "propertyTable": 0}]
                },
            },
        }
    )
    # bounds: the model's box corners, rotated and scaled, at every instance
    mb = model.bounds()
    assert mb is not None
    r = float(np.hypot(max(abs(mb[0][0]), abs(mb[1][0])), max(abs(mb[0][1]), abs(mb[1][1]))))
    ext_lo = local + np.column_stack([-r * scale, -r * scale, mb[0][2] * scale])
    ext_hi = local + np.column_stack([r * scale, r * scale, mb[1][2] * scale])
    return node, ext_lo.min(axis=0), ext_hi.max(axis=0)
