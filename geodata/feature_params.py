"""The query parameters of OGC API - Features, read and checked once: ``bbox`` (and
``bbox-crs``), ``limit`` and ``offset``.

Free of HTTP and of SQL, so the route, the OpenAPI document (``BBOX_PATTERN``) and the tests
share one reading; :mod:`geodata.features` turns the result into SQL.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from pyproj import CRS

from geodata.crs import CRS84_URI, CRS84H_URI, check_horizontal, parse_crs
from geodata.errors import CRSError, InputError

DEFAULT_LIMIT = 10
MAX_LIMIT = 10_000
#: one ``bbox`` number: decimal, optional sign, fraction and exponent (what OGC clients send;
#: not Python's ``1_000`` or ``inf``)
_NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_ITEM = f" *{_NUMBER} *"
#: the whole ``bbox`` parameter, as the OpenAPI document declares it and parse_bbox reads it
BBOX_PATTERN = f"^{_ITEM}(?:,{_ITEM}){{3}}(?:,{_ITEM},{_ITEM})?$"
#: ``bbox-crs`` values meaning lon,lat on WGS 84 (the OGC default)
_CRS84_NAMES = {
    CRS84_URI,
    CRS84H_URI,
    "OGC:CRS84",
    "OGC:CRS84h",
    "CRS84",
    "CRS84h",
    "urn:ogc:def:crs:OGC:1.3:CRS84",
    "urn:ogc:def:crs:OGC::CRS84",
}


@dataclass(frozen=True)
class BBox:
    """A horizontal filter box, x/y in axis order east then north, in EPSG ``srid``."""

    minx: float
    miny: float
    maxx: float
    maxy: float
    srid: int = 4326


@lru_cache(maxsize=64)
def _northing_first(epsg: int) -> bool:
    """EPSG:4326 and some projected CRSs list northing first; PostGIS always wants x east."""
    axes = CRS.from_epsg(epsg).axis_info
    return bool(axes) and axes[0].direction.lower() in ("north", "south")


def request_crs(crs: str | None, param: str = "bbox-crs") -> tuple[int, bool]:
    """EPSG code of a CRS parameter (``bbox-crs``, ``filter-crs``, ``crs``) and whether its
    coordinates come northing first (EPSG:4326 by its EPSG URI does; CRS84 does not)."""
    if crs is None or crs.strip() in _CRS84_NAMES:
        return 4326, False
    try:
        epsg = parse_crs(crs.strip())
    except CRSError:
        raise InputError(
            f"unknown {param} {crs!r}: leave it out for lon,lat (CRS84) or give "
            f"{CRS84_URI} or an EPSG URI such as http://www.opengis.net/def/crs/EPSG/0/3067"
        ) from None
    check_horizontal(epsg, param)
    return epsg, _northing_first(epsg)


def parse_bbox(value: str | Sequence[float] | None, *, crs: str | None = None) -> BBox | None:
    """Read ``minx,miny,maxx,maxy`` (or the 6-number 3D form) as the OGC ``bbox`` parameter.

    :param crs: the ``bbox-crs`` parameter; None means CRS84 (lon,lat).
    :raises InputError: wrong count, not numbers, corners swapped, lon/lat out of range.
    """
    if value is None:
        return None
    parts = [p.strip(" ") for p in value.split(",")] if isinstance(value, str) else list(value)
    if len(parts) not in (4, 6):
        raise InputError(
            f"bbox needs 4 numbers (minx,miny,maxx,maxy) or 6 (minx,miny,minz,maxx,maxy,maxz), "
            f"got {len(parts)}: e.g. bbox=24.93,60.16,24.96,60.18"
        )
    numbers: list[float] = []
    for p in parts:
        try:
            if isinstance(p, str) and not re.fullmatch(_NUMBER, p):
                raise ValueError(p)
            n = float(p)
        except (TypeError, ValueError):
            raise InputError(
                f"bbox value {p!r} is not a number: e.g. bbox=24.93,60.16,24.96,60.18"
            ) from None
        if not math.isfinite(n):
            raise InputError(f"bbox value {p!r} is not a finite number")
        numbers.append(n)
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    srid, swap = request_crs(crs)
    a1, b1, a2, b2 = numbers
    minx, miny, maxx, maxy = (b1, a1, b2, a2) if swap else (a1, b1, a2, b2)
    order = "lat,lon" if swap else ("lon,lat" if srid == 4326 else "x,y")
    if minx > maxx or miny > maxy:
        raise InputError(
            f"bbox lower corner ({minx}, {miny}) is not below and left of the upper corner "
            f"({maxx}, {maxy}): give minx,miny,maxx,maxy ({order} order)"
        )
    if _is_geographic(srid):
        for lat in (miny, maxy):
            if not -90 <= lat <= 90:
                raise InputError(
                    f"bbox latitude {lat} is outside -90..90: the order is {order} "
                    "(were longitude and latitude swapped?)"
                )
        for lon in (minx, maxx):
            if not -180 <= lon <= 180:
                raise InputError(f"bbox longitude {lon} is outside -180..180 ({order} order)")
    return BBox(minx, miny, maxx, maxy, srid)


@lru_cache(maxsize=64)
def _is_geographic(epsg: int) -> bool:
    return CRS.from_epsg(epsg).is_geographic


def check_paging(*, limit: int | None, offset: int | None) -> tuple[int, int]:
    """Validate ``limit``/``offset``; a limit above the maximum is lowered, as OGC requires.

    :raises InputError: limit below 1 or offset below 0.
    """
    if limit is None:
        limit = DEFAULT_LIMIT
    if limit < 1:
        raise InputError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    if offset is None:
        offset = 0
    if offset < 0:
        raise InputError(f"offset must be 0 or more, got {offset}")
    return min(limit, MAX_LIMIT), offset
