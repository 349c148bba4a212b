"""The one place for CRS rules: parsing, validating the working CRS, reprojection.

A twin has one projected, metric working CRS. Every stored geometry uses it; importers
reproject with pyproj; the Features API reprojects to CRS84 on the way out.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import TYPE_CHECKING

from pyproj import CRS, Transformer
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info
from pyproj.exceptions import CRSError as ProjCRSError

from geodata.errors import CRSError

if TYPE_CHECKING:
    import shapely

CRS84_URI = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CRS84H_URI = "http://www.opengis.net/def/crs/OGC/0/CRS84h"


@lru_cache(maxsize=256)
def _crs(text: str) -> CRS:
    try:
        return CRS.from_user_input(text)
    except ProjCRSError:
        raise CRSError(
            f"unknown CRS {text!r}: give an EPSG code such as EPSG:2154 or EPSG:3067"
        ) from None


def parse_crs(value: str | int, *, require_projected: bool = False) -> int:
    """Return the EPSG code of ``value`` (``EPSG:2154``, ``2154``, an OGC URN or URL).

    :raises CRSError: unknown CRS, no EPSG code, or (with ``require_projected``) not metric.
    """
    text = str(value).strip()
    if text.isdigit():
        text = f"EPSG:{text}"
    crs = _crs(text)
    code = crs.to_epsg(min_confidence=70)
    if code is None:
        raise CRSError(f"CRS {text!r} has no EPSG code: give one with --crs EPSG:XXXX")
    if require_projected:
        check_projected(code)
    return code


def check_projected(epsg: int) -> None:
    """A working CRS must be projected in metres: heights and depths are metres too."""
    crs = _crs(f"EPSG:{epsg}")
    if not crs.is_projected:
        raise CRSError(
            f"EPSG:{epsg} is geographic: the working CRS must be projected in metres "
            "(e.g. EPSG:2154 Lambert-93, EPSG:3946 CC46, EPSG:3067 ETRS-TM35FIN)"
        )
    unit = crs.axis_info[0].unit_name
    if unit not in ("metre", "meter"):
        raise CRSError(f"EPSG:{epsg} uses {unit}: the working CRS must be in metres")


def check_horizontal(epsg: int, what: str) -> None:
    """A box filters by position on the ground, so its CRS needs a horizontal part: geographic
    or projected, alone or as the horizontal part of a compound CRS. A vertical CRS (heights
    only, e.g. EPSG:5773) or a geocentric one (X, Y, Z from the Earth's centre) has no such
    box; PROJ knows them, so without this rule they got as far as the database.

    :raises CRSError: naming the CRS, what it is, and what is accepted instead.
    """
    crs = _crs(f"EPSG:{epsg}")
    horizontal = crs.sub_crs_list[0] if crs.is_compound else crs
    if horizontal.is_geographic or horizontal.is_projected:
        return
    raise CRSError(
        f"{what} EPSG:{epsg} ({crs.name}) is a {crs.type_name.lower()}, not a horizontal one: "
        f"leave it out for lon,lat ({CRS84_URI}) or give a geographic or projected CRS, "
        "e.g. http://www.opengis.net/def/crs/EPSG/0/4326 or the twin's own"
    )


def utm_for(lon: float, lat: float) -> int:
    """The ETRS89/WGS 84 UTM zone for a point: the inferred working CRS of geographic data."""
    infos = query_utm_crs_info(
        datum_name="WGS 84",
        area_of_interest=AreaOfInterest(lon, lat, lon, lat),
    )
    if not infos:
        raise CRSError(f"no UTM zone covers lon={lon}, lat={lat}: give --crs")
    return int(infos[0].code)


@lru_cache(maxsize=64)
def transformer(src: int, dst: int) -> Transformer:
    """A cached, thread-safe always_xy transformer between two EPSG codes (3D when possible)."""
    return Transformer.from_crs(f"EPSG:{src}", f"EPSG:{dst}", always_xy=True)


def box_in(
    box: tuple[float, float, float, float], src: int, dst: int, *, segments: int = 16
) -> shapely.Geometry | None:
    """The box ``(minx, miny, maxx, maxy)`` of ``src`` (x east, y north) as a shape of ``dst``.

    Each edge is cut in ``segments`` pieces first: a lon/lat rectangle has curved edges in a
    projected CRS. Points PROJ cannot place in ``dst`` (outside its domain: a transverse
    Mercator fails some 80 degrees from its meridian) are left out, so a box partly outside
    gives the part inside, and a box wholly outside gives None: it matches nothing, where the
    same reprojection in PostGIS raises an error for the whole query.
    """
    import shapely  # here: the settings import this module, and serving tiles loads no numpy

    minx, miny, maxx, maxy = box
    steps = [i / segments for i in range(segments)]
    xs = [minx + (maxx - minx) * t for t in steps] + [maxx] * segments
    ys = [miny] * segments + [miny + (maxy - miny) * t for t in steps]
    xs += [maxx - (maxx - minx) * t for t in steps] + [minx] * segments
    ys += [maxy] * segments + [maxy - (maxy - miny) * t for t in steps]
    px, py = transformer(src, dst).transform(xs, ys)
    ring = [(x, y) for x, y in zip(px, py, strict=True) if math.isfinite(x) and math.isfinite(y)]
    if not ring:
        return None
    shape = shapely.Polygon(ring) if len(ring) >= 3 else None
    if shape is None or not shape.is_valid or shape.area == 0:
        shape = shapely.MultiPoint(ring).convex_hull  # a point, a line or the hull
    return shape


def is_geographic(epsg: int) -> bool:
    return _crs(f"EPSG:{epsg}").is_geographic
