"""The flood fill itself: which cells of a DEM a water level reaches from a source.

A cell floods when it is at or below the level and connected to the source cell through
cells that are too (8-connected by default: water passes a diagonal gap between two
corners; 4-connected on request). ``scipy.ndimage.label`` does the connectivity: one pass in
C over the whole array, so the analysis costs little more than labelling it (bench/flood.py
measures the ratio). Nodata cells (NaN) never flood. The plain threshold (every cell at or
below the level, connected or not) is offered only as a labelled comparison: it floods pits
behind ridges that water cannot reach.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

#: scipy's structuring elements for 4- and 8-connectivity
_STRUCTURES = {
    4: np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool),
    8: np.ones((3, 3), dtype=bool),
}


def below(z: NDArray[np.float64], level: float) -> NDArray[np.bool_]:
    """Cells at or below ``level`` (NaN, i.e. nodata, never)."""
    with np.errstate(invalid="ignore"):
        return np.asarray(z <= level)


def connected_flood(
    z: NDArray[np.float64], level: float, source: tuple[int, int], connectivity: int = 8
) -> NDArray[np.bool_]:
    """Cells at or below ``level`` connected to the ``source`` cell (row, col); all False
    when the source cell itself is above the level."""
    from scipy import ndimage

    wet = below(z, level)
    if not wet[source]:
        return np.zeros_like(wet)
    labels, _ = ndimage.label(wet, structure=_STRUCTURES[connectivity])
    return np.equal(labels, labels[source], out=wet)  # the mask's buffer, reused


def threshold_flood(z: NDArray[np.float64], level: float) -> NDArray[np.bool_]:
    """Every cell at or below ``level``: the naive comparison, not a flood model."""
    return below(z, level)


def depths(z: NDArray[np.float64], level: float, flooded: NDArray[np.bool_]) -> NDArray[np.float32]:
    """Water depth (m) on flooded cells, NaN elsewhere."""
    out = np.full(z.shape, np.nan, dtype=np.float32)
    out[flooded] = (level - z[flooded]).astype(np.float32)
    return out
