"""The street-level layers: furniture and points of interest (points on the ground) and the
flat ground context (streets, footways, parks, water, stored 2D)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from numpy.typing import NDArray
from shapely import GeometryType

from geodata.grounding import on_ground
from geodata.importers import schemes as m
from geodata.importers.geometry import (
    ewkb,
    reproject,
)
from geodata.importers.import_layer import ImportLayer, Rows, Stored, positive
from geodata.vocab import FURNITURE_KINDS, GROUND_KINDS

if TYPE_CHECKING:
    from geodata.importers.base import ImportOptions
    from geodata.importers.mapping import Columns, Mapper

_P, _MP = GeometryType.POLYGON, GeometryType.MULTIPOLYGON
_L, _ML = GeometryType.LINESTRING, GeometryType.MULTILINESTRING
_PT, _MPT = GeometryType.POINT, GeometryType.MULTIPOINT


def _on_ground(
    cols: Columns, geoms: NDArray[Any], src: int, dst: int, options: ImportOptions
) -> NDArray[Any]:
    """Reprojected points: a 3D one keeps its Z, a 2D one stands on the ground."""
    return on_ground(cols, reproject(geoms, src, dst), np.zeros(len(geoms)), options.ground)


class Furniture(ImportLayer):
    name = "furniture"
    table = "furniture"
    accepted = (_PT, _MPT)
    single_points = True
    columns: ClassVar[dict[str, str]] = {
        "kind": "text",
        "heading": "float8",
        "height": "float8",
        "name": "text",
        "z_source": "text",
    }
    fields = m.FURNITURE_FIELDS
    vocabulary: ClassVar[dict[str, tuple[str, ...]]] = {"kind": FURNITURE_KINDS}

    def derive(self, out: Columns, props: pa.Table, mapper: Mapper) -> None:
        if "kind" not in mapper.mapping.constants:
            out["kind"] = pc.coalesce(out["kind"], m.osm_kind(props, m.OSM_FURNITURE))

    def to_stored(self, rows: Rows, src: int, dst: int, options: ImportOptions) -> Stored:
        rows.columns["height"] = positive(rows.columns["height"])
        geom = ewkb(_on_ground(rows.columns, rows.geoms, src, dst, options), dst)
        return Stored(rows.ids, geom, rows.columns, rows.attrs)


class Pois(ImportLayer):
    name = "pois"
    table = "pois"
    accepted = (_PT, _MPT)
    single_points = True
    columns: ClassVar[dict[str, str]] = {
        "name": "text",
        "kind": "text",
        "description": "text",
        "z_source": "text",
    }
    fields = m.POI_FIELDS

    def to_stored(self, rows: Rows, src: int, dst: int, options: ImportOptions) -> Stored:
        rows.columns["kind"] = pc.fill_null(rows.columns["kind"], "poi")
        geom = ewkb(_on_ground(rows.columns, rows.geoms, src, dst, options), dst)
        return Stored(rows.ids, geom, rows.columns, rows.attrs)


class Ground(ImportLayer):
    """Streets, footways, parks, water: flat context, stored 2D; kerb and crossing nodes as
    points (the walking network reads their kerb heights)."""

    name = "ground"
    table = "ground"
    accepted = (_P, _MP, _L, _ML, _PT)
    columns: ClassVar[dict[str, str]] = {"kind": "text", "name": "text", "width_m": "float8"}
    fields = m.GROUND_FIELDS
    vocabulary: ClassVar[dict[str, tuple[str, ...]]] = {"kind": GROUND_KINDS}

    def derive(self, out: Columns, props: pa.Table, mapper: Mapper) -> None:
        if "kind" not in mapper.mapping.constants:
            out["kind"] = pc.coalesce(out["kind"], m.osm_kind(props, m.OSM_GROUND))

    def to_stored(self, rows: Rows, src: int, dst: int, options: ImportOptions) -> Stored:
        geom = ewkb(shapely.force_2d(reproject(rows.geoms, src, dst)), dst)
        return Stored(rows.ids, geom, rows.columns, rows.attrs)
