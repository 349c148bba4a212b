"""The layers a file can be imported into: one object each, and the registry of them.

An :class:`ImportLayer` owns everything the pipeline needs to know about its layer: the table,
the geometry types it takes, the columns it stores (the COPY order), how source attributes map
onto them, the vocabularies they must belong to, and :meth:`ImportLayer.to_stored`, the one
step that turns a checked, mapped batch into rows exactly as stored: reprojected to the working
CRS (in Python, with the transformer of :func:`geodata.crs.transformer`: the database never
reprojects an import), with heights and depths settled and defaults applied. Because every
layer arrives in its stored form, a first import can COPY straight into the table, and a
re-import's upsert copies columns as they are.

Adding a layer is one class here and one line in :data:`IMPORT_LAYERS`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely import GeometryType

from geodata.importers import schemes as m
from geodata.importers.coerce import to_float, to_text
from geodata.importers.geometry import (
    check_coordinates,
    check_size,
    ewkb,
    multi_polygon_ewkb,
    multi_polygons,
    reproject,
    z_min,
)
from geodata.vocab import FURNITURE_KINDS, GROUND_KINDS, NETWORKS, NODE_KINDS

if TYPE_CHECKING:
    import pandas as pd

    from geodata.importers.base import ImportOptions
    from geodata.importers.coerce import Field
    from geodata.importers.mapping import Mapper

_P, _MP = GeometryType.POLYGON, GeometryType.MULTIPOLYGON
_L, _ML = GeometryType.LINESTRING, GeometryType.MULTILINESTRING
_PT, _MPT = GeometryType.POINT, GeometryType.MULTIPOINT

#: assumed cover depth (m) when a network segment or node has none: usual French/Finnish
#: practice
DEFAULT_DEPTH = {
    "water": 1.2,
    "wastewater": 2.5,
    "stormwater": 2.0,
    "gas": 1.0,
    "district_heating": 1.0,
    "electricity": 0.8,
    "telecom": 0.6,
    "lighting": 0.6,
}


@dataclass
class Rows:
    """A checked and mapped batch, still in the source CRS: the input of ``to_stored``.

    :param wkb: each feature's source WKB where the checks left it unchanged, else None
    """

    ids: NDArray[Any]
    geoms: NDArray[Any]
    wkb: NDArray[Any]
    columns: pd.DataFrame
    attrs: NDArray[Any]
    lod2: NDArray[Any] | None = None
    lod_height: pd.Series | None = None


@dataclass
class Stored:
    """Rows as the table stores them: EWKB in the working CRS, columns in ``columns`` order."""

    ids: NDArray[Any]
    geom: NDArray[Any]
    columns: pd.DataFrame
    attrs: NDArray[Any]
    lod2: NDArray[Any] | None = None
    #: per-batch facts for the report (height sources)
    heights: Counter[str] = field(default_factory=Counter)


class ImportLayer(ABC):
    """One layer a file can be imported into."""

    name: ClassVar[str]
    table: ClassVar[str]
    geom_column: ClassVar[str] = "geom"
    lod2_column: ClassVar[str | None] = None
    accepted: ClassVar[tuple[GeometryType, ...]]
    #: stored columns besides source, source_id, geometry and attrs, with their SQL types
    #: (text, int, int8, float8, bool), in COPY order
    columns: ClassVar[dict[str, str]]
    #: how source attributes feed those columns (see :mod:`geodata.importers.schemes`)
    fields: ClassVar[dict[str, Field]]
    #: columns whose values must belong to a vocabulary
    vocabulary: ClassVar[dict[str, tuple[str, ...]]] = {}
    #: a MultiPoint of one point is taken as that point (point layers)
    single_points: ClassVar[bool] = False

    def derive(self, out: pd.DataFrame, props: pd.DataFrame, mapper: Mapper) -> None:  # noqa: B027
        """Rules that need several source attributes at once (mapped columns in ``out``)."""

    def store(
        self,
        rows: Rows,
        src: int,
        dst: int,
        options: ImportOptions,
        *,
        where: NDArray[Any],
        file: str,
    ) -> Stored:
        """The batch as stored (:meth:`to_stored`), once its coordinates (footprints and LoD
        surfaces) passed the one coordinate rule: finite, heights in metres, inside the areas
        of use of ``src`` and the working CRS ``dst`` (:func:`check_coordinates`)."""
        check_size(rows.geoms, options.max_vertices, where, file)
        check_coordinates(rows.geoms, src, dst, where, file)
        if rows.lod2 is not None:
            has = np.array([g is not None for g in rows.lod2], dtype=bool)
            if has.any():
                check_size(rows.lod2[has], options.max_vertices, where[has], file)
                check_coordinates(rows.lod2[has], src, dst, where[has], file)
        return self.to_stored(rows, src, dst, options)

    @abstractmethod
    def to_stored(self, rows: Rows, src: int, dst: int, options: ImportOptions) -> Stored:
        """The batch as stored: reprojected from EPSG ``src`` to ``dst``, defaults applied."""


def _numbers(values: pd.Series) -> NDArray[Any]:
    import pandas as pd

    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _flags(values: pd.Series) -> NDArray[Any]:
    """Booleans, unknown = False."""
    return values.astype("boolean").fillna(False).to_numpy(dtype=bool)


def _positive(values: pd.Series) -> NDArray[Any]:
    v = _numbers(values)
    return np.where(v > 0, v, np.nan)


class Buildings(ImportLayer):
    name = "buildings"
    table = "buildings"
    geom_column = "footprint"
    lod2_column = "lod2"
    accepted = (_P, _MP)
    columns: ClassVar[dict[str, str]] = {
        "height": "float8",
        "height_source": "text",
        "levels": "int",
        "base_z": "float8",
        "roof_type": "text",
        "usage": "text",
        "name": "text",
        "address": "text",
        "year_built": "int",
        "replaces_id": "int8",
    }
    fields = m.BUILDING_FIELDS

    def derive(self, out: pd.DataFrame, props: pd.DataFrame, mapper: Mapper) -> None:
        zmin, zmax = mapper.lookup.get("z_min_sol"), mapper.lookup.get("z_max_toit")
        if zmin and zmax and "height" not in mapper.mapping.fields:
            diff = to_float(props[zmax]) - to_float(props[zmin])
            out["height"] = out["height"].fillna(diff.where(diff > 0))
            mapper.used.add(zmax)
        street, number = mapper.lookup.get("addr:street"), mapper.lookup.get("addr:housenumber")
        if street:
            addr = to_text(props[street])
            if number:
                addr = (to_text(props[number]).fillna("") + " " + addr).str.strip()
                mapper.used.add(number)
            out["address"] = out["address"].fillna(addr)
            mapper.used.add(street)

    def to_stored(self, rows: Rows, src: int, dst: int, options: ImportOptions) -> Stored:
        """Footprints 2D MultiPolygons; base_z from the mapping, else the lowest Z, else 0;
        height measured, else from the LoD geometry, else levels x storey height, else the
        default."""
        cols = rows.columns
        geoms = rows.geoms
        z = z_min(geoms)
        if "base_z" in cols:
            base_z = _numbers(cols["base_z"])
            z = np.where(np.isnan(base_z), z, base_z)
        cols["base_z"] = np.where(np.isnan(z), 0.0, z)
        flat = shapely.force_2d(geoms) if shapely.has_z(geoms).any() else geoms
        footprint = multi_polygon_ewkb(
            reproject(flat, src, dst), dst, rows.wkb if src == dst else None
        )
        lod2 = None
        if rows.lod2 is not None:
            lod2 = ewkb(multi_polygons(reproject(rows.lod2, src, dst)), dst)
        heights = _heights(cols, rows.lod_height, options)
        return Stored(rows.ids, footprint, cols, rows.attrs, lod2, heights)


def _heights(
    cols: pd.DataFrame, lod_height: pd.Series | None, options: ImportOptions
) -> Counter[str]:
    """Measured height, else LoD geometry, else levels x storey height, else the default."""
    measured = _numbers(cols["height"])
    height = np.where((measured > 0) & (measured < 1000), measured, np.nan)
    source = np.full(len(height), None, dtype=object)
    source[~np.isnan(height)] = "measured"
    if lod_height is not None:
        lod = _numbers(lod_height)
        use = np.isnan(height) & (lod > 0) & (lod < 1000)
        height[use] = lod[use]
        source[use] = "lod"
    levels = _numbers(cols["levels"])
    use = np.isnan(height) & (levels > 0)
    height[use] = levels[use] * options.storey_height
    source[use] = "levels"
    use = np.isnan(height)
    height[use] = options.default_height
    source[use] = "default"
    cols["height"] = height
    cols["height_source"] = source
    return Counter(source.tolist())


def _with_depth(cols: pd.DataFrame, attrs: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any]]:
    """Cover depth: the mapped one, else the network's usual one (said so in ``attrs``)."""
    depth = _numbers(cols["depth_m"])
    assumed = np.isnan(depth)
    if assumed.any():
        nets = cols["network"].to_numpy(dtype=object)
        depth[assumed] = [DEFAULT_DEPTH.get(n, 0.0) for n in nets[assumed]]
        attrs = attrs.copy()
        attrs[assumed] = [
            (a[:-1] + ("," if a != "{}" else "") + '"depth_source":"assumed"}')
            for a in attrs[assumed]
        ]
    cols["depth_m"] = depth
    return depth, attrs


