"""The twin's terrain: the digital elevation model the analyses read (floods, slopes, the
ground under a balcony).

A DEM lives in the ``terrain`` table (migration 0013) as a compressed GeoTIFF in the working
CRS; :func:`load_dem` decodes the newest one once per process and data version (the change
log says when it changed), so a flood, a walk's slopes and a scene share one array.
:func:`heights_at` samples it bilinearly at working-CRS points. The queries run through psycopg
(:mod:`geodata.pg`) on an engine or on a connection of either kind: ``twin import`` reads
the ground on its own psycopg connection, without SQLAlchemy.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from geodata.pg import connected, raw_connection

if TYPE_CHECKING:
    import psycopg
    from affine import Affine
    from sqlalchemy import Engine

    from geodata.pg import AnyConnection


@dataclass(frozen=True)
class Dem:
    """A DEM in the working CRS: heights (float64, NaN where the file said nodata), the
    affine transform of its cells' corners, and what the file said about it."""

    z: NDArray[np.float64]
    transform: Affine
    epsg: int
    nodata: float | None
    vertical_datum: str
    source: str
    synthetic: bool

    @property
    def resolution(self) -> tuple[float, float]:
        """Cell size (x, y) in metres, both positive."""
        return abs(self.transform.a), abs(self.transform.e)

    @property
    def cell_area(self) -> float:
        rx, ry = self.resolution
        return rx * ry

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(min x, min y, max x, max y) of the raster's outer edges."""
        h, w = self.z.shape
        xs = [self.transform.c, self.transform.c + w * self.transform.a]
        ys = [self.transform.f, self.transform.f + h * self.transform.e]
        return min(xs), min(ys), max(xs), max(ys)

    def cell_of(self, x: float, y: float) -> tuple[int, int] | None:
        """(row, col) of the cell holding (x, y), or None outside the raster."""
        inv = ~self.transform
        col = inv.a * x + inv.b * y + inv.c
        row = inv.d * x + inv.e * y + inv.f
        r, c = int(np.floor(row)), int(np.floor(col))
        h, w = self.z.shape
        if 0 <= r < h and 0 <= c < w:
            return r, c
        return None


_lock = threading.Lock()
#: per database (server, port, name): the data version decoded and its DEM
_cached: dict[str, tuple[str, Dem | None]] = {}


def _version(raw: psycopg.Connection[Any]) -> str:
    row = raw.execute(
        "SELECT coalesce(max(txid)::text, '0'), count(*), "
        "(SELECT pruned_below::text FROM tile_log), "
        "(SELECT coalesce(max(id)::text, '') || max(updated_at)::text FROM terrain) "
        "FROM tile_changes WHERE tbl = 'terrain'"
    ).fetchone()
    return ".".join(str(v) for v in row or ())


def load_dem(db: Engine | AnyConnection) -> Dem | None:
    """The twin's DEM: the newest real one, else the newest synthetic one (the demo's), or
    None when it has none. Decoded once per process and data version: the next call after
    an import decodes the new one. ``db``: an engine, or a connection (as it sees it)."""
    with connected(db) as conn:
        raw = raw_connection(conn)
        version = _version(raw)
        where = f"{raw.info.host}:{raw.info.port}/{raw.info.dbname}"
        with _lock:
            seen = _cached.get(where)
            if seen is not None and seen[0] == version:
                return seen[1]
        dem = read_dem(raw)
    with _lock:
        _cached[where] = (version, dem)
    return dem


def read_dem(conn: AnyConnection) -> Dem | None:
    """The DEM the twin uses, as ``conn`` sees it (a DEM import reads the one it is
    storing): the newest real one, else the newest synthetic one."""
    row = (
        raw_connection(conn)
        .execute(
            "SELECT tiff, epsg, nodata, vertical_datum, source, synthetic FROM terrain "
            "ORDER BY synthetic, updated_at DESC, id DESC LIMIT 1"
        )
        .fetchone()
    )
    if row is None:
        return None
    tiff, epsg, nodata, vertical_datum, source, synthetic = row
    from rasterio.io import MemoryFile  # only with a DEM to decode

    with MemoryFile(bytes(tiff)) as mem, mem.open() as src:
        band = src.read(1)
        z = band.astype(np.float64)
        if src.nodata is not None:  # compared in the band's own type (float32 rounding)
            z[band == np.asarray(src.nodata).astype(band.dtype)] = np.nan
        transform = src.transform
    return Dem(
        z=z,
        transform=transform,
        epsg=int(epsg),
        nodata=nodata,
        vertical_datum=vertical_datum,
        source=source,
        synthetic=bool(synthetic),
    )


