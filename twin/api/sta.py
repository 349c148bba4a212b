"""OGC SensorThings API v1.1 (Sensing, read-only) at ``/sta/v1.1``, over
:mod:`sensors_bridge.sta`.

The routes are made from the entity model, one per entity set, entity and navigation
property (``/Things({entity_id})/Datastreams``): Starlette matches the parentheses of such a
template literally, and the OpenAPI document lists each path as it is. Who may see what is
the devices' rule (:func:`geodata.access.device_visible`, as SQL in
``sensors_bridge.sta.entities.visibility_params``); an entity the caller may not know of is a
404, like one that does not exist. Links are absolute and built from the request's base URL,
which :mod:`twin.forwarded` has already made the public one behind a trusted proxy.
"""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy import Connection

from geodata.access import Principal
from sensors_bridge.sta import paths
from sensors_bridge.sta import query as q
from sensors_bridge.sta.entities import ENTITY_SETS, EntitySet
from sensors_bridge.sta.options import Options, parse_options
from twin.api.deps import CurrentUser, EngineDep, SettingsDep
from twin.api.features import OGCJSONResponse
from twin.api.openapi import problems
from twin.settings import Settings

PREFIX = "/sta/v1.1"
router = APIRouter(prefix=PREFIX, tags=["OGC SensorThings API"])

#: what is true of this service, and only that: the whole data model (HistoricalLocations
#: included; MultiDatastreams are an extension of their own, not declared), every resource
#: path of the Sensing part (sets, entities, navigation, property, ``$value``, ``$ref``) and
#: the request options. Not: create/update/delete, batch, data arrays, MQTT.
CONFORMANCE = [
    "http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/resource-path/resource-path-to-entities",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/request-data",
]
#: the largest $skip (PostgreSQL's OFFSET is a bigint; past this nothing is left to page)
MAX_SKIP = 2**31 - 1
EntityId = Annotated[int, Path(ge=0, le=2**63 - 1, description="The entity's integer `@iot.id`.")]


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + PREFIX


def _select_pattern(entity: EntitySet) -> str:
    names = "|".join(["@iot\\.id", "@iot\\.selfLink", *entity.properties, *entity.navs])
    return f"^\\s*({names})\\s*(,\\s*({names})\\s*)*$"


