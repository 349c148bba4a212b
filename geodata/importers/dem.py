"""``twin import dem.tif --layer dem``: a digital elevation model into the ``terrain`` table.

A raster is unlike the vector layers (no features, no attributes to map, no batches), so it
has this module of its own rather than a :class:`~geodata.importers.base.Reader`: rasterio
opens the file, ``rasterio.warp.reproject`` (bilinear) brings it to the working CRS with its
nodata kept as nodata, and the result is stored as one deflate-compressed GeoTIFF with its
metadata, replacing the DEM of the same source in one transaction (all-or-nothing).

The vertical datum is stated, never guessed: the vertical part of a compound CRS (e.g.
EPSG:2154+5720, NGF-IGN69 height), else ``--vertical-datum``, else "unknown" (and the summary
says so).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from geodata.errors import ImportFailed, InputError

if TYPE_CHECKING:
    from affine import Affine
    from sqlalchemy import Connection, Engine

#: the layer name ``twin import --layer`` takes for a DEM
DEM_LAYER = "dem"
#: nodata written when the source has none (cells outside it after reprojection)
DEFAULT_NODATA = -9999.0


@dataclass
class DemReport:
    """What a DEM import did, for the user."""

    file: str
    source: str
    epsg: int
    source_crs: str
    width: int
    height: int
    resolution: float
    nodata: float | None
    vertical_datum: str
    nodata_cells: int
    min_z: float | None
    max_z: float | None
    replaced: bool
    synthetic: bool = False
    #: rows moved onto the new ground, per table (:func:`geodata.grounding.rebase`)
    rebased: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        datum = self.vertical_datum
        said = (
            "vertical datum: unknown (the file states none; give it with --vertical-datum)"
            if datum == "unknown"
            else f"vertical datum: {datum}"
        )
        z = (
            f"heights {self.min_z:.2f} to {self.max_z:.2f} m"
            if self.min_z is not None and self.max_z is not None
            else "no valid height"
        )
        return [
            f"{self.file}: DEM {'replaced' if self.replaced else 'imported'} as source "
            f"{self.source!r}{' (synthetic)' if self.synthetic else ''}",
            f"{self.width} x {self.height} cells of {self.resolution:g} m in EPSG:{self.epsg} "
            f"(from {self.source_crs}, bilinear); {z}; {self.nodata_cells} nodata cell(s)",
            said,
            *(
                [
                    "re-based on the terrain: "
                    + ", ".join(
                        f"{n} {table.replace('_', ' ')}" for table, n in self.rebased.items()
                    )
                ]
                if self.rebased
                else []
            ),
        ]


def _vertical_datum(crs_wkt: str, given: str | None) -> str:
    """The vertical part of a compound CRS, else what the user said, else 'unknown'."""
    from pyproj import CRS

    crs = CRS.from_wkt(crs_wkt)
    if crs.is_compound:
        for sub in crs.sub_crs_list:
            if sub.is_vertical:
                code = sub.to_epsg()
                return f"{sub.name} (EPSG:{code})" if code else sub.name
    if given:
        return given
    return "unknown"


def _horizontal_epsg(crs_wkt: str) -> int | None:
    from pyproj import CRS

    crs = CRS.from_wkt(crs_wkt)
    if crs.is_compound:
        crs = next(s for s in crs.sub_crs_list if not s.is_vertical)
    from rasterio.crs import CRS as RioCRS

    # pyproj's confident match, else GDAL's (pyproj cannot name rasterio's WKT of EPSG:3067)
    code = crs.to_epsg() or RioCRS.from_wkt(crs.to_wkt()).to_epsg()
    return int(code) if code else None


def _working_crs(
    conn: Connection,
    src_wkt: str,
    src_epsg: int | None,
    centre: tuple[float, float],
    wanted: str | None,
) -> int:
    """The twin's working CRS, fixed now from the settings, the DEM's own projected CRS or
    the UTM zone of its centre when this is the twin's first data."""
    from geodata.crs import is_geographic, parse_crs, utm_for
    from geodata.working_crs import get_working_crs, set_working_crs

    current = get_working_crs(conn)
    if current is not None:
        return current
    if wanted:
        return set_working_crs(conn, parse_crs(wanted, require_projected=True))
    if src_epsg is not None and not is_geographic(src_epsg):
        return set_working_crs(conn, src_epsg)
    from pyproj import CRS, Transformer

    src = CRS.from_wkt(src_wkt)
    if src.is_projected or src_epsg != 4326:
        lon, lat = Transformer.from_crs(src, 4326, always_xy=True).transform(*centre)
    else:
        lon, lat = centre
    return set_working_crs(conn, utm_for(lon, lat))


