"""Buildings of the baseline: LoD1 extrusions of footprints, or stored LoD2 faces."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import numpy as np

from tiles import metadata, style
from tiles.extrude import extrude, faces
from tiles.frames import Frame
from tiles.gltf import GltfBuilder
from tiles.kinds.base import (
    BYTES_PER_FOOTPRINT_POINT,
    BYTES_PER_LOD2_POINT,
    Content,
    TilesetKind,
    TilesetSpec,
    changed_ids,
)
from tiles.mesh import Mesh


class BuildingRow(NamedTuple):
    id: int
    footprint: bytes  # WKB, working CRS
    base_z: float
    height: float
    levels: int | None
    usage: str | None
    roof_type: str | None
    year_built: int | None
    name: str | None
    source_id: str | None
    scenario_id: int | None
    replaces_id: int | None
    lod2: bytes | None  # WKB MultiPolygonZ faces, or None for LoD1


@dataclass(frozen=True)
class BuildingOptions:
    layer: str
    #: drawn in the scenario colour (a scenario's or project's tileset)
    scenario: bool = False


_EST_BYTES = (
    f"CASE WHEN lod2 IS NULL THEN ST_NPoints(footprint) * {BYTES_PER_FOOTPRINT_POINT} "
    f"ELSE ST_NPoints(lod2) * {BYTES_PER_LOD2_POINT} END + 64"
)


class BuildingsKind(TilesetKind[BuildingRow, BuildingOptions]):
    name = "buildings"
    Row = BuildingRow
    metadata_classes = ("building",)
    tables: ClassVar[dict[int, str]] = {0: "buildings"}

    def extent_sql(self, spec: TilesetSpec) -> str:
        return (
            f"SELECT count(*), ST_Extent(footprint), coalesce(sum({_EST_BYTES}), 0) "
            f"FROM buildings WHERE {spec.scenario_filter()}"
        )

    def index_sql(self, spec: TilesetSpec, *, changed: bool = False) -> str:
        only = f" AND {changed_ids(0)}" if changed else ""
        return (
            "SELECT 0, id, (ST_XMin(b) + ST_XMax(b)) / 2, (ST_YMin(b) + ST_YMax(b)) / 2, "
            "sqrt(power(ST_XMax(b) - ST_XMin(b), 2) + power(ST_YMax(b) - ST_YMin(b), 2) "
            f"+ power(height, 2)) AS size, {_EST_BYTES} "
            "FROM (SELECT id, footprint::box2d AS b, height, footprint, lod2 FROM buildings "
            f"WHERE {spec.scenario_filter()}{only}) q ORDER BY size DESC, id"
        )

    def rows_sql(self, spec: TilesetSpec) -> str:
        return (
            "SELECT a.tile, b.id, ST_AsBinary(b.footprint), b.base_z, b.height, b.levels, "
            "b.usage, b.roof_type, b.year_built, b.name, b.source_id, b.scenario_id, "
            "b.replaces_id, ST_AsBinary(b.lod2) "
            "FROM tile_assign a JOIN buildings b ON b.id = a.id ORDER BY a.tile, b.id"
        )

    def options(self, spec: TilesetSpec) -> BuildingOptions:
        return BuildingOptions(spec.layer, scenario=spec.is_variant)

    def build_content(
        self, frame: Frame, rows: Sequence[BuildingRow], options: BuildingOptions
    ) -> Content:
        n = len(rows)
        base = np.fromiter((r.base_z for r in rows), dtype=np.float64, count=n)
        height = np.fromiter((r.height for r in rows), dtype=np.float64, count=n)
        has_lod2 = np.fromiter((r.lod2 is not None for r in rows), dtype=bool, count=n)
        idx = np.arange(n)
        parts: list[Mesh] = []
        if has_lod2.any():
            sel = idx[has_lod2]
            lod2_mesh = faces(frame, [rows[i].lod2 for i in sel.tolist()], sel)
            parts.append(lod2_mesh)
            # a LoD2 geometry whose faces give no triangle (degenerate) falls back to LoD1:
            # every building in the property table must be drawn
            has_lod2[sel[~np.isin(sel, lod2_mesh.features)]] = False
        lod1 = idx[~has_lod2]
        if len(lod1):
            fps = [rows[i].footprint for i in lod1.tolist()]
            parts.append(extrude(frame, fps, base[lod1], height[lod1], lod1))
        mesh = Mesh.concat(parts)

        gb = GltfBuilder()
        rgba = style.SCENARIO_BUILDING if options.scenario else style.BUILDING
        mat = gb.material("scenario-building" if options.scenario else "building", rgba)
        table = metadata.property_table(
            gb,
            "building",
            {
                "id": [r.id for r in rows],
                "layer": [options.layer] * n,
                "height": [r.height for r in rows],
                "base_z": [r.base_z for r in rows],
                "levels": [r.levels for r in rows],
                "usage": [r.usage for r in rows],
                "roof_type": [r.roof_type for r in rows],
                "year_built": [r.year_built for r in rows],
                "name": [r.name for r in rows],
                "source_id": [r.source_id for r in rows],
                "scenario_id": [r.scenario_id for r in rows],
                "replaces_id": [r.replaces_id for r in rows],
            },
            n,
        )
        prim = mesh.primitive(gb, mat, n, 0)
        m = gb.mesh([prim], name="buildings")
        child = gb.node({"mesh": m, "name": "buildings"})
        gb.z_up_root([child])
        metadata.attach(gb, [table], list(self.metadata_classes))
        b = mesh.bounds()
        lo, hi = b if b is not None else (np.zeros(3), np.zeros(3))
        return Content(gb.glb(), n, lo, hi)
