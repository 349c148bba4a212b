"""The query parameters of ``/collections/{id}/items`` beyond Part 1 — ``filter``,
``filter-lang``, ``filter-crs`` (Part 3), ``crs`` (Part 2), ``sortby`` and ``properties`` —
declared once for the OpenAPI document and read into a :class:`geodata.feature_query.ItemQuery`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query

from geodata.crs import CRS84_URI
from geodata.feature_query import (
    ItemQuery,
    build_filter,
    parse_output_crs,
    parse_properties,
    parse_sortby,
)
from geodata.layers import Layer

#: conformance classes of Parts 2 and 3 (added to Part 1's on /conformance)
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/temporal-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/arithmetic",
]
#: the items route's parameters these add
PARAMS = frozenset({"filter", "filter-lang", "filter-crs", "crs", "sortby", "properties"})

FilterParam = Annotated[
    str | None,
    Query(
        alias="filter",
        description="A CQL2 filter over the collection's queryables (/collections/{id}/queryables)"
        ", e.g. `height > 20 AND usage IN ('residential','office')`; a malformed filter or an "
        "unknown property is a 400 naming it",
        max_length=200_000,
    ),
]
FilterLangParam = Annotated[
    Literal["cql2-text", "cql2-json"] | None,
    Query(alias="filter-lang", description="The filter's language; default cql2-text"),
]
FilterCrsParam = Annotated[
    str | None,
    Query(
        alias="filter-crs",
        description=f"CRS of the filter's geometries; default {CRS84_URI} (format `crs`)",
        json_schema_extra={"format": "crs"},
    ),
]
CrsParam = Annotated[
    str | None,
    Query(
        description=f"CRS of the geometries returned: {CRS84_URI} (the default) or one of the "
        "collection's `crs` list, in that CRS's axis order (format `crs`)",
        json_schema_extra={"format": "crs"},
    ),
]
SortbyParam = Annotated[
    str | None,
    Query(
        description="Comma-separated queryables, each `+` (default) or `-` for descending, "
        "e.g. `-height,name`"
    ),
]
PropertiesParam = Annotated[
    str | None,
    Query(description="Comma-separated property names to return (default: all)"),
]


def item_query(
    layer: Layer,
    working: int | None,
    *,
    filter_: str | None = None,
    filter_lang: str | None = None,
    filter_crs: str | None = None,
    crs: str | None = None,
    sortby: str | None = None,
    properties: str | None = None,
) -> ItemQuery:
    return ItemQuery(
        filter=build_filter(layer, filter_, filter_lang, filter_crs, working),
        sortby=parse_sortby(sortby, layer),
        crs=parse_output_crs(crs, working),
        properties=parse_properties(properties),
    )
