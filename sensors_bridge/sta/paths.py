"""The resource paths that address less than whole entities: ``$ref`` (links only), a
property (``/Things(1)/name``) and its raw ``$value`` — the same reads as
:mod:`sensors_bridge.sta.query`, narrowed by ``$select``, so the access rule, paging and
links are the ones every other path has.

A null property answers 204 No Content, as OData (which SensorThings builds on) says for a
property or ``$value`` whose value is null.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from geodata.errors import InputError, NotFound
from sensors_bridge.sta import query as q
from sensors_bridge.sta.entities import EntitySet, Kind
from sensors_bridge.sta.options import Options

REF = Options(select=("@iot.selfLink",))


def _links_only(options: Options) -> Options:
    if options.select is not None or options.expand:
        raise InputError("$ref answers links only: leave $select and $expand out")
    return replace(options, select=REF.select)


def read_refs(
    ctx: q.Context, name: str, options: Options, entity_id: int | None = None, nav: str = ""
) -> q.Page | dict[str, Any]:
    """``/{name}/$ref`` and ``/{name}({id})/{nav}/$ref``: the ``@iot.selfLink`` of each entity
    (a page, with ``@iot.count`` and ``@iot.nextLink`` as usual), or of the one related."""
    narrowed = _links_only(options)
    if entity_id is None:
        return q.read_collection(ctx, name, narrowed)
    return q.read_related(ctx, name, entity_id, nav, narrowed)


def read_ref(ctx: q.Context, name: str, entity_id: int, options: Options) -> dict[str, Any]:
    """``/{name}({id})/$ref``: the entity's ``@iot.selfLink``."""
    return q.read_entity(ctx, name, entity_id, _links_only(options))


def properties(entity: EntitySet) -> list[str]:
    """What a property path may name (``@iot.id`` is no path segment)."""
    return [p for p in entity.properties if p != "id"]


@dataclass(frozen=True)
class Property:
    name: str
    kind: Kind
    value: Any  # as in the entity's JSON document; None: 204 No Content


def read_property(
    ctx: q.Context, name: str, entity_id: int, prop: str, options: Options
) -> Property:
    """``/{name}({id})/{prop}``: one property of one entity, or 404 naming what is wrong."""
    entity = q.entity_set(name)
    if prop not in properties(entity):
        raise NotFound(
            f"{entity.name} have no property {prop!r}; they have "
            f"{', '.join(properties(entity))}, and navigation properties "
            f"{', '.join(entity.navs)}"
        )
    if options.raw:
        raise InputError(
            f"{options.raw[0][0]} does not apply to a property: GET /sta/v1.1/{name}"
            f"({entity_id})/{prop} takes no query options"
        )
    doc = q.read_entity(ctx, name, entity_id, Options(select=(prop,)))
    return Property(prop, entity.properties[prop], doc[prop])


def raw_value(prop: Property) -> tuple[str, str]:
    """The body and media type of ``$value``: text as it is, numbers and booleans as JSON
    writes them, objects and geometries as JSON."""
    value = prop.value
    if isinstance(value, str):
        return value, "text/plain; charset=utf-8"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":")), "application/json"
    return json.dumps(value), "text/plain; charset=utf-8"