def sample_bilinear(dem: Dem, xy: NDArray[np.float64]) -> NDArray[np.float64]:
    """Heights at working-CRS points ``xy`` (shape (n, 2)), interpolated bilinearly between
    cell centres; NaN outside the raster or where a neighbouring cell is nodata."""
    pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    inv = ~dem.transform
    cols = inv.a * pts[:, 0] + inv.b * pts[:, 1] + inv.c - 0.5
    rows = inv.d * pts[:, 0] + inv.e * pts[:, 1] + inv.f - 0.5
    h, w = dem.z.shape
    out = np.full(len(pts), np.nan)
    # points within half a cell of the outer edge take the edge cells' value (clamped)
    inside = (cols >= -0.5) & (cols <= w - 0.5) & (rows >= -0.5) & (rows <= h - 0.5)
    c = np.clip(cols[inside], 0.0, w - 1.0)
    r = np.clip(rows[inside], 0.0, h - 1.0)
    c0 = np.minimum(np.floor(c).astype(np.intp), max(w - 2, 0))
    r0 = np.minimum(np.floor(r).astype(np.intp), max(h - 2, 0))
    c1 = np.minimum(c0 + 1, w - 1)
    r1 = np.minimum(r0 + 1, h - 1)
    fc = c - c0
    fr = r - r0
    z = dem.z
    top = z[r0, c0] * (1 - fc) + z[r0, c1] * fc
    bottom = z[r1, c0] * (1 - fc) + z[r1, c1] * fc
    out[inside] = top * (1 - fr) + bottom * fr
    return out


def heights_at(engine: Engine, xy: NDArray[np.float64]) -> NDArray[np.float64] | None:
    """Terrain heights (m, in the DEM's vertical datum) at working-CRS points ``xy`` (n, 2),
    bilinear; NaN outside the DEM or on nodata; None when the twin has no DEM."""
    dem = load_dem(engine)
    if dem is None:
        return None
    return sample_bilinear(dem, xy)


#: the terrain's visibility: a base layer like the ground it is drawn under (the flood
#: extents computed from it are shown to citizens), checked through the one access rule
TERRAIN_VISIBILITY = "public"
#: the most heights a side of a grid may ask for (513 x 513 is 2 MB of JSON)
MAX_GRID = 513


@dataclass(frozen=True)
class HeightGrid:
    """Heights on a regular lon/lat grid (CRS84), rows from north to south: what a client
    without a projection library drapes its ground on."""

    bbox: tuple[float, float, float, float]
    width: int
    height: int
    #: metres, row-major from the north-west corner, None where the DEM says nothing
    heights: list[float | None]


def height_grid(
    dem: Dem, bbox: tuple[float, float, float, float] | None = None, size: int = 129
) -> HeightGrid:
    """``size`` x ``size`` heights (fewer along the shorter side, at least 2) over ``bbox``
    (CRS84; default: the DEM's extent), bilinear, rounded to the centimetre.

    :raises InputError: ``size`` outside 2..:data:`MAX_GRID`.
    """
    from geodata.crs import transformer
    from geodata.errors import InputError

    if not 2 <= size <= MAX_GRID:
        raise InputError(f"size {size} is outside 2..{MAX_GRID}: e.g. size=129")
    if bbox is None:
        bbox = dem_lonlat_bounds(dem)
    lon0, lat0, lon1, lat1 = bbox
    aspect = (lat1 - lat0) / max(lon1 - lon0, 1e-12) / np.cos(np.radians((lat0 + lat1) / 2))
    nx = size if aspect <= 1 else max(2, round(size / aspect))
    ny = size if aspect >= 1 else max(2, round(size * aspect))
    lon, lat = np.meshgrid(np.linspace(lon0, lon1, nx), np.linspace(lat1, lat0, ny))
    x, y = transformer(4326, dem.epsg).transform(lon.ravel(), lat.ravel())
    z = sample_bilinear(dem, np.column_stack([x, y]))
    heights = [None if not np.isfinite(v) else round(float(v), 2) for v in z]
    return HeightGrid((lon0, lat0, lon1, lat1), nx, ny, heights)


def dem_lonlat_bounds(dem: Dem) -> tuple[float, float, float, float]:
    """The DEM's extent in CRS84 (its outline densified, so the box holds all of it)."""
    import shapely

    from geodata.crs import transformer

    outline = shapely.segmentize(shapely.box(*dem.bounds).exterior, 50.0)
    xy = shapely.get_coordinates(outline)
    lon, lat = transformer(dem.epsg, 4326).transform(xy[:, 0], xy[:, 1])
    return float(np.min(lon)), float(np.min(lat)), float(np.max(lon)), float(np.max(lat))
