"""The demo's terrain: a DEM interpolated from the extract's OpenStreetMap ``ele`` spot
heights and its coastline, flagged synthetic (it is not a survey: OSM's few dozen heights
and a coastline at 0 m make a plausible ground, not a measured one).

How: every node (or way, at its nodes' centre) tagged ``ele`` gives a height; the
coastline's nodes and the edges of the district's water areas (the ``ground`` layer's
``water``: harbour basins, the Töölönlahti bay) give 0 m, densified every 10 m;
``scipy.interpolate.griddata`` (linear inside their hull, nearest outside) fills a 2 m grid
over the extract; the sea, a band on the coastline's right-hand side (OSM draws coastlines
with the land on the left), and the water areas are set to 0 m (the extract cuts most of the
coastline, so the water areas carry the sea). Heights are above mean sea level as OSM maps
them (N2000 in Finland, assumed).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from sqlalchemy import Connection, text

from geodata.crs import transformer

LOGGER = logging.getLogger(__name__)

#: the demo DEM's source name in the terrain table
TERRAIN_SOURCE = "demo-terrain"
RESOLUTION_M = 2.0
#: how far out to sea the coastline's sea band reaches (m)
SEA_BAND_M = 100.0
DATUM = "mean sea level as mapped in OpenStreetMap (N2000 assumed)"


@dataclass(frozen=True)
class TerrainResult:
    spot_heights: int
    coast_points: int
    width: int
    height: int
    min_z: float
    max_z: float


def _read_osm(
    pbf: Path,
) -> tuple[list[tuple[float, float, float]], list[list[tuple[float, float]]]]:
    """Spot heights (lon, lat, ele) and the coastline's parts inside the extract (lon, lat)."""
    import osmium

    spots: list[tuple[float, float, float]] = []
    coast: list[list[tuple[float, float]]] = []

    def ele(tags: osmium.osm.TagList) -> float | None:
        raw = tags.get("ele")
        if raw is None:
            return None
        try:
            return float(raw.replace("m", "").replace(",", ".").strip())
        except ValueError:
            return None

    class Handler(osmium.SimpleHandler):
        def node(self, n: osmium.osm.Node) -> None:
            z = ele(n.tags)
            if z is not None and n.location.valid():
                spots.append((n.location.lon, n.location.lat, z))

        def way(self, w: osmium.osm.Way) -> None:
            z = ele(w.tags)
            pts = [(n.location.lon, n.location.lat) for n in w.nodes if n.location.valid()]
            if z is not None and pts:
                spots.append(
                    (float(np.mean([p[0] for p in pts])), float(np.mean([p[1] for p in pts])), z)
                )
            if w.tags.get("natural") == "coastline":
                part: list[tuple[float, float]] = []
                for n in w.nodes:
                    if n.location.valid():
                        part.append((n.location.lon, n.location.lat))
                    elif part:
                        coast.append(part)
                        part = []
                if part:
                    coast.append(part)

    Handler().apply_file(str(pbf), locations=True, idx="flex_mem")
    return spots, [p for p in coast if len(p) >= 2]


def _water_areas(conn: Connection, srid: int) -> list[shapely.Geometry]:
    """The district's water polygons (already imported: the terrain step follows the OSM
    layers), in the working CRS."""
    from geodata.demo.names import SOURCE

    rows = conn.execute(
        text(
            "SELECT ST_AsBinary(geom) FROM ground WHERE source = :s AND kind = 'water' "
            "AND scenario_id IS NULL AND GeometryType(geom) IN ('POLYGON', 'MULTIPOLYGON') "
            "ORDER BY source_id"
        ),
        {"s": SOURCE},
    ).scalars()
    return [shapely.from_wkb(bytes(r)) for r in rows]


