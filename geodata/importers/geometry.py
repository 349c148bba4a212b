"""Geometry checks for an import batch, vectorised with shapely 2.

Features arrive as WKB in the source CRS. Valid ones pass through untouched (their WKB is reused);
invalid ones are repaired with ``make_valid`` and counted; empty, missing or wrongly typed ones,
or ones that cannot be repaired, stop the import with the feature named.

Buildings are then brought to their stored form here (:func:`finish_buildings`: reprojection,
2D footprint, MultiPolygon, base height), so a first import can COPY them straight into their
table; the other layers are reprojected and shaped by PostGIS during the final upsert.
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely import GeometryType

from geodata.crs import transformer
from geodata.errors import ImportFailed

_P, _MP = GeometryType.POLYGON, GeometryType.MULTIPOLYGON
_L, _ML = GeometryType.LINESTRING, GeometryType.MULTILINESTRING
_PT, _MPT = GeometryType.POINT, GeometryType.MULTIPOINT

#: geometry types each layer accepts
ACCEPTED: dict[str, tuple[GeometryType, ...]] = {
    "buildings": (_P, _MP),
    "networks": (_L, _ML),
    "furniture": (_PT, _MPT),
    "pois": (_PT, _MPT),
    "ground": (_P, _MP, _L, _ML),
}


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
    wkb: np.ndarray, layer: str, where: np.ndarray, file: str, *, encode: bool = True
) -> tuple[np.ndarray | None, int, np.ndarray]:
    """Validate a batch of WKB geometries for ``layer``.

    :returns: (WKB bytes per feature, None for changed ones without ``encode``; number
        repaired; shapely
        geometries) — the geometries are handed back so callers can read bounds or finish
        them without parsing again.
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
    accepted = ACCEPTED[layer]
    types = shapely.get_type_id(geoms)
    wrong = ~np.isin(types, [int(t) for t in accepted])
    if wrong.any():
        i = int(np.flatnonzero(wrong)[0])
        want = " or ".join(_type_name(int(t)) for t in accepted)
        raise ImportFailed(
            f"{file}, {where[i]}: a {_type_name(int(types[i]))} cannot go into layer {layer} "
            f"(it takes {want}; {wrong.sum()} features differ): choose the right --layer"
        )
    if layer in ("furniture", "pois"):
        multi = types == int(_MPT)
        many = multi & (shapely.get_num_geometries(geoms) > 1)
        if many.any():
            i = int(np.flatnonzero(many)[0])
            raise ImportFailed(
                f"{file}, {where[i]}: a MultiPoint of several points cannot be one {layer} "
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
    if changed.any() and encode:
        out[changed] = shapely.to_wkb(geoms[changed], include_srid=False)
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
        return parts[0]
    if _P in accepted:
        polys = [
            q for p in parts for q in shapely.get_parts(p) if shapely.get_type_id(q) == int(_P)
        ]
        return shapely.MultiPolygon(polys) if polys else parts[0]
    lines = [q for p in parts for q in shapely.get_parts(p)]
    return shapely.MultiLineString(lines)


def lonlat_sane(geoms: np.ndarray) -> bool:
    """For a geographic source CRS: do the coordinates look like degrees at all?"""
    xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
    return -180.5 <= xmin <= xmax <= 180.5 and -90.5 <= ymin <= ymax <= 90.5


def reproject(geoms: np.ndarray, src: int, dst: int, *, include_z: bool = False) -> np.ndarray:
    """Geometries from EPSG ``src`` to ``dst`` (what ``ST_Transform`` does; the same PROJ)."""
    if src == dst:
        return geoms
    tr = transformer(src, dst)
    return shapely.transform(geoms, tr.transform, include_z=include_z, interleaved=False)


def _multi_polygons(geoms: np.ndarray) -> np.ndarray:
    """``ST_Multi`` for polygon arrays: a Polygon becomes a one-part MultiPolygon."""
    single = shapely.get_type_id(geoms) == int(_P)
    if not single.any():
        return geoms
    out = geoms.copy()
    out[single] = shapely.multipolygons(geoms[single][:, None])
    return out


def _multi_polygon_ewkb(
    geoms: np.ndarray, srid: int, source: np.ndarray | None = None
) -> np.ndarray:
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


def _z_min(geoms: np.ndarray) -> np.ndarray:
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


def finish_buildings(
    geoms: np.ndarray,
    lod2: np.ndarray | None,
    base_z: np.ndarray | None,
    src: int,
    dst: int,
    source: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Checked footprints as stored: reprojected to the working CRS, 2D, MultiPolygon.

    :param source: each footprint's source WKB where :func:`check_batch` left it unchanged
        (None elsewhere): reused as is when no reprojection is needed.

    :param base_z: the mapped base height per feature (NaN: none); else the footprint's lowest
        Z when it is 3D, else 0.
    :returns: (footprint EWKB, LoD2 EWKB or None, base_z)
    """
    z = _z_min(geoms)
    if base_z is not None:
        z = np.where(np.isnan(base_z), z, base_z)
    z = np.where(np.isnan(z), 0.0, z)
    flat = shapely.force_2d(geoms) if shapely.has_z(geoms).any() else geoms
    footprint = _multi_polygon_ewkb(reproject(flat, src, dst), dst, source if src == dst else None)
    lod2_wkb = None
    if lod2 is not None:
        solid = _multi_polygons(reproject(lod2, src, dst, include_z=True))
        lod2_wkb = shapely.to_wkb(shapely.set_srid(solid, dst), include_srid=True)
    return footprint, lod2_wkb, z