def _buried(geoms: NDArray[Any], depth: NDArray[Any], src: int, dst: int) -> NDArray[Any]:
    """Reprojected, and 3D: a 2D geometry lies at z = -depth, a 3D one keeps its Z."""
    return np.asarray(shapely.force_3d(reproject(geoms, src, dst), -depth))


class Networks(ImportLayer):
    """Network segments: a MultiLineString becomes one row per part (``id#1``, ``id#2``)."""

    name = "networks"
    table = "network_segments"
    accepted = (_L, _ML)
    columns: ClassVar[dict[str, str]] = {
        "network": "text",
        "depth_m": "float8",
        "diameter_mm": "float8",
        "material": "text",
        "install_year": "int",
        "status": "text",
        "operator": "text",
        "synthetic": "bool",
        "replaces_id": "int8",
    }
    fields = m.NETWORK_FIELDS
    vocabulary: ClassVar[dict[str, tuple[str, ...]]] = {"network": NETWORKS}

    def derive(self, out: pd.DataFrame, props: pd.DataFrame, mapper: Mapper) -> None:
        if out["network"].isna().any():
            out["network"] = out["network"].fillna(m.osm_kind(props, m.OSM_NETWORK))

    def to_stored(self, rows: Rows, src: int, dst: int, options: ImportOptions) -> Stored:
        parts, index = shapely.get_parts(rows.geoms, return_index=True)
        ids, attrs = rows.ids, rows.attrs
        cols = rows.columns
        if len(parts) != len(rows.geoms):
            first = np.searchsorted(index, index)  # index is sorted: a feature's first part
            many = np.bincount(index, minlength=len(rows.geoms))[index] > 1
            ids = ids[index].astype(object)
            ids[many] = [
                f"{i}#{k}"
                for i, k in zip(ids[many], (np.arange(len(index)) - first + 1)[many], strict=True)
            ]
            attrs = attrs[index]
            cols = cols.iloc[index].reset_index(drop=True)
        depth, attrs = _with_depth(cols, attrs)
        geom = ewkb(_buried(parts, depth, src, dst), dst)
        cols["diameter_mm"] = _positive(cols["diameter_mm"])
        year = _numbers(cols["install_year"])
        cols["install_year"] = np.where((year >= 1700) & (year <= 2100), year, np.nan)
        cols["status"] = cols["status"].fillna("in_service")
        cols["synthetic"] = _flags(cols["synthetic"])
        return Stored(ids, geom, cols, attrs)


