"""Hand-built terrains for the flood and DEM tests, written as GeoTIFFs by rasterio (the
same library a user's DEM would come from) in EPSG:3067 at 1 m cells."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

#: the scenes' upper-left corner (central Helsinki, ETRS-TM35FIN)
X0, Y0 = 385_000.0, 6_672_000.0


def write_tif(
    path: Path,
    z: NDArray[np.float64],
    *,
    crs: str | None = "EPSG:3067",
    nodata: float | None = None,
    x0: float = X0,
    y0: float = Y0,
    cell: float = 1.0,
) -> Path:
    import rasterio
    from affine import Affine

    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": z.shape[1],
        "height": z.shape[0],
        "count": 1,
        "dtype": "float32",
        "transform": Affine(cell, 0.0, x0, 0.0, -cell, y0),
        "nodata": nodata,
    }
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(z.astype(np.float32), 1)
    return path


def pyramid_bowl(size: int = 41) -> NDArray[np.float64]:
    """A square bowl: the height of a cell is its Chebyshev distance (in cells) from the
    centre cell, so level L floods exactly the (2L+1)² cells of the square of radius L."""
    c = size // 2
    i, j = np.indices((size, size))
    return np.maximum(abs(i - c), abs(j - c)).astype(np.float64)


def cell_centre(row: int, col: int) -> tuple[float, float]:
    """The working-CRS centre of a cell of the scenes (1 m cells from X0, Y0)."""
    return X0 + col + 0.5, Y0 - row - 0.5