def encode_geotiff(
    z: NDArray[np.float32], transform: Affine, epsg: int, nodata: float | None
) -> bytes:
    """One band, float32, deflate with the floating-point predictor, tiled."""
    from rasterio.crs import CRS
    from rasterio.io import MemoryFile

    h, w = z.shape
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": w,
        "height": h,
        "count": 1,
        "dtype": "float32",
        "crs": CRS.from_epsg(epsg),
        "transform": transform,
        "nodata": nodata,
        "compress": "deflate",
        "predictor": 3,
    }
    if w >= 256 and h >= 256:
        profile |= {"tiled": True, "blockxsize": 256, "blockysize": 256}
    with MemoryFile() as mem:
        with mem.open(**profile) as dst:
            dst.write(z, 1)
        return bytes(mem.read())


def import_dem(
    engine: Engine,
    path: Path,
    *,
    crs: str | None = None,
    vertical_datum: str | None = None,
    source: str | None = None,
    working_crs: str | None = None,
    synthetic: bool = False,
) -> DemReport:
    """Import the DEM at ``path`` (any raster GDAL reads; band 1 is the height in metres).

    :param crs: the source CRS when the file has none (e.g. ``EPSG:2154``)
    :param vertical_datum: the heights' datum when the file's CRS does not say it
    :param working_crs: the twin's working CRS to fix if it has none yet (``TWIN_CRS``)
    :raises InputError: no CRS and no ``crs``, an unreadable file, or no valid height
    """
    import rasterio
    from rasterio.errors import RasterioIOError

    path = Path(path)
    if not path.exists():
        raise ImportFailed(f"{path}: no such file")
    try:
        src = rasterio.open(path)
    except RasterioIOError as exc:
        raise ImportFailed(f"{path}: not a raster GDAL can read ({exc})") from None
    with src:
        if crs is not None:
            from rasterio.crs import CRS as RioCRS

            from geodata.crs import parse_crs

            src_wkt = RioCRS.from_epsg(parse_crs(crs)).to_wkt()
        elif src.crs is not None:
            src_wkt = src.crs.to_wkt()
        else:
            raise InputError(
                f"{path}: the DEM has no CRS; say which with --crs (e.g. --crs EPSG:2154)"
            )
        band = src.read(1).astype(np.float32)
        src_nodata = src.nodata
        src_transform = src.transform
        bounds = src.bounds
        cx, cy = (bounds.left + bounds.right) / 2, (bounds.bottom + bounds.top) / 2
        datum = _vertical_datum(src_wkt, vertical_datum)
        src_epsg = _horizontal_epsg(src_wkt)
        name = source or path.name.split(".")[0]
        with engine.begin() as conn:
            epsg = _working_crs(conn, src_wkt, src_epsg, (cx, cy), working_crs)
            z, transform, nodata = _to_working(
                band, src_transform, src_wkt, src_epsg, src_nodata, epsg
            )
            return store_dem(
                conn,
                path.name,
                name,
                z,
                transform,
                epsg,
                nodata,
                datum,
                src_epsg,
                src_wkt,
                synthetic,
            )


