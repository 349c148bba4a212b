"""``flood``: the area a water level floods from a source, and what is under it.

The level is given (``level`` in metres, in the DEM's vertical datum, with a ``source``
point in the working CRS: the river, the sea, a breach) or read from a gauge: the gauge's
zero altitude (``zero_altitude_m`` in the device's attributes) plus its latest ``stage_m``,
flooding from the gauge's own cell. A gauge's result is cached with its reading in the key,
so a new reading is a new answer. Citizens get the extent, the buildings and the roads;
network assets only go to callers who may see the networks.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, FiniteFloat, model_validator
from sqlalchemy import Connection, text

from geodata.access import strictest
from geodata.errors import InputError, NotFound
from geodata.terrain import Dem, load_dem
from twin.analysis.base import Analysis, AnalysisContext, Params, Result
from twin.analysis.flood import exposure, fill

#: the metric a gauge reports (m above its zero) and the attribute giving that zero's height
STAGE_METRIC = "stage_m"
ZERO_ATTR = "zero_altitude_m"
#: nodata of the depth raster
DEPTH_NODATA = -9999.0


class FloodParams(Params):
    level: float | None = Field(
        None, ge=-500, le=9000, description="water level (m, in the DEM's vertical datum)"
    )
    source: tuple[FiniteFloat, FiniteFloat] | None = Field(
        None, description="where the water comes from: working-CRS x, y (m); with level"
    )
    gauge: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="a gauge device: level = its zero_altitude_m + latest stage_m, from its cell",
    )
    connectivity: Literal[4, 8] = Field(8, description="cells touching by edges (4) or corners (8)")
    method: Literal["connected", "threshold"] = Field(
        "connected",
        description="connected: cells below the level joined to the source (the flood); "
        "threshold: every cell below the level (a comparison only)",
    )
    tif: bool = Field(False, description="also return the depth raster as depth.tif (GeoTIFF)")

    @model_validator(mode="after")
    def _one_source(self) -> FloodParams:
        if self.gauge is not None:
            if self.level is not None or self.source is not None:
                raise ValueError("give either a gauge or a level and a source, not both")
        elif self.level is None or self.source is None:
            raise ValueError("give a level (m) and a source (x, y), or a gauge's device id")
        return self


class Gauge:
    """A gauge's level: its zero altitude plus its latest stage reading."""

    def __init__(self, conn: Connection, device_id: str) -> None:
        row = conn.execute(
            text(
                "SELECT d.attrs, d.visibility, ST_X(d.geom) AS x, ST_Y(d.geom) AS y, "
                "s.value, s.at FROM devices d LEFT JOIN latest_state s "
                "ON s.device_id = d.id AND s.metric = :m WHERE d.id = :d"
            ),
            {"d": device_id, "m": STAGE_METRIC},
        ).first()
        if row is None:
            raise NotFound(f"no device {device_id!r}: `twin devices list` shows the gauges")
        self.id = device_id
        self.visibility: str = row.visibility
        attrs = row.attrs or {}
        zero = attrs.get(ZERO_ATTR)
        if not isinstance(zero, int | float) or isinstance(zero, bool):
            raise InputError(
                f"gauge {device_id!r} has no {ZERO_ATTR} (the height of its zero, m) in its "
                f"attributes: set it on the device (e.g. `twin devices add ... --attr "
                f"{ZERO_ATTR}=1.25`), or give --level and --source instead"
            )
        if row.x is None or row.y is None:
            raise InputError(f"gauge {device_id!r} has no location: give it one, or use --source")
        if row.value is None:
            raise InputError(f"gauge {device_id!r} has no {STAGE_METRIC} reading yet")
        self.zero = float(zero)
        self.stage = float(row.value)
        self.at = row.at
        self.xy = (float(row.x), float(row.y))

    @property
    def level(self) -> float:
        return self.zero + self.stage

    def reading(self) -> str:
        return f"{self.id}:{self.zero!r}:{self.stage!r}:{self.at.isoformat()}"