class NetworkNodes(ImportLayer):
    """Valves, manholes, hydrants...: points at their depth, like the segments."""

    name = "network-nodes"
    table = "network_nodes"
    accepted = (_PT, _MPT)
    single_points = True
    columns: ClassVar[dict[str, str]] = {
        "network": "text",
        "kind": "text",
        "depth_m": "float8",
        "synthetic": "bool",
    }
    fields = m.NODE_FIELDS
    vocabulary: ClassVar[dict[str, tuple[str, ...]]] = {"network": NETWORKS, "kind": NODE_KINDS}

    def derive(self, out: pd.DataFrame, props: pd.DataFrame, mapper: Mapper) -> None:
        if "kind" not in mapper.mapping.constants:
            out["kind"] = out["kind"].fillna(m.osm_kind(props, m.OSM_NODES))
        hydrant = (out["kind"] == "hydrant").fillna(False).to_numpy(dtype=bool)
        out.loc[hydrant, "network"] = out.loc[hydrant, "network"].fillna("water")
        if "manhole" in props.columns:
            out["network"] = out["network"].fillna(props["manhole"].map(m.OSM_MANHOLE_NETWORK))
        if "fire_hydrant:type" in props.columns:
            # an underground hydrant's outlet sits under a cover; a pillar stands on the street
            pillar = (props["fire_hydrant:type"] == "pillar").fillna(False).to_numpy(dtype=bool)
            depth = _numbers(out["depth_m"])
            missing = hydrant & np.isnan(depth)
            depth[missing] = np.where(pillar[missing], 0.0, 0.3)
            out["depth_m"] = depth

    def to_stored(self, rows: Rows, src: int, dst: int, options: ImportOptions) -> Stored:
        depth, attrs = _with_depth(rows.columns, rows.attrs)
        geom = ewkb(_buried(rows.geoms, depth, src, dst), dst)
        rows.columns["synthetic"] = _flags(rows.columns["synthetic"])
        return Stored(rows.ids, geom, rows.columns, attrs)


