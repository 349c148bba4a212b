"""Geometry checks for an import batch, vectorised with shapely 2.

Features arrive as WKB in the source CRS. Valid ones pass through untouched (their WKB is reused);
invalid ones are repaired with ``make_valid`` and counted; empty, missing or wrongly typed ones,
or ones that cannot be repaired, stop the import with the feature named.

The helpers below bring checked geometries to their stored form (reprojection, MultiPolygon,
EWKB with the working CRS's SRID); each layer's ``to_stored`` composes them
(:mod:`geodata.importers.layers`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely import GeometryType

from geodata.crs import box_in_area, check_heights, check_in_area, transformer
from geodata.errors import ImportFailed

if TYPE_CHECKING:
    from geodata.importers.import_layer import ImportLayer

_P, _MP = GeometryType.POLYGON, GeometryType.MULTIPOLYGON
_L, _ML = GeometryType.LINESTRING, GeometryType.MULTILINESTRING
_PT, _MPT = GeometryType.POINT, GeometryType.MULTIPOINT


def _type_name(code: int) -> str:
    try:
        return {
            0: "Point",
            1: "LineString",
            2: "LinearRing",
            3: "Polygon",
            4: "MultiPoint",
            5: "MultiLineString",
            6: "MultiPolygon",
            7: "GeometryCollection",
        }[code]
    except KeyError:
        return "unknown"


def check_batch(
    wkb: NDArray[Any], layer: ImportLayer, where: NDArray[Any], file: str
) -> tuple[NDArray[Any], int, NDArray[Any]]:
    """Validate a batch of WKB geometries for ``layer``.

    :returns: (the source WKB bytes of each feature the checks left unchanged, None for the
        others; number repaired; shapely geometries): the geometries are handed back so
        callers can read bounds or finish them without parsing again.
    :raises ImportFailed: a missing, empty, wrongly typed or irreparable geometry.
    """
    missing = np.array([g is None for g in wkb], dtype=bool)
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise ImportFailed(
            f"{file}, {where[i]}: no geometry ({missing.sum()} features lack one): "
            "fix or remove those features and import again"
        )
    try:
        geoms = shapely.from_wkb(wkb, on_invalid="raise")
    except shapely.errors.GEOSException as exc:
        raise ImportFailed(f"{file}: unreadable geometry ({exc}); is the file truncated?") from None
    empty = shapely.is_empty(geoms)
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        raise ImportFailed(
            f"{file}, {where[i]}: empty geometry ({empty.sum()} features): "
            "remove those features or give them a geometry"
        )
    accepted = layer.accepted
    types = shapely.get_type_id(geoms)
    wrong = ~np.isin(types, [int(t) for t in accepted])
    if wrong.any():
        i = int(np.flatnonzero(wrong)[0])
        want = " or ".join(_type_name(int(t)) for t in accepted)
        raise ImportFailed(
            f"{file}, {where[i]}: a {_type_name(int(types[i]))} cannot go into layer "
            f"{layer.name} "
            f"(it takes {want}; {wrong.sum()} features differ): choose the right --layer"
        )
    if layer.single_points:
        multi = types == int(_MPT)
        many = multi & (shapely.get_num_geometries(geoms) > 1)
        if many.any():
            i = int(np.flatnonzero(many)[0])
            raise ImportFailed(
                f"{file}, {where[i]}: a MultiPoint of several points cannot be one {layer.name} "
                "object: split it into points"
            )
        if multi.any():
            geoms[multi] = shapely.get_geometry(geoms[multi], 0)
    else:
        multi = np.zeros(len(geoms), dtype=bool)
    invalid = ~shapely.is_valid(geoms)
    repaired = int(invalid.sum())
    if repaired:
        geoms[invalid] = [
            _repair(g, accepted, file, where[i])
            for g, i in zip(geoms[invalid], np.flatnonzero(invalid), strict=True)
        ]
    # untouched features keep their source WKB (much cheaper than re-encoding)
    changed = invalid | multi
    out = np.empty(len(geoms), dtype=object)
    out[~changed] = [bytes.fromhex(w) if isinstance(w, str) else w for w in wkb[~changed]]
    return out, repaired, geoms


def _repair(
    geom: shapely.Geometry, accepted: tuple[GeometryType, ...], file: str, where: str
) -> shapely.Geometry:
    """make_valid, keeping only the parts of the accepted dimension (drops collapsed slivers)."""
    fixed = shapely.make_valid(geom, method="structure", keep_collapsed=False)
    parts = [
        p for p in shapely.get_parts(fixed) if shapely.get_type_id(p) in [int(t) for t in accepted]
    ]
    if not parts or all(p.is_empty for p in parts):
        raise ImportFailed(
            f"{file}, {where}: invalid geometry that cannot be repaired "
            f"({shapely.is_valid_reason(geom)}): fix it in the source"
        )
    if len(parts) == 1:
        fixed = parts[0]
    elif _P in accepted:
        polys = [
            q for p in parts for q in shapely.get_parts(p) if shapely.get_type_id(q) == int(_P)
        ]
        fixed = shapely.MultiPolygon(polys) if polys else parts[0]
    else:
        fixed = shapely.MultiLineString([q for p in parts for q in shapely.get_parts(p)])
    # what is stored must pass the table's validity check (a bulk load leaves it to us)
    if not shapely.is_valid(fixed):
        raise ImportFailed(
            f"{file}, {where}: invalid geometry that cannot be repaired "
            f"({shapely.is_valid_reason(geom)}; repaired: "
            f"{shapely.is_valid_reason(fixed)}): fix it in the source"
        )
    return fixed


def check_stored(geom: NDArray[Any], ids: NDArray[Any], dst: int, file: str) -> None:
    """Refuse a batch whose reprojected geometries (EWKB, as stored) GEOS finds invalid, naming
    the feature: reprojecting can fold a thin part onto itself. Checked here, by the library
    behind PostGIS's ``ST_IsValid``, because a bulk load leaves the table's validity check
    to the importer (:mod:`geodata.importers.bulk_load`)."""
    geoms = shapely.from_wkb(geom)
    bad = np.flatnonzero(~shapely.is_valid(geoms))
    if len(bad):
        i = int(bad[0])
        raise ImportFailed(
            f"{file}, id {ids[i]}: invalid once reprojected to EPSG:{dst} "
            f"({shapely.is_valid_reason(geoms[i])}; {len(bad)} such feature(s) in this "
            "batch): fix it in the source, or reproject the file to the working CRS first"
        )


def check_coordinates(
    geoms: NDArray[Any], src: int, dst: int | None, where: NDArray[Any], file: str
) -> None:
    """Refuse a batch whose coordinates are not finite, are not heights, or lie outside the
    area of use of the source CRS ``src`` or the working CRS ``dst``
    (:func:`geodata.crs.check_in_area`, the rule), naming the feature.

    After every coordinate was checked finite, the batch is judged by its box
    (:func:`geodata.crs.box_in_area`); only a batch whose box reaches out of an area is
    checked feature by feature, by the corners of each bounding box (a few points per
    feature, whatever its size), so that the refusal names the feature.
    """
    coords, index = shapely.get_coordinates(geoms, include_z=True, return_index=True)
    if not len(coords):
        return

    def name(i: int) -> str:
        return f"{file}, {where[i]}"

    finite = np.isfinite(coords[:, :2]).all(axis=1)
    if not finite.all():
        k = int(np.flatnonzero(~finite)[0])
        check_in_area(
            coords[k : k + 1, 0],
            coords[k : k + 1, 1],
            src=src,
            dst=dst,
            where=lambda _: name(int(index[k])),
        )
    z = coords[:, 2]
    has_z = ~np.isnan(z) | shapely.has_z(geoms)[index]
    check_heights(np.where(has_z, z, 0.0), where=lambda k: name(int(index[k])))
    bounds = shapely.bounds(geoms)
    box = (*np.nanmin(bounds[:, :2], axis=0), *np.nanmax(bounds[:, 2:], axis=0))
    if box_in_area(box, src=src, dst=dst):  # the usual batch: one look at its box
        return
    x = bounds[:, [0, 2, 0, 2]].ravel()
    y = bounds[:, [1, 1, 3, 3]].ravel()
    check_in_area(x, y, src=src, dst=dst, where=lambda k: name(k // 4))


def reproject(geoms: NDArray[Any], src: int, dst: int) -> NDArray[Any]:
    """Geometries from EPSG ``src`` to ``dst`` (what ``ST_Transform`` would do, with the same
    PROJ): the one reprojection of an import. 3D geometries keep a third coordinate, 2D ones
    stay 2D."""
    if src == dst or not len(geoms):
        return geoms
    transform: Any = transformer(src, dst).transform

    def move(*coords: NDArray[Any]) -> tuple[NDArray[Any], ...]:
        if len(coords[0]) == 1:  # pyproj would take a one-element array for a scalar
            return tuple(c[:1] for c in transform(*(np.repeat(c, 2) for c in coords)))
        return tuple(transform(*coords))

    has_z = shapely.has_z(geoms)
    if not has_z.any():
        return np.asarray(shapely.transform(geoms, move, interleaved=False))
    out = geoms.copy()
    out[has_z] = shapely.transform(geoms[has_z], move, include_z=True, interleaved=False)
    if not has_z.all():
        out[~has_z] = shapely.transform(geoms[~has_z], move, interleaved=False)
    return out


def ewkb(geoms: NDArray[Any], srid: int) -> NDArray[Any]:
    """EWKB with ``srid`` (what a binary COPY into a typed geometry column needs); 3D stays 3D."""
    return np.asarray(shapely.to_wkb(shapely.set_srid(geoms, srid), include_srid=True))


def multi_polygons(geoms: NDArray[Any]) -> NDArray[Any]:
    """``ST_Multi`` for polygon arrays: a Polygon becomes a one-part MultiPolygon."""
    single = shapely.get_type_id(geoms) == int(_P)
    if not single.any():
        return geoms
    out = geoms.copy()
    out[single] = shapely.multipolygons(geoms[single][:, None])
    return out


def multi_polygon_ewkb(
    geoms: NDArray[Any], srid: int, source: NDArray[Any] | None = None
) -> NDArray[Any]:
    """2D (Multi)Polygons as EWKB MultiPolygons with ``srid``: plain WKB, then the EWKB header
    written here (several times cheaper than ``set_srid`` + ``multipolygons``). The WKB is
    ``source``'s where it is already little-endian 2D (Multi)Polygon WKB of the same geometry
    (None elsewhere), else GEOS's."""
    wkb = np.empty(len(geoms), dtype=object)
    if source is not None:
        reuse = np.array([w is not None and w[:5] in _PLAIN for w in source], dtype=bool)
        wkb[reuse] = source[reuse]
    else:
        reuse = np.zeros(len(geoms), dtype=bool)
    if not reuse.all():
        wkb[~reuse] = shapely.to_wkb(
            geoms[~reuse], output_dimension=2, byte_order=1, include_srid=False
        )
    head = b"\x01\x06\x00\x00\x20" + srid.to_bytes(4, "little")  # LE MultiPolygon + SRID
    one = head + b"\x01\x00\x00\x00"  # ... of one part: the Polygon's own WKB follows
    is_poly = shapely.get_type_id(geoms) == int(_P)
    out = np.empty(len(wkb), dtype=object)
    out[:] = [one + w if p else head + w[5:] for w, p in zip(wkb, is_poly.tolist(), strict=True)]
    return out


