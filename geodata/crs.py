"""The one place for CRS rules: parsing, validating the working CRS, reprojection, and where
coordinates of a CRS may lie (its area of use).

A twin has one projected, metric working CRS. Every stored geometry uses it; importers
reproject with pyproj; the Features API reprojects to CRS84 on the way out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from pyproj import CRS, Transformer
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info
from pyproj.exceptions import CRSError as ProjCRSError
from pyproj.exceptions import ProjError

from geodata import pipelines
from geodata.errors import CRSError, ImportFailed

if TYPE_CHECKING:  # numpy is loaded by the functions that take arrays: serving a tile
    # reads this module and should not pay for it
    from numpy.typing import NDArray

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


#: EPSG codes inside a CRS reference: ``EPSG:2154``, ``urn:ogc:def:crs:EPSG::3946`` (or with a
#: version, ``EPSG:6.12:3946``), ``http://www.opengis.net/def/crs/EPSG/0/25832``, and each part of
#: a compound one (``urn:ogc:def:crs,crs:EPSG::25832,crs:EPSG::5783``, ``EPSG:25832+5783``,
#: ``.../def/crs-compound?1=.../EPSG/0/25832&2=.../EPSG/0/5783``)
_EPSG_IN_REF = re.compile(r"EPSG(?:/[^/]*/|:[^:/,+]*:|:)(\d+)((?:\+\d+)*)", re.IGNORECASE)
#: the German surveying authorities' (AdV) names for their horizontal CRSs, as many German
#: CityGML files give them (``urn:adv:crs:ETRS89_UTM32*DE_DHHN2016_NH``)
_ADV_CRS = {
    "ETRS89_UTM32": 25832,
    "ETRS89_UTM33": 25833,
    "DE_DHDN_3GK2": 31466,
    "DE_DHDN_3GK3": 31467,
    "DE_DHDN_3GK4": 31468,
    "DE_DHDN_3GK5": 31469,
}


def horizontal_epsg(reference: str) -> int:
    """The EPSG code of the horizontal part of a CRS reference in any usual spelling: a file's
    ``srsName`` (GML, CityGML) or ``referenceSystem`` (CityJSON). A compound CRS (a projected
    one plus a height system) gives its horizontal part, a 3D geographic CRS its 2D one:
    heights are kept as the file stores them.

    :raises CRSError: no EPSG code in the reference, an unknown code, or no horizontal part;
        the message names the reference.
    """
    text = str(reference).strip()
    fix = "give the file's CRS with --crs EPSG:XXXX"
    codes: list[int] = []
    for match in _EPSG_IN_REF.finditer(text):
        codes.append(int(match[1]))
        codes += [int(c) for c in match[2].split("+") if c]
    if not codes:
        adv = text.rsplit(":", 1)[-1].split("*")[0].upper()
        if text.lower().startswith("urn:adv:crs:") and adv in _ADV_CRS:
            return _ADV_CRS[adv]
        if text.isdigit():
            codes = [int(text)]
        else:
            raise CRSError(f"CRS {text!r} names no EPSG code: {fix}")
    for code in codes:
        try:
            crs = _crs(f"EPSG:{code}")
        except CRSError:
            raise CRSError(f"{text!r} names an unknown CRS, EPSG:{code}: {fix}") from None
        if crs.is_compound:
            crs = crs.sub_crs_list[0]
        elif crs.is_geographic and len(crs.axis_info) == 3:
            crs = crs.to_2d()
        if crs.is_projected or crs.is_geographic:
            epsg = crs.to_epsg(min_confidence=70)
            if epsg is None:
                raise CRSError(f"CRS {text!r}: its horizontal part has no EPSG code: {fix}")
            return epsg
    raise CRSError(f"CRS {text!r} has no horizontal part (only heights?): {fix}")


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
    """A cached, thread-safe always_xy transformer between two EPSG codes (3D when possible);
    PROJ's choice of operation is kept between processes (geodata.pipelines)."""
    return pipelines.transformer(src, dst)


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


