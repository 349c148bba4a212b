"""Hand-built terrains for the flood and DEM tests, written as GeoTIFFs by rasterio (the
same library a user's DEM would come from) in EPSG:3067 at 1 m cells."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Engine, text

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


def bowl_scene(engine: Engine, tmp_path: Path) -> Engine:
    """The 41 x 41 bowl as the twin's DEM, with a building, a street and networks: a house
    on the bowl's floor, one on its rim (dry at level 5), a street across the bowl, a water
    main and a valve in it."""
    from geodata.importers.dem import import_dem

    import_dem(engine, write_tif(tmp_path / "bowl.tif", pyramid_bowl(41)), source="bowl")
    cx, cy = cell_centre(20, 20)
    with engine.begin() as conn:
        for sid, x, y in (("floor", cx - 1.5, cy - 1.5), ("rim", cx + 15, cy + 15)):
            conn.execute(
                text(
                    "INSERT INTO buildings (source, source_id, footprint, height) VALUES ('t', "
                    ":i, ST_Multi(ST_SetSRID(ST_MakeEnvelope(:x, :y, :x + 3, :y + 3), 3067)), 9)"
                ),
                {"i": sid, "x": x, "y": y},
            )
        conn.execute(
            text(
                "INSERT INTO ground (source, source_id, kind, geom, attrs) VALUES ('t', 'street', "
                "'road', ST_SetSRID(ST_MakeLine(ST_MakePoint(:x0, :y), ST_MakePoint(:x1, :y)), "
                '3067), \'{"highway": "residential"}\')'
            ),
            {"x0": X0, "x1": X0 + 41, "y": cy},
        )
        conn.execute(
            text(
                "INSERT INTO network_segments (source, source_id, network, geom, depth_m) VALUES "
                "('t', 'main', 'water', ST_SetSRID(ST_MakeLine(ST_MakePoint(:x, :y0, -1), "
                "ST_MakePoint(:x, :y1, -1)), 3067), 1)"
            ),
            {"x": cx, "y0": Y0, "y1": Y0 - 41},
        )
        conn.execute(
            text(
                "INSERT INTO network_nodes (source, source_id, network, kind, geom, depth_m) "
                "VALUES ('t', 'valve', 'water', 'valve', ST_SetSRID(ST_MakePoint(:x, :y, -1), "
                "3067), 1)"
            ),
            {"x": cx, "y": cy},
        )
    return engine


def add_gauge(engine: Engine, device: str, stage: float | None, **attrs: object) -> None:
    """A gauge at the bowl's centre, with a latest ``stage_m`` reading when given."""
    x, y = cell_centre(20, 20)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO devices (id, protocol, type, attrs, geom) VALUES (:i, 'mqtt', "
                "'flood_gauge', CAST(:a AS jsonb), ST_SetSRID(ST_MakePoint(:x, :y, 0), 3067))"
            ),
            {"i": device, "a": json.dumps(attrs), "x": x, "y": y},
        )
        if stage is not None:
            conn.execute(
                text(
                    "INSERT INTO latest_state (device_id, metric, at, value) "
                    "VALUES (:i, 'stage_m', :at, :v)"
                ),
                {"i": device, "at": datetime(2026, 12, 1, 12, tzinfo=UTC), "v": stage},
            )