def z_min(geoms: NDArray[Any]) -> NDArray[Any]:
    """Lowest Z of each geometry (NaN for 2D ones): ``ST_ZMin``."""
    out = np.full(len(geoms), np.nan)
    has_z = shapely.has_z(geoms)
    if has_z.any():
        sub = np.flatnonzero(has_z)
        coords, index = shapely.get_coordinates(geoms[sub], include_z=True, return_index=True)
        zmin = np.full(len(sub), np.inf)
        np.minimum.at(zmin, index, coords[:, 2])
        out[sub] = zmin
    return out


#: headers of little-endian 2D Polygon and MultiPolygon WKB
_PLAIN = (b"\x01\x03\x00\x00\x00", b"\x01\x06\x00\x00\x00")


def check_size(geoms: NDArray[Any], limit: int, where: NDArray[Any], file: str) -> None:
    """Refuse the import when a feature has more than ``limit`` coordinates (all or nothing,
    like every refusal), naming it and the way out."""
    counts = shapely.get_num_coordinates(geoms)
    over = np.flatnonzero(counts > limit)
    if len(over):
        i = int(over[0])
        raise ImportFailed(
            f"{file}, {where[i]}: {int(counts[i]):,} coordinates, more than the {limit:,} a "
            f"feature may have ({len(over)} such feature(s) in this batch): simplify it "
            "(e.g. ogr2ogr -simplify 0.1) or raise TWIN_MAX_VERTICES"
        )