# -- area of use: where a CRS's coordinates may lie --------------------------------------------
#: how far (degrees) coordinates may lie outside their CRS's area of use: a city's data can
#: cross a border or a coast; a wrong label or a corrupt scale usually puts coordinates
#: thousands of kilometres (or light years) away
AREA_MARGIN = 5.0
#: an area of use is widened to at least this many degrees of longitude around its centre:
#: narrow zones (UTM) are used far beyond their band, e.g. ETRS89 / UTM 33N for all of Norway
MIN_LON_SPAN = 24.0
#: heights (m) beyond these are not heights: a scale or unit error
Z_LIMIT = 100_000.0


@dataclass(frozen=True)
class Area:
    """A CRS's area of use in degrees, widened by :data:`AREA_MARGIN` and to
    :data:`MIN_LON_SPAN` (``west > east`` when it crosses the antimeridian)."""

    epsg: int
    name: str
    west: float
    south: float
    east: float
    north: float

    def contains(self, lon: NDArray[Any], lat: NDArray[Any]) -> NDArray[Any]:
        """Which points lie inside (NaN and infinity never do)."""
        import numpy as np

        lat_ok = (lat >= self.south) & (lat <= self.north)
        if self.west <= self.east:
            return np.asarray(lat_ok & (lon >= self.west) & (lon <= self.east))
        return np.asarray(lat_ok & ((lon >= self.west) | (lon <= self.east)) & np.isfinite(lon))

    def describe(self) -> str:
        return (
            f"EPSG:{self.epsg} covers {self.name} (lon {self.west:g}..{self.east:g}, "
            f"lat {self.south:g}..{self.north:g}, margin included)"
        )


@lru_cache(maxsize=64)
def area_of_use(epsg: int) -> Area | None:
    """The area where EPSG ``epsg`` is meant to be used, widened by the margin; None when the
    EPSG database gives none."""
    area = _crs(f"EPSG:{epsg}").area_of_use
    if area is None:
        return None
    name = re.split(r" - |[.:;]", area.name)[0].strip()[:60] or "its area"
    w, s, e, n = area.west, area.south, area.east, area.north
    south, north = max(s - AREA_MARGIN, -90.0), min(n + AREA_MARGIN, 90.0)
    width = (e - w) % 360 if e != w else 360.0
    widen = max(AREA_MARGIN, (MIN_LON_SPAN - width) / 2)
    if width + 2 * widen >= 360 or (w <= -180 and e >= 180):
        return Area(epsg, name, -180.5, south, 180.5, north)
    return Area(epsg, name, _wrap(w - widen), south, _wrap(e + widen), north)


def _wrap(lon: float) -> float:
    return (lon + 180.0) % 360.0 - 180.0


def check_in_area(
    x: NDArray[Any],
    y: NDArray[Any],
    *,
    src: int,
    dst: int | None,
    where: Callable[[int], str],
) -> None:
    """Refuse coordinates (``x``, ``y`` in EPSG ``src``, axis order east then north) that are
    not finite or lie outside the area of use of ``src`` or of the working CRS ``dst``.

    The one coordinate rule of an import: every reader and layer passes through it
    (:meth:`geodata.importers.import_layer.ImportLayer.store`). A file in the wrong CRS (metres of
    EPSG:3067 labelled EPSG:2154) or with a corrupt scale lands far from where its CRS is used,
    and once stored would break every reprojection of the layer (the Features API, tiles).

    :param where: names the ``i``-th point's feature in a message (file and feature)
    :raises ImportFailed: naming the feature, a sample coordinate and both EPSG codes.
    """
    import numpy as np

    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ImportFailed(
            f"{where(i)}: coordinate ({x[i]}, {y[i]}) is not a finite number: the file is "
            "corrupt (or its scale is); fix or export it again"
        )
    fix = "give the file's real CRS with --crs EPSG:XXXX, or fix its coordinates"
    if is_geographic(src):
        out = ~((np.abs(x) <= 180.5) & (np.abs(y) <= 90.5))
        if out.any():
            i = int(np.flatnonzero(out)[0])
            raise ImportFailed(
                f"{where(i)}: the file says EPSG:{src} (degrees) but its coordinates are not "
                f"degrees (e.g. {x[i]:.10g}, {y[i]:.10g}): give the real CRS with --crs "
                "EPSG:XXXX"
            )
        lon, lat = x, y
    else:
        lon, lat = transformer(src, 4326).transform(x, y)
        lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    for epsg in dict.fromkeys((src, dst)):
        area = area_of_use(epsg) if epsg is not None else None
        if area is None:
            continue
        out = ~area.contains(lon, lat)
        if not out.any():
            continue
        i = int(np.flatnonzero(out)[0])
        place = (
            f"lon {lon[i]:.4f}, lat {lat[i]:.4f}"
            if np.isfinite([lon[i], lat[i]]).all()
            else "nowhere on Earth"
        )
        sample = f"({x[i]:.10g}, {y[i]:.10g}) in EPSG:{src} is {place}"
        if not is_geographic(src) and (np.abs(x) < 181).all() and (np.abs(y) < 181).all():
            raise ImportFailed(
                f"{where(i)}: the file says EPSG:{src} (metres) but its coordinates look like "
                f"degrees {sample}: give --crs EPSG:4326 if they are longitude/latitude"
            )
        if epsg == src:
            raise ImportFailed(
                f"{where(i)}: {sample}, outside the area of use of the file's CRS: "
                f"{area.describe()}; {fix} ({int(out.sum())} points are outside)"
            )
        raise ImportFailed(
            f"{where(i)}: {sample}, outside the area of use of the twin's working CRS: "
            f"{area.describe()}; is EPSG:{src} really the file's CRS? {fix} "
            f"({int(out.sum())} points are outside)"
        )


