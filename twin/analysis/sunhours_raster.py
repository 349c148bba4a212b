"""A ground grid's sun hours as files: a GeoTIFF in the working CRS (float32 hours, one band
per state, nodata where a building stands) and PNG heatmaps an overlay can drape (RGBA,
transparent where there is no value), with the legend's colours in the document."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from numpy.typing import NDArray

from geodata.crs import transformer

NODATA = -1.0
#: the heatmap's ramp: no sun (deep blue) to the most sun of the period (pale yellow)
RAMP = np.array(
    [[13, 8, 135], [126, 3, 168], [204, 71, 120], [248, 149, 64], [240, 249, 33]], np.float64
)
#: the delta's ramp: sun lost (red), unchanged (white), gained (blue)
DELTA_RAMP = np.array([[178, 24, 43], [244, 165, 130], [247, 247, 247], [146, 197, 222],
                       [33, 102, 172]], np.float64)  # fmt: skip


def _colour(values: NDArray[np.float64], lo: float, hi: float, ramp: NDArray[Any]) -> NDArray[Any]:
    scaled = np.nan_to_num((values - lo) / (hi - lo if hi > lo else 1.0))
    share = np.clip(scaled, 0, 1) * (len(ramp) - 1)
    i = np.minimum(share.astype(int), len(ramp) - 2)
    f = (share - i)[..., None]
    rgb = ramp[i] * (1 - f) + ramp[i + 1] * f
    alpha = np.where(np.isnan(values), 0, 200)[..., None]
    out: NDArray[Any] = np.concatenate([np.nan_to_num(rgb), alpha], axis=-1).astype(np.uint8)
    return out


def png(values: NDArray[np.float64], lo: float, hi: float, delta: bool = False) -> bytes:
    from PIL import Image

    img = Image.fromarray(_colour(values, lo, hi, DELTA_RAMP if delta else RAMP), "RGBA")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def geotiff(bands: list[NDArray[np.float64]], box: tuple[float, float, float, float],
            spacing: float, epsg: int, names: list[str]) -> bytes:  # fmt: skip
    import rasterio
    from rasterio.io import MemoryFile
    from rasterio.transform import from_origin

    rows, cols = bands[0].shape
    profile = {
        "driver": "GTiff", "height": rows, "width": cols, "count": len(bands),
        "dtype": "float32", "crs": f"EPSG:{epsg}", "nodata": NODATA,
        "transform": from_origin(box[0], box[3], spacing, spacing), "compress": "deflate",
    }  # fmt: skip
    with MemoryFile() as mem:
        with mem.open(**profile) as dst:
            for i, (band, name) in enumerate(zip(bands, names, strict=True), start=1):
                dst.write(np.where(np.isnan(band), NODATA, band).astype(np.float32), i)
                dst.set_band_description(i, name)
            dst.update_tags(units="hours of direct sun", rasterio=rasterio.__version__)
        return bytes(mem.read())


def grid_files(
    states: dict[str, NDArray[np.float64]],
    shape: tuple[int, int],
    cells: NDArray[np.int64],
    box: tuple[float, float, float, float],
    spacing: float,
    epsg: int,
    sun_up_hours: float,
) -> tuple[dict[str, bytes], dict[str, Any]]:
    """The files of a grid (``states``: hours per grid point, by state name) and the
    document's ``raster`` entry: where the images go on a map and what their colours say."""
    rows, cols = shape
    grids: dict[str, NDArray[np.float64]] = {}
    for name, hours in states.items():
        g = np.full(rows * cols, np.nan)
        g[cells] = hours
        grids[name] = g.reshape(rows, cols)
    files = {"sun_hours.tif": geotiff(list(grids.values()), box, spacing, epsg, list(grids))}
    images = {}
    for name, g in grids.items():
        delta = name == "delta"
        span = max(float(np.nanmax(np.abs(g))) if np.isfinite(g).any() else 0.0, 0.1)
        lo, hi = (-span, span) if delta else (0.0, max(sun_up_hours, 0.1))
        fname = "sun_hours.png" if name == "baseline" else f"sun_hours_{name}.png"
        files[fname] = png(g, lo, hi, delta)
        images[name] = {"file": fname, "min": lo, "max": hi}
    x0, y0, x1, y1 = box[0], box[3] - rows * spacing, box[0] + cols * spacing, box[3]
    tr = transformer(epsg, 4326)
    corners = [list(tr.transform(x, y)) for x, y in ((x0, y1), (x1, y1), (x1, y0), (x0, y0))]
    raster = {
        "rows": rows,
        "cols": cols,
        "spacing": spacing,
        "bounds": [x0, y0, x1, y1],
        "corners_lonlat": corners,
        "corners_are": "north-west, north-east, south-east, south-west (CRS84 lon/lat)",
        "images": images,
        "colours": "RGBA; transparent cells: no ground point (a building stands there)",
    }
    return files, raster
