"""The buildings layer: footprints as 2D MultiPolygons, heights settled from the best source
a feature has (measured, LoD geometry, storeys, the default)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from shapely import GeometryType

from geodata.grounding import footprint_bases, z_sources
from geodata.importers import schemes as m
from geodata.importers.coerce import from_numpy, to_float, to_text
from geodata.importers.geometry import (
    ewkb,
    multi_polygon_ewkb,
    multi_polygons,
    reproject,
    z_min,
)
from geodata.importers.import_layer import ImportLayer, Rows, Stored, numbers

if TYPE_CHECKING:
    from geodata.importers.base import ImportOptions
    from geodata.importers.mapping import Columns, Mapper

_P, _MP = GeometryType.POLYGON, GeometryType.MULTIPOLYGON


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
        "z_source": "text",
    }
    fields = m.BUILDING_FIELDS

    def derive(self, out: Columns, props: pa.Table, mapper: Mapper) -> None:
        zmin, zmax = mapper.lookup.get("z_min_sol"), mapper.lookup.get("z_max_toit")
        if zmin and zmax and "height" not in mapper.mapping.fields:
            diff = numbers(to_float(props.column(zmax))) - numbers(to_float(props.column(zmin)))
            out["height"] = pc.coalesce(out["height"], from_numpy(np.where(diff > 0, diff, np.nan)))
            mapper.used.add(zmax)
        street, number = mapper.lookup.get("addr:street"), mapper.lookup.get("addr:housenumber")
        if street:
            addr = to_text(props.column(street))
            if number:
                house = pc.fill_null(to_text(props.column(number)), "")
                addr = pc.utf8_trim_whitespace(pc.binary_join_element_wise(house, addr, " "))
                mapper.used.add(number)
            out["address"] = pc.coalesce(out["address"], addr)
            mapper.used.add(street)

    def to_stored(self, rows: Rows, src: int, dst: int, options: ImportOptions) -> Stored:
        """Footprints 2D MultiPolygons; base_z from the mapping, else the lowest Z, else the
        lowest ground under the footprint (:mod:`geodata.grounding`), else 0; height
        measured, else from the LoD geometry, else levels x storey height, else the
        default."""
        cols = rows.columns
        geoms = rows.geoms
        z = z_min(geoms)
        if "base_z" in cols:
            base_z = numbers(cols["base_z"])
            z = np.where(np.isnan(base_z), z, base_z)
        flat = shapely.force_2d(geoms) if shapely.has_z(geoms).any() else geoms
        stored = reproject(flat, src, dst)
        given = ~np.isnan(z)
        if options.ground is not None and not given.all():
            z[~given] = footprint_bases(stored[~given], options.ground)
        cols["base_z"] = np.where(np.isnan(z), 0.0, z)
        cols["z_source"] = z_sources(given, ~np.isnan(z))
        footprint = multi_polygon_ewkb(stored, dst, rows.wkb if src == dst else None)
        lod2 = None
        if rows.lod2 is not None:
            lod2 = ewkb(multi_polygons(reproject(rows.lod2, src, dst)), dst)
        heights = _heights(cols, rows.lod_height, options)
        return Stored(rows.ids, footprint, cols, rows.attrs, lod2, heights)


def _heights(cols: Columns, lod_height: pa.Array | None, options: ImportOptions) -> Counter[str]:
    """Measured height, else LoD geometry, else levels x storey height, else the default."""
    measured = numbers(cols["height"])
    height = np.where((measured > 0) & (measured < 1000), measured, np.nan)
    source = np.full(len(height), None, dtype=object)
    source[~np.isnan(height)] = "measured"
    if lod_height is not None:
        lod = numbers(lod_height)
        use = np.isnan(height) & (lod > 0) & (lod < 1000)
        height[use] = lod[use]
        source[use] = "lod"
    levels = numbers(cols["levels"])
    use = np.isnan(height) & (levels > 0)
    height[use] = levels[use] * options.storey_height
    source[use] = "levels"
    use = np.isnan(height)
    height[use] = options.default_height
    source[use] = "default"
    cols["height"] = height
    cols["height_source"] = source
    return Counter(source.tolist())
