"""Buildings of the baseline: LoD1 extrusions of footprints, or stored LoD2 faces."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np

from tiles import metadata, style
from tiles.extrude import building_mesh
from tiles.frames import Frame
from tiles.gltf import GltfBuilder, read_accessor, read_glb
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
    patchable = True
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
        table = metadata.encode_columns("building", _columns(rows, options.layer), n)
        return _encode(_mesh(frame, rows), table, n, options)

    def patch_content(
        self,
        frame: Frame,
        previous: bytes,
        drop: set[int],
        rows: Sequence[BuildingRow],
        options: BuildingOptions,
    ) -> Content:
        """The previous content of the tile without the ``drop`` ids, plus ``rows`` meshed:
        a small change to a big tile meshes only the changed buildings."""
        doc, binary = read_glb(previous)
        prim = doc["meshes"][0]["primitives"][0]
        attrs = prim["attributes"]
        old = metadata.read_table(doc, binary, 0)
        keep = ~np.isin(old["id"].values, np.fromiter(drop, dtype=np.int64, count=len(drop)))
        fid = read_accessor(doc, binary, attrs["_FEATURE_ID_0"]).astype(np.int64)
        vkeep = keep[fid]
        renum = np.cumsum(keep) - 1
        vnew = np.cumsum(vkeep) - 1
        tris = read_accessor(doc, binary, prim["indices"]).astype(np.int64).reshape(-1, 3)
        tris = tris[vkeep[tris].all(axis=1)]
        kept = Mesh(
            read_accessor(doc, binary, attrs["POSITION"]).astype(np.float64)[vkeep],
            (read_accessor(doc, binary, attrs["NORMAL"]).astype(np.float32) / 127.0)[vkeep],
            renum[fid[vkeep]].astype(np.uint32),
            vnew[tris].astype(np.uint32),
        )
        n_kept = int(keep.sum())
        added = _mesh(frame, rows)
        added.features = added.features + np.uint32(n_kept)
        n = n_kept + len(rows)
        new = metadata.encode_columns("building", _columns(rows, options.layer), len(rows))
        table = {k: col.select(keep).concat(new[k]) for k, col in old.items()}
        return _encode(Mesh.concat([kept, added]), table, n, options)


def _mesh(frame: Frame, rows: Sequence[BuildingRow]) -> Mesh:
    """The buildings of a tile; feature index = row."""
    return building_mesh(
        frame,
        [r.footprint for r in rows],
        np.fromiter((r.base_z for r in rows), dtype=np.float64, count=len(rows)),
        np.fromiter((r.height for r in rows), dtype=np.float64, count=len(rows)),
        [r.lod2 for r in rows],
    )


def _columns(rows: Sequence[BuildingRow], layer: str) -> dict[str, list[Any]]:
    return {
        "id": [r.id for r in rows],
        "layer": [layer] * len(rows),
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
    }


def _encode(mesh: Mesh, table: metadata.RawTable, n: int, options: BuildingOptions) -> Content:
    gb = GltfBuilder()
    rgba = style.SCENARIO_BUILDING if options.scenario else style.BUILDING
    mat = gb.material("scenario-building" if options.scenario else "building", rgba)
    prim = mesh.primitive(gb, mat, n, 0)
    m = gb.mesh([prim], name="buildings")
    child = gb.node({"mesh": m, "name": "buildings"})
    gb.z_up_root([child])
    metadata.attach(
        gb, [metadata.write_table(gb, "building", table, n)], list(BuildingsKind.metadata_classes)
    )
    b = mesh.bounds()
    lo, hi = b if b is not None else (np.zeros(3), np.zeros(3))
    return Content(gb.glb(), n, lo, hi)
