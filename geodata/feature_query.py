"""The query parameters OGC API - Features adds beyond Part 1, read and checked once:
``filter`` (Part 3, through :mod:`geodata.cql`), ``crs`` and ``filter-crs`` (Part 2),
``sortby`` and ``properties``. Free of HTTP; :mod:`geodata.features` turns the result into SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from geodata.cql import Filter, parse_filter, to_sql
from geodata.crs import CRS84_URI, CRS84H_URI
from geodata.errors import InputError
from geodata.feature_params import request_crs
from geodata.layers import Layer
from geodata.queryables import GEOMETRY, queryables

EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{}"
#: CRSs every collection serves besides its storage CRS (the working CRS)
EXTRA_CRS = (CRS84_URI, CRS84H_URI, EPSG_URI.format(4326), EPSG_URI.format(3857))


def crs_list(working: int | None) -> list[str]:
    """The ``crs`` list of a collection: CRS84 first (the default), then the storage CRS."""
    listed = list(EXTRA_CRS)
    if working is not None and EPSG_URI.format(working) not in listed:
        listed.insert(2, EPSG_URI.format(working))
    return listed


@dataclass(frozen=True)
class OutputCrs:
    """Where the geometry is written: an EPSG code, its axis order, and its URI for
    ``Content-Crs``. CRS84 (lon, lat) is EPSG:4326 without the flip."""

    srid: int = 4326
    flip: bool = False
    uri: str = CRS84_URI


def storage_crs(working: int) -> OutputCrs:
    """The twin's working CRS as an output CRS (projected: x east, nothing to flip)."""
    return OutputCrs(working, False, EPSG_URI.format(working))


def parse_output_crs(value: str | None, working: int | None, *, any_crs: bool = False) -> OutputCrs:
    """The ``crs`` asked for: one of the collection's list (:func:`crs_list`), or with
    ``any_crs`` (a local export) any horizontal EPSG CRS."""
    if value is None or value.strip() in (CRS84_URI, CRS84H_URI, "OGC:CRS84", "CRS84"):
        return OutputCrs(uri=(value or CRS84_URI).strip() if value else CRS84_URI)
    offered = crs_list(working)
    srid, flip = request_crs(value, "crs")
    uri = EPSG_URI.format(srid)
    if uri not in offered and not any_crs:
        raise InputError(f"crs {value!r} is not offered: choose one of {', '.join(offered)}")
    return OutputCrs(srid, flip, uri)


def parse_sortby(value: str | None, layer: Layer) -> list[tuple[str, bool]]:
    """``sortby=+height,-name``: (column, descending) pairs over queryables."""
    if not value:
        return []
    q = queryables(layer)
    out: list[tuple[str, bool]] = []
    for raw in value.split(","):
        item = raw.strip()
        desc = item.startswith("-")
        name = item.lstrip("+-").strip()
        if name not in q or name == GEOMETRY:
            sortable = ", ".join(n for n in q if n != GEOMETRY)
            raise InputError(f"cannot sort by {name!r}: sortby takes {sortable}")
        out.append((q[name].column, desc))
    return out


def parse_properties(value: str | None) -> frozenset[str] | None:
    """``properties=name,height``: the feature properties to return (None: all)."""
    if value is None:
        return None
    names = frozenset(p.strip() for p in value.split(",") if p.strip())
    if not names:
        raise InputError("properties names no property: e.g. properties=name,height")
    return names


@dataclass(frozen=True)
class ItemQuery:
    """What a page of items is asked for beyond bbox and paging."""

    filter: Filter | None = None
    sortby: list[tuple[str, bool]] = field(default_factory=list)
    crs: OutputCrs = OutputCrs()
    properties: frozenset[str] | None = None
    #: the rows as this scenario (its id) shows them, rather than the baseline
    scenario_id: int | None = None

    def select(self, props: dict[str, Any]) -> dict[str, Any]:
        if self.properties is None:
            return props
        return {k: v for k, v in props.items() if k in self.properties}


def build_filter(
    layer: Layer,
    text: str | None,
    lang: str | None,
    filter_crs: str | None,
    working: int | None,
) -> Filter | None:
    """The SQL of ``filter`` (in ``filter-lang``, spatial literals in ``filter-crs``)."""
    if text is None:  # filter-lang and filter-crs say nothing without a filter
        return None
    ast = parse_filter(text, lang)
    srid, flip = (4326, False) if filter_crs is None else request_crs(filter_crs, "filter-crs")
    return to_sql(ast, queryables(layer), srid=working or 4326, filter_srid=srid, flip=flip)
