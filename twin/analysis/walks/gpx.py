"""A walk as a GPX 1.1 file: one track (``trk``/``trkseg``/``trkpt``), stops as waypoints.

Written with lxml (already a dependency) rather than a GPX library (gpxpy): the file is one
element tree of a fixed shape, a few lines here, and GPS apps read plain GPX 1.1; a library
would add a dependency for writing thirty lines of XML. Points are WGS 84 longitudes and
latitudes, as GPX requires, reprojected from the working CRS with pyproj.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from lxml import etree
from numpy.typing import NDArray

from geodata.crs import transformer

GPX_NS = "http://www.topografix.com/GPX/1/1"
SCHEMA = "http://www.topografix.com/GPX/1/1/gpx.xsd"
XSI = "http://www.w3.org/2001/XMLSchema-instance"


def gpx_document(
    coords: NDArray[np.float64],
    epsg: int,
    *,
    name: str,
    description: str = "",
    waypoints: Sequence[dict[str, Any]] = (),
) -> bytes:
    """GPX 1.1 bytes of a line in the working CRS ``epsg``; ``waypoints`` items have ``x``,
    ``y`` and ``name`` (working CRS too)."""
    to_wgs84 = transformer(epsg, 4326)
    root = etree.Element(
        f"{{{GPX_NS}}}gpx",
        nsmap={None: GPX_NS, "xsi": XSI},
        attrib={"version": "1.1", "creator": "urban digital twin", f"{{{XSI}}}schemaLocation":
                f"{GPX_NS} {SCHEMA}"},
    )  # fmt: skip
    meta = etree.SubElement(root, f"{{{GPX_NS}}}metadata")
    etree.SubElement(meta, f"{{{GPX_NS}}}name").text = name
    if description:
        etree.SubElement(meta, f"{{{GPX_NS}}}desc").text = description
    for w in waypoints:
        lon, lat = to_wgs84.transform(w["x"], w["y"])
        wpt = etree.SubElement(root, f"{{{GPX_NS}}}wpt", lat=f"{lat:.7f}", lon=f"{lon:.7f}")
        etree.SubElement(wpt, f"{{{GPX_NS}}}name").text = str(w["name"])
    trk = etree.SubElement(root, f"{{{GPX_NS}}}trk")
    etree.SubElement(trk, f"{{{GPX_NS}}}name").text = name
    seg = etree.SubElement(trk, f"{{{GPX_NS}}}trkseg")
    lon, lat = to_wgs84.transform(coords[:, 0], coords[:, 1])
    for lo, la in zip(np.atleast_1d(lon), np.atleast_1d(lat), strict=True):
        etree.SubElement(seg, f"{{{GPX_NS}}}trkpt", lat=f"{la:.7f}", lon=f"{lo:.7f}")
    out: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return out
