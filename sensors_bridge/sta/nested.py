"""Nested resource paths (SensorThings' usage 8): ``/Datastreams(1)/Observations(2)``,
``/Datastreams(1)/Thing/Locations``, ``/Things(1)/Datastreams(3)/unitOfMeasurement/$value``,
``/Datastreams(1)/Thing/Datastreams/$ref`` — any walk along navigation properties from one
entity, ending in an entity, a collection, a property, a ``$value`` or a ``$ref``.

Each step is a read of the previous step's one entity through the same views (its key
columns, then the navigation's equi-join), so a hidden entity anywhere on the path is a 404,
as it is at the root. The one- and two-step paths have their own routes; this module serves
what lies deeper, and names the segment that is wrong when a path is not one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from geodata.errors import InputError, NotFound
from sensors_bridge.sta import query as q
from sensors_bridge.sta.entities import ENTITY_SETS, EntitySet
from sensors_bridge.sta.options import Options
from sensors_bridge.sta.paths import REF, Property, properties

_SEGMENT = re.compile(r"^([A-Za-z]+)(?:\(([0-9]{1,19})\))?$")
#: a path deeper than this is refused (each step is one query)
MAX_STEPS = 8


@dataclass(frozen=True)
class Resolved:
    """What a path addresses: one entity's document, a page, or one property."""

    entity: EntitySet
    doc: dict[str, Any] | None = None
    page: q.Page | None = None
    prop: Property | None = None
    value: bool = False  # ``$value`` of ``prop``


@dataclass(frozen=True)
class _At:
    entity: EntitySet
    keys: dict[str, Any]
    by_id: int | None
    single: bool
    what: str  # the path so far, for messages


def _segment(seg: str, path: str) -> tuple[str, int | None]:
    m = _SEGMENT.match(seg)
    if m is None:
        raise NotFound(f"{path!r}: {seg!r} is no entity set, navigation property or property")
    return m[1], None if m[2] is None else int(m[2])


def _one(ctx: q.Context, at: _At, options: Options) -> dict[str, Any]:
    rows, _ = q._select(ctx, at.entity, at.keys, options, limit=1, by_id=at.by_id)
    if not rows:
        raise NotFound(f"no {at.what}: GET /sta/v1.1/{at.entity.name} lists those you may see")
    return rows[0]


def _step(ctx: q.Context, at: _At, name: str, entity_id: int | None, path: str) -> _At:
    nav = at.entity.navs[name]
    if not at.single:
        raise InputError(
            f"{path!r}: {at.what} is a collection; name one of them, e.g. "
            f"{at.what}(1)/{name}, before navigating"
        )
    if entity_id is not None and not nav.many:
        raise NotFound(f"{path!r}: {name} is one entity; leave ({entity_id}) out")
    parent = _one(ctx, at, Options(select=("id",)))
    what = f"{at.what}/{name}" + (f"({entity_id})" if entity_id is not None else "")
    single = entity_id is not None or not nav.many
    return _At(ENTITY_SETS[nav.target], q._keys(nav, parent), entity_id, single, what)


def resolve(ctx: q.Context, path: str, options: Options) -> Resolved:
    """The resource ``path`` (below ``/sta/v1.1``) read with ``options``."""
    segments = path.strip("/").split("/")
    if len(segments) > MAX_STEPS:
        raise InputError(f"{path!r}: at most {MAX_STEPS} segments")
    name, entity_id = _segment(segments[0], path)
    entity = q.entity_set(name)
    at = _At(entity, {}, entity_id, entity_id is not None, segments[0])
    for i, seg in enumerate(segments[1:], 1):
        rest = segments[i + 1 :]
        if seg == "$ref":
            if rest:
                raise NotFound(f"{path!r}: $ref ends a path")
            return _refs(ctx, at, options)
        name, entity_id = _segment(seg, path)
        if name in at.entity.navs:
            at = _step(ctx, at, name, entity_id, path)
            continue
        if name in properties(at.entity) and entity_id is None and rest in ([], ["$value"]):
            return _property(ctx, at, name, options, bool(rest))
        raise NotFound(
            f"{path!r}: {at.entity.name} have no navigation property or property {seg!r}; "
            f"they have {', '.join([*at.entity.navs, *properties(at.entity)])}"
        )
    return _read(ctx, at, options)


def _read(ctx: q.Context, at: _At, options: Options) -> Resolved:
    q.check(at.entity, options)
    if not at.single:
        return Resolved(at.entity, page=q._page(ctx, at.entity, at.keys, options))
    if options.filter or options.orderby or options.top is not None or options.skip:
        raise InputError(f"{at.what} is one entity: $filter, $orderby, $top and $skip do not apply")
    row = _one(ctx, at, options)
    return Resolved(at.entity, doc=q._document(ctx, at.entity, row, options))


def _refs(ctx: q.Context, at: _At, options: Options) -> Resolved:
    if options.select is not None or options.expand:
        raise InputError("$ref answers links only: leave $select and $expand out")
    return _read(ctx, at, replace(options, select=REF.select))


def _property(ctx: q.Context, at: _At, name: str, options: Options, value: bool) -> Resolved:
    if not at.single:
        raise InputError(f"{at.what} is a collection: name one of them before {name!r}")
    if options.raw:
        raise InputError(f"{options.raw[0][0]} does not apply to a property")
    doc = q._document(
        ctx, at.entity, _one(ctx, at, Options(select=(name,))), Options(select=(name,))
    )
    return Resolved(
        at.entity, prop=Property(name, at.entity.properties[name], doc[name]), value=value
    )