def _covering(
    conn: Connection, box: tuple[float, float, float, float]
) -> tuple[float, float, float, float]:
    """The extract's box grown to hold every feature already imported (ways reach out of
    the extract), with a margin: everything the demo has stands on its terrain."""
    parts = " UNION ALL ".join(
        f"SELECT ST_Extent({col})::geometry AS e FROM {table}"
        for table, col in (("buildings", "footprint"), ("ground", "geom"), ("furniture", "geom"),
                           ("pois", "geom"), ("network_segments", "geom"),
                           ("network_nodes", "geom"))
    )  # fmt: skip
    row = conn.execute(
        text(
            "SELECT ST_XMin(x), ST_YMin(x), ST_XMax(x), ST_YMax(x) "
            f"FROM (SELECT ST_Extent(e) AS x FROM ({parts}) s) t"
        )
    ).one()
    if row[0] is None:
        return box
    m = 2 * RESOLUTION_M
    return (min(box[0], row[0] - m), min(box[1], row[1] - m),
            max(box[2], row[2] + m), max(box[3], row[3] + m))  # fmt: skip


def load_terrain(conn: Connection, pbf: Path, srid: int) -> TerrainResult:
    """Build the demo DEM and store it (replacing the last one) in the caller's transaction."""
    import osmium
    from affine import Affine
    from rasterio import features
    from scipy.interpolate import griddata

    from geodata.importers.dem import store_dem

    spots, coast = _read_osm(pbf)
    to_work = transformer(4326, srid)
    box = osmium.io.Reader(str(pbf)).header().box()
    x0, y0 = to_work.transform(box.bottom_left.lon, box.bottom_left.lat)
    x1, y1 = to_work.transform(box.top_right.lon, box.top_right.lat)
    x0, y0, x1, y1 = _covering(conn, (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
    left, top = np.floor(min(x0, x1)), np.ceil(max(y0, y1))
    w = int(np.ceil((max(x0, x1) - left) / RESOLUTION_M))
    h = int(np.ceil((top - min(y0, y1)) / RESOLUTION_M))
    transform = Affine(RESOLUTION_M, 0.0, left, 0.0, -RESOLUTION_M, top)
    sx, sy = to_work.transform([s[0] for s in spots], [s[1] for s in spots])
    pts = [np.column_stack([sx, sy])]
    vals = [np.array([s[2] for s in spots])]
    lines = []
    for part in coast:
        lx, ly = to_work.transform([p[0] for p in part], [p[1] for p in part])
        line = shapely.LineString(np.column_stack([lx, ly]))
        lines.append(line)
        dense = shapely.segmentize(line, 10.0)
        xy = shapely.get_coordinates(dense)
        pts.append(xy)
        vals.append(np.zeros(len(xy)))
    waters = _water_areas(conn, srid)
    for area in waters:
        xy = shapely.get_coordinates(shapely.segmentize(shapely.boundary(area), 10.0))
        pts.append(xy)
        vals.append(np.zeros(len(xy)))
    points, values = np.concatenate(pts), np.concatenate(vals)
    cols, rows = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    gx, gy = left + cols * RESOLUTION_M, top - rows * RESOLUTION_M
    z = griddata(points, values, (gx, gy), method="linear")
    near = griddata(points, values, (gx, gy), method="nearest")
    z = np.where(np.isnan(z), near, z)
    z = np.maximum(z, 0.0)
    wet_areas = [shapely.buffer(line, -SEA_BAND_M, single_sided=True) for line in lines]
    wet_areas += waters
    if wet_areas:
        sea = shapely.union_all(wet_areas)
        wet = features.rasterize(
            [sea],
            out_shape=(h, w),
            transform=transform,
            fill=0,
            default_value=1,
            dtype="uint8",
            all_touched=True,
        ).astype(bool)
        z[wet] = 0.0
    z32 = z.astype(np.float32)
    report = store_dem(
        conn,
        pbf.name,
        TERRAIN_SOURCE,
        z32,
        transform,
        srid,
        None,
        DATUM,
        None,
        "",
        True,
    )
    LOGGER.info(
        "demo terrain: %d spot heights, %d coast points", len(spots), len(points) - len(spots)
    )
    return TerrainResult(
        len(spots), len(points) - len(spots), w, h, report.min_z or 0.0, report.max_z or 0.0
    )