def _to_working(
    band: NDArray[np.float32],
    transform: Affine,
    src_wkt: str,
    src_epsg: int | None,
    src_nodata: float | None,
    epsg: int,
) -> tuple[NDArray[np.float32], Affine, float | None]:
    """The band in the working CRS (bilinear), nodata kept as nodata."""
    from rasterio.crs import CRS
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    if src_nodata is not None and np.isnan(src_nodata):
        src_nodata = None
        band = np.where(np.isnan(band), np.float32(DEFAULT_NODATA), band)
        src_nodata = DEFAULT_NODATA
    if src_epsg == epsg:
        return band, transform, src_nodata
    nodata = src_nodata if src_nodata is not None else DEFAULT_NODATA
    h, w = band.shape
    left, top = transform.c, transform.f
    right, bottom = transform.c + w * transform.a, transform.f + h * transform.e
    src_crs = CRS.from_wkt(src_wkt)
    dst_crs = CRS.from_epsg(epsg)
    dst_transform, dw, dh = calculate_default_transform(
        src_crs,
        dst_crs,
        w,
        h,
        left=min(left, right),
        bottom=min(top, bottom),
        right=max(left, right),
        top=max(top, bottom),
    )
    assert dw is not None and dh is not None
    out = np.full((dh, dw), nodata, dtype=np.float32)
    reproject(
        band,
        out,
        src_transform=transform,
        src_crs=src_crs,
        src_nodata=src_nodata,
        dst_transform=dst_transform,
        dst_crs=dst_crs,
        dst_nodata=nodata,
        resampling=Resampling.bilinear,
    )
    return out, dst_transform, nodata


def store_dem(
    conn: Connection,
    file: str,
    source: str,
    z: NDArray[np.float32],
    transform: Affine,
    epsg: int,
    nodata: float | None,
    datum: str,
    src_epsg: int | None,
    src_wkt: str,
    synthetic: bool,
) -> DemReport:
    """Store a DEM already in the working CRS (the import's last step, and the demo's),
    replacing the one of the same source, and move the features whose heights came from the
    ground onto the DEM the twin now uses; in the caller's transaction."""
    from sqlalchemy import text

    valid = np.isfinite(z) if nodata is None else (z != np.float32(nodata)) & np.isfinite(z)
    if not valid.any():
        raise InputError(f"{file}: the DEM has no valid height (every cell is nodata)")
    min_z, max_z = float(z[valid].min()), float(z[valid].max())
    resolution = float(max(abs(transform.a), abs(transform.e)))
    tiff = encode_geotiff(z, transform, epsg, nodata)
    h, w = z.shape
    replaced = (
        conn.execute(text("SELECT 1 FROM terrain WHERE source = :s"), {"s": source}).first()
        is not None
    )
    conn.execute(
        text(
            "INSERT INTO terrain (source, epsg, transform, width, height, resolution, nodata, "
            "vertical_datum, synthetic, min_z, max_z, tiff) VALUES (:s, :e, :t, :w, :h, :r, "
            ":n, :v, :syn, :lo, :hi, :tiff) ON CONFLICT (source) DO UPDATE SET "
            "epsg = EXCLUDED.epsg, transform = EXCLUDED.transform, width = EXCLUDED.width, "
            "height = EXCLUDED.height, resolution = EXCLUDED.resolution, "
            "nodata = EXCLUDED.nodata, vertical_datum = EXCLUDED.vertical_datum, "
            "synthetic = EXCLUDED.synthetic, min_z = EXCLUDED.min_z, max_z = EXCLUDED.max_z, "
            "tiff = EXCLUDED.tiff, updated_at = now()"
        ),
        {
            "s": source,
            "e": epsg,
            "t": list(transform)[:6],
            "w": w,
            "h": h,
            "r": resolution,
            "n": nodata,
            "v": datum,
            "syn": synthetic,
            "lo": min_z,
            "hi": max_z,
            "tiff": tiff,
        },
    )
    from geodata.grounding import rebase
    from geodata.terrain import Dem, read_dem

    # the DEM the twin now uses: this one, unless it is synthetic and a real one exists (the
    # newest real DEM wins, :func:`geodata.terrain.read_dem`); this one is not decoded again
    real_elsewhere = synthetic and (
        conn.execute(text("SELECT 1 FROM terrain WHERE NOT synthetic LIMIT 1")).first() is not None
    )
    if real_elsewhere:
        used = read_dem(conn)
        assert used is not None
    else:
        heights = np.where(valid, z, np.nan).astype(np.float64)
        used = Dem(heights, transform, epsg, nodata, datum, source, synthetic)
    return DemReport(
        rebased=rebase(conn, used),
        file=file,
        source=source,
        epsg=epsg,
        source_crs=f"EPSG:{src_epsg}" if src_epsg else "the file's CRS",
        width=w,
        height=h,
        resolution=resolution,
        nodata=nodata,
        vertical_datum=datum,
        nodata_cells=int((~valid).sum()),
        min_z=min_z,
        max_z=max_z,
        replaced=replaced,
        synthetic=synthetic,
    )