def box_in_area(
    box: tuple[float, float, float, float], *, src: int, dst: int | None, per_edge: int = 32
) -> bool:
    """Whether every point of ``box`` (x0, y0, x1, y1 in EPSG ``src``) passes
    :func:`check_in_area`, judged by its outline sampled ``per_edge`` times a side.

    A projection is continuous and one-to-one over a box, so the box's image is the region its
    outline's image encloses; an area of use is a longitude/latitude rectangle, so when the
    outline lies inside, the whole box does (to the sampling, far finer than the area's
    margin). An import checks a batch by its box this way, a hundred points instead of four
    per feature; False sends it to the check feature by feature, which names the one out.
    """
    import numpy as np

    x0, y0, x1, y1 = box
    t = np.linspace(0.0, 1.0, per_edge, endpoint=False)
    xs = np.concatenate(
        [x0 + (x1 - x0) * t, np.full(per_edge, x1), x1 - (x1 - x0) * t, np.full(per_edge, x0)]
    )
    ys = np.concatenate(
        [np.full(per_edge, y0), y0 + (y1 - y0) * t, np.full(per_edge, y1), y1 - (y1 - y0) * t]
    )
    try:
        check_in_area(xs, ys, src=src, dst=dst, where=lambda _: "the batch's box")
    except ImportFailed:
        return False
    return True


def check_heights(z: NDArray[Any], *, where: Callable[[int], str]) -> None:
    """Refuse heights that are not finite or beyond :data:`Z_LIMIT` metres."""
    import numpy as np

    bad = ~(np.abs(z) <= Z_LIMIT)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ImportFailed(
            f"{where(i)}: height {z[i]} is not a height in metres (at most {Z_LIMIT:g} either "
            "way): the file's z values are corrupt or scaled wrong; fix or export it again"
        )


@lru_cache(maxsize=64)
def served_box(epsg: int) -> tuple[float, float, float, float]:
    """The box, in EPSG ``epsg``'s own coordinates, around its area of use (margin included):
    what the Features API reprojects to lon/lat. Outside it PROJ may fail ("point outside of
    projection domain"), so a stored row beyond it is served without a geometry rather than
    failing the whole page. A CRS with no area of use gets an Earth-sized box."""
    area = area_of_use(epsg)
    earth = (-2.0e7, -2.0e7, 2.0e7, 2.0e7)
    if area is None:
        return earth
    try:
        box = transformer(4326, epsg).transform_bounds(
            area.west, area.south, area.east, area.north, densify_pts=21
        )
    except ProjError:
        return earth
    if not all(math.isfinite(v) for v in box):
        return earth
    x0, y0, x1, y1 = (float(v) for v in box)
    return x0, y0, x1, y1
