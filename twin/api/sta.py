"""OGC SensorThings API v1.1 (Sensing, read-only) at ``/sta/v1.1``, over
:mod:`sensors_bridge.sta`.

The routes are made from the entity model, one per entity set, entity and navigation
property (``/Things({entity_id})/Datastreams``): Starlette matches the parentheses of such a
template literally, and the OpenAPI document lists each path as it is. Who may see what is
the devices' rule (:func:`geodata.access.device_visible`, as SQL in
``sensors_bridge.sta.entities.visibility_params``); an entity the caller may not know of is a
404, like one that does not exist. Links are absolute and built from the request's base URL,
which :mod:`twin.forwarded` has already made the public one behind a trusted proxy. What
lies below an entity (``$ref``, properties, ``$value``, deeper paths) is
:mod:`twin.api.sta_paths`.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from sensors_bridge.sta import query as q
from sensors_bridge.sta.entities import ENTITY_SETS, EntitySet
from sensors_bridge.sta.options import Options
from twin.api import sta_paths
from twin.api.deps import CurrentUser, EngineDep, SettingsDep
from twin.api.features import OGCJSONResponse
from twin.api.openapi import problems
from twin.api.sta_common import (
    PREFIX,
    EntityId,
    base_url,
    context,
    options_dependency,
    page_doc,
)

router = APIRouter(prefix=PREFIX, tags=["OGC SensorThings API"])

#: what is true of this service, and only that: the whole data model (HistoricalLocations
#: included; MultiDatastreams are an extension of their own, not declared), every resource
#: path of the Sensing part (sets, entities, properties, ``$value``, navigation, ``$ref``,
#: nested paths) and the request options. Not: create/update/delete, batch, data arrays, MQTT.
CONFORMANCE = [
    "http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/resource-path/resource-path-to-entities",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/request-data",
]


@router.get("", summary="SensorThings service root: entity sets and conformance")
def landing(request: Request) -> dict[str, Any]:
    base = base_url(request)
    return {
        "value": [{"name": name, "url": f"{base}/{name}"} for name in ENTITY_SETS],
        "serverSettings": {"conformance": CONFORMANCE},
    }


def _add_routes(entity: EntitySet) -> None:
    name = entity.name
    collection_opts = options_dependency(entity, collection=True)
    entity_opts = options_dependency(entity, collection=False)

    def read_set(
        request: Request,
        user: CurrentUser,
        engine: EngineDep,
        settings: SettingsDep,
        options: Annotated[Options, Depends(collection_opts)],
    ) -> Response:
        with engine.connect() as conn:
            page = q.read_collection(context(request, conn, user, settings), name, options)
        return OGCJSONResponse(page_doc(request, page, options))

    def read_one(
        entity_id: EntityId,
        request: Request,
        user: CurrentUser,
        engine: EngineDep,
        settings: SettingsDep,
        options: Annotated[Options, Depends(entity_opts)],
    ) -> Response:
        with engine.connect() as conn:
            ctx = context(request, conn, user, settings)
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
    sta_paths.add_ref_routes(router, entity)
    sta_paths.add_property_routes(router, entity)  # last: ``{property}`` matches the above


def _add_nav_route(entity: EntitySet, nav_name: str, target: EntitySet, many: bool) -> None:
    opts = options_dependency(target, collection=many)

    def read_related(
        entity_id: EntityId,
        request: Request,
        user: CurrentUser,
        engine: EngineDep,
        settings: SettingsDep,
        options: Annotated[Options, Depends(opts)],
    ) -> Response:
        with engine.connect() as conn:
            ctx = context(request, conn, user, settings)
            got = q.read_related(ctx, entity.name, entity_id, nav_name, options)
        doc = page_doc(request, got, options) if isinstance(got, q.Page) else got
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


for _entity in ENTITY_SETS.values():
    _add_routes(_entity)
sta_paths.add_nested_route(router)  # after every other: it matches any path
