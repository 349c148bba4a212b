"""Where the sun is, by NREL's Solar Position Algorithm (pvlib's ``spa_python``).

Both the apparent angles (refracted by the atmosphere: what an eye sees, and what shadows
follow) and the geometric ones are given; NREL's published 50.11162° for their example is the
apparent zenith. Azimuths are clockwise from true north; ``grid_azimuth`` is the same
direction in the working CRS (turned by the meridian convergence, :mod:`twin.analysis.place`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from geodata.working_crs import get_working_crs
from twin.analysis.base import Analysis, AnalysisContext, Params, Result
from twin.analysis.place import check_place, resolve_place, working_epsg
from twin.analysis.times import parse_instant

#: the standard atmosphere's sea-level pressure (Pa) and pvlib's defaults
STANDARD_PRESSURE_PA = 101_325.0
DEFAULT_TEMPERATURE_C = 12.0
DEFAULT_DELTA_T_S = 67.0


def sun_angles(
    times: Sequence[datetime],
    lat: float,
    lon: float,
    *,
    altitude: float = 0.0,
    pressure: float = STANDARD_PRESSURE_PA,
    temperature: float = DEFAULT_TEMPERATURE_C,
    delta_t: float = DEFAULT_DELTA_T_S,
) -> dict[str, NDArray[np.float64]]:
    """SPA angles (degrees) at aware ``times``: ``azimuth``, ``zenith``, ``elevation``,
    ``apparent_zenith``, ``apparent_elevation``. Vectorised: a day at 10-minute steps is one
    call."""
    import pandas as pd
    import pvlib

    index = pd.DatetimeIndex([pd.Timestamp(t).tz_convert("UTC") for t in times])
    spa = pvlib.solarposition.spa_python(
        index,
        lat,
        lon,
        altitude=altitude,
        pressure=pressure,
        temperature=temperature,
        delta_t=delta_t,
        how="numpy",
    )
    return {
        k: spa[k].to_numpy(dtype=np.float64)
        for k in ("azimuth", "zenith", "elevation", "apparent_zenith", "apparent_elevation")
    }


class SunParams(Params):
    x: float | None = Field(None, description="working-CRS easting (m)")
    y: float | None = Field(None, description="working-CRS northing (m)")
    lat: float | None = Field(None, description="latitude (degrees, WGS 84)")
    lon: float | None = Field(None, description="longitude (degrees, WGS 84)")
    at: str = Field(description="ISO 8601 time; naive = in TWIN_TIMEZONE")
    pressure: float = Field(STANDARD_PRESSURE_PA, gt=0, description="air pressure (Pa)")
    temperature: float = Field(DEFAULT_TEMPERATURE_C, ge=-90, le=60, description="air (°C)")
    delta_t: float = Field(DEFAULT_DELTA_T_S, description="TT − UT (s)")
    altitude: float = Field(0.0, ge=-500, le=9000, description="height above sea level (m)")


class SunPosition(Analysis[SunParams]):
    name = "sun"
    title = "The sun's position (NREL SPA): azimuth, zenith and elevation, apparent and geometric"
    Params = SunParams
    get: ClassVar[bool] = True
    example: ClassVar[dict[str, Any]] = {
        "lat": 60.17,
        "lon": 24.94,
        "at": "2026-06-21T12:00:00+03:00",
    }

    def run(self, ctx: AnalysisContext, params: SunParams) -> Result:
        check_place(x=params.x, y=params.y, lon=params.lon, lat=params.lat)
        at = parse_instant(params.at, ctx.settings.timezone, "--at")
        with ctx.engine.connect() as conn:
            epsg = get_working_crs(conn)
        doc: dict[str, Any] = {}
        if epsg is None and params.lat is not None and params.lon is not None:
            lat, lon = params.lat, params.lon
        else:
            place = resolve_place(
                epsg if epsg is not None else working_epsg(ctx.engine),
                x=params.x,
                y=params.y,
                lon=params.lon,
                lat=params.lat,
            )
            lat, lon = place.lat, place.lon
            doc.update(
                x=place.x, y=place.y, epsg=place.epsg, meridian_convergence=place.convergence
            )
        angles = sun_angles(
            [at],
            lat,
            lon,
            altitude=params.altitude,
            pressure=params.pressure,
            temperature=params.temperature,
            delta_t=params.delta_t,
        )
        for k, v in angles.items():
            doc[k] = float(v[0])
        if "meridian_convergence" in doc:
            doc["grid_azimuth"] = (doc["azimuth"] - doc["meridian_convergence"]) % 360.0
        doc.update(at=at.astimezone(UTC).isoformat(), lat=lat, lon=lon)
        return Result(doc)