class Flood(Analysis[FloodParams]):
    name = "flood"
    title = "Flood extent from a water level or a gauge: flooded area, buildings, roads, assets"
    Params = FloodParams
    layers: ClassVar[tuple[str, ...]] = ("buildings", "ground")
    tables: ClassVar[tuple[str, ...]] = (
        "terrain",
        "buildings",
        "ground",
        "network_segments",
        "network_nodes",
    )
    example: ClassVar[dict[str, Any]] = {"gauge": "flood-gauge-1"}

    def visibility(self, ctx: AnalysisContext, params: FloodParams) -> str:
        base = super().visibility(ctx, params)
        if params.gauge is None:
            return base
        with ctx.engine.connect() as conn:
            row = conn.execute(
                text("SELECT visibility FROM devices WHERE id = :d"), {"d": params.gauge}
            ).first()
        return strictest(base, row.visibility) if row is not None else base

    def live_inputs(self, ctx: AnalysisContext, params: FloodParams) -> str | None:
        if params.gauge is None:
            return ""
        with ctx.engine.connect() as conn:
            return Gauge(conn, params.gauge).reading()

    def run(self, ctx: AnalysisContext, params: FloodParams) -> Result:
        gauge: Gauge | None = None
        if params.gauge is not None:
            with ctx.engine.connect() as conn:
                gauge = Gauge(conn, params.gauge)
            level, xy = gauge.level, gauge.xy
        else:
            assert params.level is not None and params.source is not None
            level, xy = params.level, params.source
        ctx.progress(0.05, "reading the terrain")
        dem = load_dem(ctx.engine)
        if dem is None:
            raise InputError(
                "this twin has no terrain: import a DEM first (`twin import dem.tif --layer dem`)"
            )
        cell = _source_cell(dem, xy)
        ctx.progress(0.2, "flooding")
        if params.method == "threshold":
            flooded = fill.threshold_flood(dem.z, level)
        else:
            flooded = fill.connected_flood(dem.z, level, cell, params.connectivity)
        depth = fill.depths(dem.z, level, flooded)
        ctx.progress(0.5, "extent polygons")
        extent = exposure.extent_polygons(dem, flooded, params.connectivity)
        ctx.progress(0.7, "buildings, roads and networks")
        with ctx.engine.connect() as conn:
            buildings = exposure.buildings_in(conn, dem, depth, extent)
            roads = exposure.roads_cut(conn, dem.epsg, extent)
            assets = exposure.assets_in(conn, dem.epsg, extent) if ctx.may_see("networks") else None
        n = int(flooded.sum())
        doc: dict[str, Any] = {
            "method": params.method,
            "comparison_only": params.method == "threshold",
            "level_m": level,
            "vertical_datum": dem.vertical_datum,
            "source": {
                "x": xy[0],
                "y": xy[1],
                "row": cell[0],
                "col": cell[1],
                "ground_m": _float(dem.z[cell]),
            },
            "source_above_level": bool(dem.z[cell] > level),
            "connectivity": params.connectivity,
            "flooded_cells": n,
            "flooded_area_m2": round(n * dem.cell_area, 3),
            "max_depth_m": round(float(np.nanmax(depth)), 3) if n else 0.0,
            "extent_crs": "CRS84 (RFC 7946 lon, lat)",
            "extent": exposure.to_geojson(extent, dem.epsg),
            "buildings": buildings,
            "roads_cut": roads,
            "terrain": {
                "source": dem.source,
                "synthetic": dem.synthetic,
                "epsg": dem.epsg,
                "resolution_m": dem.resolution[0],
            },
        }
        if gauge is not None:
            doc["gauge"] = {
                "device_id": gauge.id,
                ZERO_ATTR: gauge.zero,
                STAGE_METRIC: gauge.stage,
                "at": gauge.at.isoformat(),
            }
        if assets is not None:
            doc["assets"] = assets
        files = {"depth.tif": _depth_tiff(dem, depth)} if params.tif else {}
        return Result(doc, files)


def _float(v: Any) -> float | None:
    f = float(v)
    return None if np.isnan(f) else f


def _source_cell(dem: Dem, xy: tuple[float, float]) -> tuple[int, int]:
    cell = dem.cell_of(*xy)
    if cell is None:
        x0, y0, x1, y1 = dem.bounds
        raise InputError(
            f"the source ({xy[0]:.1f}, {xy[1]:.1f}) is outside the terrain "
            f"({x0:.1f}..{x1:.1f}, {y0:.1f}..{y1:.1f} in EPSG:{dem.epsg}): give a point on it"
        )
    if np.isnan(dem.z[cell]):
        raise InputError(
            f"the source ({xy[0]:.1f}, {xy[1]:.1f}) falls on a nodata cell of the terrain: "
            "give a point with a known height"
        )
    return cell


def _depth_tiff(dem: Dem, depth: np.ndarray[Any, np.dtype[np.float32]]) -> bytes:
    from geodata.importers.dem import encode_geotiff

    out = np.where(np.isnan(depth), np.float32(DEPTH_NODATA), depth).astype(np.float32)
    return encode_geotiff(out, dem.transform, dem.epsg, DEPTH_NODATA)
