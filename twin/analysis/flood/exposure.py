"""What a flood extent touches: its polygons (GeoJSON), the buildings inside with their
deepest water, the streets it cuts and, for callers who may see networks, the buried
network segments and nodes under it.

Polygons come from ``rasterio.features.shapes`` (cell edges, exact to the raster); the
spatial joins run in PostGIS against the extent in the working CRS. A building's
``max_depth`` is the deepest flooded cell its footprint touches (rasterised with
``all_touched``, so a footprint smaller than a cell still gets one).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Connection, text

from geodata.crs import transformer
from geodata.terrain import Dem

#: ground kinds that are streets or ways (the ``ground`` layer's highways)
ROAD_KINDS = ("road", "pedestrian", "cycleway", "footway", "path")


def extent_polygons(dem: Dem, flooded: NDArray[np.bool_], connectivity: int) -> BaseGeometry:
    """The flooded cells as one (multi)polygon in the working CRS."""
    from rasterio import features

    if not flooded.any():
        return shapely.MultiPolygon()
    polys = [
        shapely.geometry.shape(geom)
        for geom, _ in features.shapes(
            flooded.astype(np.uint8),
            mask=flooded,
            connectivity=connectivity,
            transform=dem.transform,
        )
    ]
    return shapely.union_all(polys)


def to_geojson(geom: BaseGeometry, epsg: int) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of the extent in RFC 7946's CRS84 (lon, lat)."""
    if geom.is_empty:
        return {"type": "FeatureCollection", "features": []}
    t = transformer(epsg, 4326)
    lonlat = shapely.transform(geom, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
    parts = list(getattr(lonlat, "geoms", [lonlat]))
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"part": i},
                "geometry": shapely.geometry.mapping(shapely.set_precision(p, 1e-8)),
            }
            for i, p in enumerate(parts)
        ],
    }


def buildings_in(
    conn: Connection, dem: Dem, depth: NDArray[np.float32], extent: BaseGeometry
) -> list[dict[str, Any]]:
    """Baseline buildings meeting the extent, deepest first, with their deepest water."""
    from rasterio import features
    from scipy import ndimage

    if extent.is_empty:
        return []
    rows = conn.execute(
        text(
            "SELECT id, source_id, name, ST_AsBinary(footprint) AS g FROM buildings "
            "WHERE scenario_id IS NULL AND ST_Intersects(footprint, ST_GeomFromWKB(:e, :s)) "
            "ORDER BY id"
        ),
        {"e": shapely.to_wkb(extent), "s": dem.epsg},
    ).all()
    if not rows:
        return []
    geoms = [shapely.from_wkb(bytes(r.g)) for r in rows]
    labels = features.rasterize(
        ((g, i + 1) for i, g in enumerate(geoms)),
        out_shape=depth.shape,
        transform=dem.transform,
        fill=0,
        all_touched=True,
        dtype="int32",
    )
    wet = np.nan_to_num(depth, nan=-np.inf)
    deepest = ndimage.maximum(wet, labels, np.arange(1, len(rows) + 1))
    out = []
    for r, d in zip(rows, np.atleast_1d(deepest), strict=True):
        if np.isfinite(d):
            out.append({"source_id": r.source_id, "name": r.name, "max_depth": round(float(d), 3)})
    out.sort(key=lambda b: (-b["max_depth"], b["source_id"]))
    return out


def roads_cut(conn: Connection, epsg: int, extent: BaseGeometry) -> list[dict[str, Any]]:
    """Linear streets and ways under water: the flooded length of each, longest first."""
    if extent.is_empty:
        return []
    rows = conn.execute(
        text(
            "WITH e AS (SELECT ST_GeomFromWKB(:e, :s) AS g) "
            "SELECT r.source_id, r.kind, r.name, r.attrs->>'highway' AS highway, "
            "ST_Length(ST_Intersection(r.geom, e.g)) AS len FROM ground r, e "
            "WHERE r.scenario_id IS NULL AND r.kind = ANY(:k) "
            "AND GeometryType(r.geom) IN ('LINESTRING', 'MULTILINESTRING') "
            "AND ST_Intersects(r.geom, e.g) ORDER BY len DESC, r.source_id"
        ),
        {"e": shapely.to_wkb(extent), "s": epsg, "k": list(ROAD_KINDS)},
    ).all()
    return [
        {
            "source_id": r.source_id,
            "kind": r.kind,
            "highway": r.highway,
            "name": r.name,
            "length_m": round(float(r.len), 2),
        }
        for r in rows
        if r.len > 0
    ]


def assets_in(conn: Connection, epsg: int, extent: BaseGeometry) -> list[dict[str, Any]]:
    """Network segments (with their flooded length) and nodes under the extent."""
    if extent.is_empty:
        return []
    params = {"e": shapely.to_wkb(extent), "s": epsg}
    segs = conn.execute(
        text(
            "WITH e AS (SELECT ST_GeomFromWKB(:e, :s) AS g) "
            "SELECT n.source_id, n.network, n.depth_m, n.diameter_mm, n.material, "
            "ST_Length(ST_Intersection(ST_Force2D(n.geom), e.g)) AS len "
            "FROM network_segments n, e WHERE n.scenario_id IS NULL "
            "AND ST_Intersects(n.geom, e.g) ORDER BY n.network, n.source_id"
        ),
        params,
    ).all()
    nodes = conn.execute(
        text(
            "WITH e AS (SELECT ST_GeomFromWKB(:e, :s) AS g) "
            "SELECT n.source_id, n.network, n.kind FROM network_nodes n, e "
            "WHERE n.scenario_id IS NULL AND ST_Intersects(n.geom, e.g) "
            "ORDER BY n.network, n.source_id"
        ),
        params,
    ).all()
    out: list[dict[str, Any]] = [
        {
            "type": "segment",
            "source_id": r.source_id,
            "network": r.network,
            "depth_m": r.depth_m,
            "diameter_mm": r.diameter_mm,
            "material": r.material,
            "length_m": round(float(r.len), 2),
        }
        for r in segs
    ]
    out += [
        {"type": "node", "source_id": r.source_id, "network": r.network, "kind": r.kind}
        for r in nodes
    ]
    return out
