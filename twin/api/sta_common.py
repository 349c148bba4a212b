"""What the SensorThings routes share (:mod:`twin.api.sta`, :mod:`twin.api.sta_paths`):
the service root's prefix, the id parameter, the options dependencies that declare each
set's query options in the OpenAPI document, the read context and the paging links."""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Path, Query, Request
from sqlalchemy import Connection

from geodata.access import Principal
from sensors_bridge.sta import query as q
from sensors_bridge.sta.entities import EntitySet
from sensors_bridge.sta.options import Options, parse_options
from twin.settings import Settings

PREFIX = "/sta/v1.1"

#: the largest $skip (PostgreSQL's OFFSET is a bigint; past this nothing is left to page)
MAX_SKIP = 2**31 - 1
EntityId = Annotated[int, Path(ge=0, le=2**63 - 1, description="The entity's integer `@iot.id`.")]


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + PREFIX


def select_pattern(entity: EntitySet) -> str:
    names = "|".join(["@iot\\.id", "@iot\\.selfLink", *entity.properties, *entity.navs])
    return f"^\\s*({names})\\s*(,\\s*({names})\\s*)*$"


def options_dependency(
    entity: EntitySet, collection: bool, refs: bool = False
) -> Callable[..., Options]:
    """A dependency reading the request's options for ``entity``, declared in the OpenAPI
    document (the values are read again, all of them, by ``parse_options``, so an unknown
    ``$option`` is named in the 400). ``refs``: for a ``$ref`` path, which takes neither
    ``$select`` nor ``$expand``."""
    expand_format = f"sta-expand-{entity.name}"
    select = Query(
        alias="$select",
        description=f"Properties of the {entity.name} to return, comma-separated.",
        pattern=select_pattern(entity),
    )
    expand = Query(
        alias="$expand",
        description="Navigation properties to include, comma-separated, nested with `/` or "
        "with options in parentheses: `Datastreams($top=1;$expand=Observations)`.",
        json_schema_extra={"format": expand_format},
    )

    def entity_options(
        request: Request,
        select_: Annotated[str | None, select] = None,
        expand_: Annotated[str | None, expand] = None,
    ) -> Options:
        return parse_options(request.query_params)

    def collection_options(
        request: Request,
        select_: Annotated[str | None, select] = None,
        expand_: Annotated[str | None, expand] = None,
        top: Annotated[
            int | None, Query(alias="$top", ge=0, description="Page size (cut to the maximum).")
        ] = None,
        skip: Annotated[
            int | None,
            Query(
                alias="$skip",
                ge=0,
                le=MAX_SKIP,
                description="Entities to skip. In the default order `@iot.nextLink` carries "
                "an opaque `$skiptoken` instead (keyset paging): follow it as given.",
            ),
        ] = None,
        count: Annotated[
            str | None,
            Query(
                alias="$count",
                description="`true`: add `@iot.count`, the number of matches (costs a count).",
                json_schema_extra={"enum": ["true", "false"]},
            ),
        ] = None,
        filter_: Annotated[
            str | None,
            Query(
                alias="$filter",
                description="An OData expression: comparisons, and/or/not, arithmetic, time "
                "functions (year ... second, date, now), st_within/st_intersects with "
                "geography'POLYGON((lon lat, ...))'.",
                json_schema_extra={"format": "sta-filter"},
            ),
        ] = None,
        orderby: Annotated[
            str | None,
            Query(
                alias="$orderby",
                description="Comma-separated expressions, each optionally `asc` or `desc`.",
                json_schema_extra={"format": "sta-orderby"},
            ),
        ] = None,
    ) -> Options:
        return parse_options(request.query_params)

    def ref_options(
        request: Request,
        top: Annotated[int | None, Query(alias="$top", ge=0)] = None,
        skip: Annotated[int | None, Query(alias="$skip", ge=0, le=MAX_SKIP)] = None,
        count: Annotated[
            str | None, Query(alias="$count", json_schema_extra={"enum": ["true", "false"]})
        ] = None,
        filter_: Annotated[
            str | None, Query(alias="$filter", json_schema_extra={"format": "sta-filter"})
        ] = None,
        orderby: Annotated[
            str | None, Query(alias="$orderby", json_schema_extra={"format": "sta-orderby"})
        ] = None,
    ) -> Options:
        return parse_options(request.query_params)

    def no_options(request: Request) -> Options:
        return parse_options(request.query_params)

    if refs:
        return ref_options if collection else no_options
    return collection_options if collection else entity_options


def context(request: Request, conn: Connection, user: Principal, settings: Settings) -> q.Context:
    return q.Context(conn, user, base_url(request), settings.sta_default_top, settings.sta_max_top)


def page_doc(request: Request, page: q.Page, options: Options) -> dict[str, Any]:
    doc = page.doc
    if page.more:
        url = str(request.base_url).rstrip("/") + request.url.path
        doc["@iot.nextLink"] = q.next_link(url, options.raw, page)
    return doc
