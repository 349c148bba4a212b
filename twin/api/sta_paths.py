"""SensorThings routes below an entity: ``$ref`` on every set, entity and navigation
property, a property (``/Things(1)/name``) and its ``$value``, and any deeper path
(``/Datastreams(1)/Observations(2)/result``), over :mod:`sensors_bridge.sta.paths` and
:mod:`sensors_bridge.sta.nested`. Registered by :mod:`twin.api.sta` in an order that lets
the literal paths match before the ``{property}`` and ``{path}`` templates do."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import PlainTextResponse, Response

from geodata.access import Principal
from sensors_bridge.sta import nested, paths
from sensors_bridge.sta import query as q
from sensors_bridge.sta.entities import ENTITY_SETS, EntitySet
from sensors_bridge.sta.options import Options, parse_options
from twin.api.deps import CurrentUser, EngineDep, SettingsDep
from twin.api.features import OGCJSONResponse
from twin.api.openapi import problems
from twin.api.sta_common import PREFIX, EntityId, context, options_dependency, page_doc
from twin.settings import Settings


def add_ref_routes(router: APIRouter, entity: EntitySet) -> None:
    """``$ref``: the same reads, answering the entities' ``@iot.selfLink`` only."""
    name = entity.name
    refs_opts = options_dependency(entity, collection=True, refs=True)
    ref_opts = options_dependency(entity, collection=False, refs=True)

    def read_set_refs(
        request: Request,
        user: CurrentUser,
        engine: EngineDep,
        settings: SettingsDep,
        options: Annotated[Options, Depends(refs_opts)],
    ) -> Response:
        with engine.connect() as conn:
            got = paths.read_refs(context(request, conn, user, settings), name, options)
        assert isinstance(got, q.Page)
        return OGCJSONResponse(page_doc(request, got, options))

    def read_one_ref(
        entity_id: EntityId,
        request: Request,
        user: CurrentUser,
        engine: EngineDep,
        settings: SettingsDep,
        options: Annotated[Options, Depends(ref_opts)],
    ) -> Response:
        with engine.connect() as conn:
            ctx = context(request, conn, user, settings)
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
        _add_nav_ref_route(router, entity, nav_name, ENTITY_SETS[nav.target], nav.many)


def _add_nav_ref_route(
    router: APIRouter, entity: EntitySet, nav_name: str, target: EntitySet, many: bool
) -> None:
    opts = options_dependency(target, collection=many, refs=True)

    def read_related_refs(
        entity_id: EntityId,
        request: Request,
        user: CurrentUser,
        engine: EngineDep,
        settings: SettingsDep,
        options: Annotated[Options, Depends(opts)],
    ) -> Response:
        with engine.connect() as conn:
            ctx = context(request, conn, user, settings)
            got = paths.read_refs(ctx, entity.name, options, entity_id, nav_name)
        doc = page_doc(request, got, options) if isinstance(got, q.Page) else got
        return OGCJSONResponse(doc)

    router.add_api_route(
        f"/{entity.name}({{entity_id}})/{nav_name}/$ref",
        read_related_refs,
        methods=["GET"],
        summary=f"Links to the {nav_name} of a {entity.singular}",
        responses=problems(400, 404),
        response_class=OGCJSONResponse,
    )


def add_property_routes(router: APIRouter, entity: EntitySet) -> None:
    """``/Things(1)/name`` (``{"name": ...}``) and ``/Things(1)/name/$value`` (the value)."""
    name = entity.name
    names = paths.properties(entity)
    prop_path = Path(
        alias="property",
        description=f"A property of the {entity.singular}: {', '.join(names)}.",
        json_schema_extra={"enum": names},
    )
    no_opts = options_dependency(entity, collection=False, refs=True)

    def read(
        entity_id: int, prop: str, request: Request, user: Principal, engine: Any, s: Settings
    ) -> paths.Property:
        options = parse_options(request.query_params)
        with engine.connect() as conn:
            ctx = context(request, conn, user, s)
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
        if prop not in names:  # ``Datastreams(3)`` and the like: a deeper path
            return answer_nested(request, user, engine, settings, _below_root(request))
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
        if prop not in names:
            return answer_nested(request, user, engine, settings, _below_root(request))
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


def _below_root(request: Request) -> str:
    return request.url.path.split(PREFIX, 1)[1]


def answer_nested(
    request: Request, user: Principal, engine: Any, settings: Settings, path: str
) -> Response:
    """The answer to a resource path read by :func:`sensors_bridge.sta.nested.resolve`."""
    options = parse_options(request.query_params)
    with engine.connect() as conn:
        got = nested.resolve(context(request, conn, user, settings), path, options)
    if got.page is not None:
        return OGCJSONResponse(page_doc(request, got.page, options))
    if got.doc is not None:
        return OGCJSONResponse(got.doc)
    assert got.prop is not None
    if got.prop.value is None:
        return Response(status_code=204)
    if got.value:
        body, media_type = paths.raw_value(got.prop)
        return PlainTextResponse(body, media_type=media_type)
    return OGCJSONResponse({got.prop.name: got.prop.value})


def add_nested_route(router: APIRouter) -> None:
    """Every deeper resource path (SensorThings' usage 8), resolved segment by segment."""

    def read_nested(
        path: Annotated[
            str,
            Path(
                description="A resource path below the service root, walking navigation "
                "properties: `Datastreams(1)/Observations(2)`, `Datastreams(1)/Thing/Locations`,"
                " `Things(1)/Datastreams(3)/name/$value`, `.../$ref`."
            ),
        ],
        request: Request,
        user: CurrentUser,
        engine: EngineDep,
        settings: SettingsDep,
    ) -> Response:
        return answer_nested(request, user, engine, settings, path)

    router.add_api_route(
        "/{path:path}",
        read_nested,
        methods=["GET"],
        summary="A nested resource path: an entity, a collection, a property, $value or $ref",
        responses={
            **problems(400, 404),
            200: {
                "description": "A document, a page, a property, or a raw value",
                "content": {"application/json": {}, "text/plain": {"schema": {"type": "string"}}},
            },
            204: {"description": "The property is null"},
        },
        response_class=OGCJSONResponse,
    )
