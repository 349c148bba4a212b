"""Geometry checks for an import batch, vectorised with shapely 2.

Features arrive as WKB in the source CRS. Valid ones pass through untouched (their WKB is reused);
invalid ones are repaired with ``make_valid`` and counted; empty, missing or wrongly typed ones,
or ones that cannot be repaired, stop the import with the feature named. Reprojection, 2D/3D
forcing and multi-part handling happen in PostGIS during the final upsert.
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely import GeometryType

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
            0: "Point", 1: "LineString", 2: "LinearRing", 3: "Polygon", 4: "MultiPoint",
            5: "MultiLineString", 6: "MultiPolygon", 7: "GeometryCollection",
        }[code]
    except KeyError:
        return "unknown"


def check_batch(
    wkb: np.ndarray, layer: str, where: np.ndarray, file: str
) -> tuple[np.ndarray, int, np.ndarray]:
    """Validate a batch of WKB geometries for ``layer``.

    :returns: (hex WKB per feature, number repaired, shapely geometries) — the geometries are
        handed back so callers can read bounds without parsing again.
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
        geoms[invalid] = [_repair(g, accepted, file, where[i])
                          for g, i in zip(geoms[invalid], np.flatnonzero(invalid), strict=True)]
    # untouched features keep their source WKB (hex of bytes is much cheaper than re-encoding)
    changed = invalid | multi
    out = np.empty(len(geoms), dtype=object)
    out[~changed] = [w.hex() if isinstance(w, bytes) else w for w in wkb[~changed]]
    if changed.any():
        out[changed] = shapely.to_wkb(geoms[changed], hex=True, include_srid=False)
    return out, repaired, geoms


def _repair(
    geom: shapely.Geometry, accepted: tuple[GeometryType, ...], file: str, where: str
) -> shapely.Geometry:
    """make_valid, keeping only the parts of the accepted dimension (drops collapsed slivers)."""
    fixed = shapely.make_valid(geom, method="structure", keep_collapsed=False)
    parts = [p for p in shapely.get_parts(fixed) if shapely.get_type_id(p) in
             [int(t) for t in accepted]]
    if not parts or all(p.is_empty for p in parts):
        raise ImportFailed(
            f"{file}, {where}: invalid geometry that cannot be repaired "
            f"({shapely.is_valid_reason(geom)}): fix it in the source"
        )
    if len(parts) == 1:
        return parts[0]
    if _P in accepted:
        polys = [q for p in parts for q in shapely.get_parts(p)
                 if shapely.get_type_id(q) == int(_P)]
        return shapely.MultiPolygon(polys) if polys else parts[0]
    lines = [q for p in parts for q in shapely.get_parts(p)]
    return shapely.MultiLineString(lines)


def lonlat_sane(geoms: np.ndarray) -> bool:
    """For a geographic source CRS: do the coordinates look like degrees at all?"""
    xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
    return -180.5 <= xmin <= xmax <= 180.5 and -90.5 <= ymin <= ymax <= 90.5