def _options_dependency(
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
        pattern=_select_pattern(entity),
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


def _context(request: Request, conn: Connection, user: Principal, settings: Settings) -> q.Context:
    return q.Context(conn, user, _base(request), settings.sta_default_top, settings.sta_max_top)


def _page_doc(request: Request, page: q.Page, options: Options) -> dict[str, Any]:
    doc = page.doc
    if page.more:
        url = str(request.base_url).rstrip("/") + request.url.path
        doc["@iot.nextLink"] = q.next_link(url, options.raw, page)
    return doc


@router.get("", summary="SensorThings service root: entity sets and conformance")
def landing(request: Request) -> dict[str, Any]:
    base = _base(request)
    return {
        "value": [{"name": name, "url": f"{base}/{name}"} for name in ENTITY_SETS],
        "serverSettings": {"conformance": CONFORMANCE},
    }


def _add_routes(entity: EntitySet) -> None:
    name = entity.name
    collection_opts = _options_dependency(entity, collection=True)
    entity_opts = _options_dependency(entity, collection=False)

    def read_set(
        request: Request,
        user: CurrentUser,
        engine: EngineDep,
        settings: SettingsDep,
        options: Annotated[Options, Depends(collection_opts)],
    ) -> Response:
        with engine.connect() as conn:
            page = q.read_collection(_context(request, conn, user, settings), name, options)
        return OGCJSONResponse(_page_doc(request, page, options))

    def read_one(
        entity_id: EntityId,
        request: Request,
        user: CurrentUser,
        engine: EngineDep,
        settings: SettingsDep,
        options: Annotated[Options, Depends(entity_opts)],
    ) -> Response:
        with engine.connect() as conn:
            ctx = _context(request, conn, user, settings)
            return OGCJSONResponse(q.read_entity(ctx, name, entity_id, options))

    router.add_api_route(
        f"/{name}",
        read_set,
        methods=["GET"],
        summary=f"{name}",
        responses=problems(400),
        response_class=OGCJSONResponse,
    )
    router.add_api_route(
        f"/{name}({{entity_id}})",
        read_one,
        methods=["GET"],
        summary=f"One {entity.singular}",
        responses=problems(400, 404),
        response_class=OGCJSONResponse,
    )
    for nav_name, nav in entity.navs.items():
        _add_nav_route(entity, nav_name, ENTITY_SETS[nav.target], nav.many)
    _add_ref_routes(entity)
    _add_property_routes(entity)  # last: ``{property}`` would match the paths above


def _add_nav_route(entity: EntitySet, nav_name: str, target: EntitySet, many: bool) -> None:
    opts = _options_dependency(target, collection=many)

    def read_related(
        entity_id: EntityId,
        request: Request,
        user: CurrentUser,
        engine: EngineDep,
        settings: SettingsDep,
        options: Annotated[Options, Depends(opts)],
    ) -> Response:
        with engine.connect() as conn:
            ctx = _context(request, conn, user, settings)
            got = q.read_related(ctx, entity.name, entity_id, nav_name, options)
        doc = _page_doc(request, got, options) if isinstance(got, q.Page) else got
        return OGCJSONResponse(doc)

    what = f"The {nav_name} of a {entity.singular}" if many else f"A {entity.singular}'s {nav_name}"
    router.add_api_route(
        f"/{entity.name}({{entity_id}})/{nav_name}",
        read_related,
        methods=["GET"],
        summary=what,
        responses=problems(400, 404),
        response_class=OGCJSONResponse,
    )


def _add_ref_routes(entity: EntitySet) -> None:
    """``$ref``: the same reads, answering the entities' ``@iot.selfLink`` only."""
    name = entity.name
    refs_opts = _options_dependency(entity, collection=True, refs=True)
    ref_opts = _options_dependency(entity, collection=False, refs=True)

    def read_set_refs(
        request: Request,
        user: CurrentUser,
        engine: EngineDep,
        settings: SettingsDep,
        options: Annotated[Options, Depends(refs_opts)],
    ) -> Response:
        with engine.connect() as conn:
            got = paths.read_refs(_context(request, conn, user, settings), name, options)
        assert isinstance(got, q.Page)
        return OGCJSONResponse(_page_doc(request, got, options))

    def read_one_ref(
        entity_id: EntityId,
        request: Request,
        user: CurrentUser,
        engine: EngineDep,
        settings: SettingsDep,
        options: Annotated[Options, Depends(ref_opts)],
    ) -> Response:
        with engine.connect() as conn:
            ctx = _context(request, conn, user, settings)
            return OGCJSONResponse(paths.read_ref(ctx, name, entity_id, options))

    router.add_api_route(
        f"/{name}/$ref",
        read_set_refs,
        methods=["GET"],
        summary=f"Links to the {name}",
        responses=problems(400),
        response_class=OGCJSONResponse,
    )
    router.add_api_route(
        f"/{name}({{entity_id}})/$ref",
        read_one_ref,
        methods=["GET"],
        summary=f"The link to one {entity.singular}",
        responses=problems(400, 404),
        response_class=OGCJSONResponse,
    )
    for nav_name, nav in entity.navs.items():
        _add_nav_ref_route(entity, nav_name, ENTITY_SETS[nav.target], nav.many)


def _add_nav_ref_route(entity: EntitySet, nav_name: str, target: EntitySet, many: bool) -> None:
    opts = _options_dependency(target, collection=many, refs=True)

    def read_related_refs(
        entity_id: EntityId,
        request: Request,
        user: CurrentUser,
        engine: EngineDep,
        settings: SettingsDep,
        options: Annotated[Options, Depends(opts)],
    ) -> Response:
        with engine.connect() as conn:
            ctx = _context(request, conn, user, settings)
            got = paths.read_refs(ctx, entity.name, options, entity_id, nav_name)
        doc = _page_doc(request, got, options) if isinstance(got, q.Page) else got
        return OGCJSONResponse(doc)

    router.add_api_route(
        f"/{entity.name}({{entity_id}})/{nav_name}/$ref",
        read_related_refs,
        methods=["GET"],
        summary=f"Links to the {nav_name} of a {entity.singular}",
        responses=problems(400, 404),
        response_class=OGCJSONResponse,
    )


def _add_property_routes(entity: EntitySet) -> None:
    """``/Things(1)/name`` (``{"name": ...}``) and ``/Things(1)/name/$value`` (the value)."""
    name = entity.name
    names = paths.properties(entity)
    prop_path = Path(
        alias="property",
        description=f"A property of the {entity.singular}: {', '.join(names)}.",
        json_schema_extra={"enum": names},
    )
    no_opts = _options_dependency(entity, collection=False, refs=True)

    def read(
        entity_id: int, prop: str, request: Request, user: Principal, engine: Any, s: Settings
    ) -> paths.Property:
        options = parse_options(request.query_params)
        with engine.connect() as conn:
            ctx = _context(request, conn, user, s)
            return paths.read_property(ctx, name, entity_id, prop, options)

    def read_property(
        entity_id: EntityId,
        prop: Annotated[str, prop_path],
        request: Request,
        user: CurrentUser,
        engine: EngineDep,
        settings: SettingsDep,
        _options: Annotated[Options, Depends(no_opts)],
    ) -> Response:
        got = read(entity_id, prop, request, user, engine, settings)
        if got.value is None:
            return Response(status_code=204)
        return OGCJSONResponse({got.name: got.value})

    def read_value(
        entity_id: EntityId,
        prop: Annotated[str, prop_path],
        request: Request,
        user: CurrentUser,
        engine: EngineDep,
        settings: SettingsDep,
        _options: Annotated[Options, Depends(no_opts)],
    ) -> Response:
        got = read(entity_id, prop, request, user, engine, settings)
        if got.value is None:
            return Response(status_code=204)
        body, media_type = paths.raw_value(got)
        return PlainTextResponse(body, media_type=media_type)

    router.add_api_route(
        f"/{name}({{entity_id}})/{{property}}",
        read_property,
        methods=["GET"],
        summary=f"One property of a {entity.singular}",
        responses={**problems(400, 404), 204: {"description": "The property is null"}},
        response_class=OGCJSONResponse,
    )
    router.add_api_route(
        f"/{name}({{entity_id}})/{{property}}/$value",
        read_value,
        methods=["GET"],
        summary=f"The raw value of a property of a {entity.singular}",
        responses={
            **problems(400, 404),
            200: {
                "description": "Text and numbers as text; objects and geometries as JSON",
                "content": {"text/plain": {"schema": {"type": "string"}}, "application/json": {}},
            },
            204: {"description": "The property is null"},
        },
        response_class=PlainTextResponse,
    )


for _entity in ENTITY_SETS.values():
    _add_routes(_entity)
