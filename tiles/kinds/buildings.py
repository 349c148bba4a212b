"""Buildings of the baseline: LoD1 extrusions of footprints, or stored LoD2 faces."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np

from tiles import metadata, style
from tiles.blocks import LIGHT_COLUMNS, LIGHT_TAIL
from tiles.extrude import building_mesh, extrude
from tiles.frames import Frame, FrameSet
from tiles.gltf import GltfBuilder
from tiles.kinds.base import (
    BYTES_PER_FOOTPRINT_POINT,
    BYTES_PER_LOD2_POINT,
    Content,
    PatchInput,
    TilesetKind,
    TilesetSpec,
    changed_ids,
)
from tiles.mesh import Mesh, StoredMesh
from tiles.splice import StoredTile, split_rows, table_rows


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


#: a BuildingRow's columns, ``{b}`` the table's alias and a dot (or nothing)
_ROW = (
    "{b}id, ST_AsBinary({b}footprint), {b}base_z, {b}height, {b}levels, {b}usage, "
    "{b}roof_type, {b}year_built, {b}name, {b}source_id, {b}scenario_id, {b}replaces_id, "
    "ST_AsBinary({b}lod2)"
)


def _index_sql(spec: TilesetSpec, *, changed: bool, row: bool = False) -> str:
    """The index pass (``row``: followed by each feature's BuildingRow)."""
    only = f" AND {changed_ids(0)}" if changed else ""
    extra = f", {_ROW.format(b='')}, {LIGHT_TAIL}" if row else ""
    cols = "*" if row else "id, height, footprint, lod2"
    return (
        "SELECT 0, id, (ST_XMin(b) + ST_XMax(b)) / 2, (ST_YMin(b) + ST_YMax(b)) / 2, "
        "sqrt(power(ST_XMax(b) - ST_XMin(b), 2) + power(ST_YMax(b) - ST_YMin(b), 2) "
        f"+ power(height, 2)) AS size, {_EST_BYTES}{extra} "
        f"FROM (SELECT {cols}, footprint::box2d AS b FROM buildings "
        f"WHERE {spec.scenario_filter()}{only}) q ORDER BY size DESC, id"
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
        return _index_sql(spec, changed=changed)

    def rows_sql(self, spec: TilesetSpec) -> str:
        return (
            f"SELECT a.tile, {_ROW.format(b='b.')} "
            "FROM tile_assign a JOIN buildings b ON b.id = a.id ORDER BY a.tile, b.id"
        )

    def changed_sql(self, spec: TilesetSpec) -> str:
        return _index_sql(spec, changed=True, row=True)

    #: the far field's light row of each changed building (tiles.blocks.LIGHT_TAIL)
    changed_tail: ClassVar[int] = len(LIGHT_COLUMNS)

    def options(self, spec: TilesetSpec) -> BuildingOptions:
        return BuildingOptions(spec.layer, scenario=spec.is_variant)

    def build_content(
        self, frame: Frame, rows: Sequence[BuildingRow], options: BuildingOptions
    ) -> Content:
        n = len(rows)
        table = metadata.encode_columns("building", _columns(rows, options.layer), n)
        return _encode(_mesh(frame, rows).stored(), table, n, options)

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
        return self.patch_many(FrameSet.of([frame]), [PatchInput(previous, drop, rows)], options)[0]

    def patch_many(
        self, frames: FrameSet, tiles: Sequence[PatchInput], options: BuildingOptions
    ) -> list[Content]:
        """Every tile's changed buildings meshed in one pass over all their frames, then
        spliced into each previous file (tiles.splice)."""
        rows_of = [list(t.rows) for t in tiles]
        added = _mesh_many(frames, rows_of)
        rows = [r for tile_rows in rows_of for r in tile_rows]
        new = metadata.encode_columns("building", _columns(rows, options.layer), len(rows))
        spans = split_rows(np.fromiter(map(len, rows_of), dtype=np.int64, count=len(rows_of)))
        out: list[Content] = []
        for t, mesh, (a, b) in zip(tiles, added, spans, strict=True):
            tile = StoredTile.read(t.previous).without(t.drop)
            tile = tile.plus(mesh, table_rows(new, a, b), b - a)
            out.append(_encode(tile.mesh, tile.table, tile.count, options))
        return out


def _mesh(frame: Frame, rows: Sequence[BuildingRow]) -> Mesh:
    """The buildings of a tile; feature index = row."""
    return building_mesh(
        frame,
        [r.footprint for r in rows],
        np.fromiter((r.base_z for r in rows), dtype=np.float64, count=len(rows)),
        np.fromiter((r.height for r in rows), dtype=np.float64, count=len(rows)),
        [r.lod2 for r in rows],
    )


def _mesh_many(frames: FrameSet, rows_of: Sequence[Sequence[BuildingRow]]) -> list[StoredMesh]:
    """The buildings of many tiles, each in its tile's frame (feature index = row of its
    tile): the footprints of every tile without LoD2 extruded in one pass; a tile with
    LoD2 rows meshed on its own (LoD2 faces are meshed one by one anyway)."""
    counts = np.fromiter(map(len, rows_of), dtype=np.intp, count=len(rows_of))
    first = np.cumsum(counts) - counts
    lod2 = [any(r.lod2 is not None for r in rows) for rows in rows_of]
    bulk_tiles = np.nonzero(~np.array(lod2, dtype=bool))[0].tolist()
    rows = [r for t in bulk_tiles for r in rows_of[t]]
    # feature = the row's index over every tile's rows; frame = its tile
    feature = np.concatenate(
        [np.arange(first[t], first[t] + counts[t]) for t in bulk_tiles] or [np.zeros(0, np.intp)]
    )
    bulk = extrude(
        frames,
        [r.footprint for r in rows],
        np.fromiter((r.base_z for r in rows), dtype=np.float64, count=len(rows)),
        np.fromiter((r.height for r in rows), dtype=np.float64, count=len(rows)),
        feature,
        np.repeat(np.asarray(bulk_tiles, dtype=np.intp), counts[bulk_tiles]),
    )
    out = bulk.stored().split(np.repeat(np.arange(len(rows_of)), counts), first)
    for t in np.nonzero(lod2)[0].tolist():
        out[t] = _mesh(frames.frame(t), rows_of[t]).stored()
    return out


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


def _encode(
    mesh: StoredMesh, table: metadata.RawTable, n: int, options: BuildingOptions
) -> Content:
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
    acc = gb.doc["accessors"][prim["attributes"]["POSITION"]]
    if "min" in acc:  # the float32 bounds, as the accessor has them
        return Content(gb.glb(), n, np.array(acc["min"]), np.array(acc["max"]))
    return Content(gb.glb(), n, np.zeros(3), np.zeros(3))