def _on_ground(geoms: NDArray[Any], src: int, dst: int) -> NDArray[Any]:
    return np.asarray(shapely.force_3d(reproject(geoms, src, dst), 0.0))


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
    }
    fields = m.FURNITURE_FIELDS
    vocabulary: ClassVar[dict[str, tuple[str, ...]]] = {"kind": FURNITURE_KINDS}

    def derive(self, out: pd.DataFrame, props: pd.DataFrame, mapper: Mapper) -> None:
        if "kind" not in mapper.mapping.constants:
            out["kind"] = out["kind"].fillna(m.osm_kind(props, m.OSM_FURNITURE))

    def to_stored(self, rows: Rows, src: int, dst: int, options: ImportOptions) -> Stored:
        rows.columns["height"] = _positive(rows.columns["height"])
        geom = ewkb(_on_ground(rows.geoms, src, dst), dst)
        return Stored(rows.ids, geom, rows.columns, rows.attrs)


class Pois(ImportLayer):
    name = "pois"
    table = "pois"
    accepted = (_PT, _MPT)
    single_points = True
    columns: ClassVar[dict[str, str]] = {"name": "text", "kind": "text", "description": "text"}
    fields = m.POI_FIELDS

    def to_stored(self, rows: Rows, src: int, dst: int, options: ImportOptions) -> Stored:
        rows.columns["kind"] = rows.columns["kind"].fillna("poi")
        geom = ewkb(_on_ground(rows.geoms, src, dst), dst)
        return Stored(rows.ids, geom, rows.columns, rows.attrs)


class Ground(ImportLayer):
    """Streets, footways, parks, water: flat context, stored 2D."""

    name = "ground"
    table = "ground"
    accepted = (_P, _MP, _L, _ML)
    columns: ClassVar[dict[str, str]] = {"kind": "text", "name": "text", "width_m": "float8"}
    fields = m.GROUND_FIELDS
    vocabulary: ClassVar[dict[str, tuple[str, ...]]] = {"kind": GROUND_KINDS}

    def derive(self, out: pd.DataFrame, props: pd.DataFrame, mapper: Mapper) -> None:
        if "kind" not in mapper.mapping.constants:
            out["kind"] = out["kind"].fillna(m.osm_kind(props, m.OSM_GROUND))

    def to_stored(self, rows: Rows, src: int, dst: int, options: ImportOptions) -> Stored:
        geom = ewkb(shapely.force_2d(reproject(rows.geoms, src, dst)), dst)
        return Stored(rows.ids, geom, rows.columns, rows.attrs)


#: every layer a file can be imported into, by the name ``twin import --layer`` takes
IMPORT_LAYERS: dict[str, ImportLayer] = {
    layer.name: layer
    for layer in (Buildings(), Networks(), NetworkNodes(), Furniture(), Pois(), Ground())
}
