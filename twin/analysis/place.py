"""Where an analysis looks: a point of the working CRS or a longitude and latitude, both
known once resolved, with the meridian convergence that turns true-north azimuths (the sun's,
a viewer's heading) into grid azimuths of the working CRS and back.

Convergence γ is pyproj's (``Proj.get_factors``): the grid azimuth of a direction is its
true azimuth minus γ (about −1.8° in Helsinki on EPSG:3067, +3.0° in Antibes on Lambert-93).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyproj import Proj
from sqlalchemy import Engine

from geodata.crs import transformer
from geodata.errors import InputError
from geodata.working_crs import require_working_crs


@dataclass(frozen=True)
class Place:
    x: float
    y: float
    lon: float
    lat: float
    epsg: int
    #: degrees; grid azimuth = true azimuth − convergence
    convergence: float

    def grid_azimuth(self, true_azimuth: float) -> float:
        return (true_azimuth - self.convergence) % 360.0

    def true_azimuth(self, grid_azimuth: float) -> float:
        return (grid_azimuth + self.convergence) % 360.0


def working_epsg(engine: Engine) -> int:
    with engine.connect() as conn:
        return require_working_crs(conn)


def resolve_place(
    epsg: int,
    *,
    x: float | None = None,
    y: float | None = None,
    lon: float | None = None,
    lat: float | None = None,
) -> Place:
    """A place from a working-CRS point or a lon/lat pair (exactly one of the two)."""
    check_place(x=x, y=y, lon=lon, lat=lat)
    if lon is not None and lat is not None:
        x, y = transformer(4326, epsg).transform(lon, lat)
    else:
        assert x is not None and y is not None
        lon, lat = transformer(epsg, 4326).transform(x, y)
    factors = Proj(f"EPSG:{epsg}").get_factors(lon, lat)
    convergence = float(factors.meridian_convergence)
    return Place(float(x), float(y), float(lon), float(lat), epsg, convergence)


def check_place(
    *,
    x: float | None = None,
    y: float | None = None,
    lon: float | None = None,
    lat: float | None = None,
) -> None:
    """Refuse a place that is not exactly one whole pair, before anything is read."""
    if (x is None) != (y is None) or (lon is None) != (lat is None):
        raise InputError("give both --x and --y, or both --lat and --lon")
    if (x is None) == (lon is None):
        raise InputError("give a place: --x X --y Y (working CRS) or --lat LAT --lon LON")
    if lon is not None and lat is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InputError(f"lat {lat}, lon {lon}: latitude is -90..90, longitude -180..180")
