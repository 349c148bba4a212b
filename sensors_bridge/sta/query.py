"""SensorThings reads as plain functions: an entity set, one entity, a navigation path,
``$expand`` — SQL over the views of :mod:`sensors_bridge.sta.entities`, no HTTP.

Paging fetches ``top + 1`` rows (one more tells whether a next page exists), always ordered
to the end by ``id`` so pages never overlap. Observations default to ``phenomenonTime desc,
id desc``: under a Datastream that walks the observations' primary key index (device,
metric, at) backwards in every partition, so a page costs a few index probes whatever the
table's size; with the default order the next link is a keyset ``$skiptoken``
(:mod:`sensors_bridge.sta.keyset`), so every page costs the same. A client's own ``$skip``
(or ``$orderby``, which pages by ``$skip``) reads the rows it skips, and ``$count=true``
counts every matching row (a scan of all that match).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from sqlalchemy import Connection, text

from geodata.access import Principal
from geodata.errors import InputError, NotFound
from sensors_bridge.sta import keyset
from sensors_bridge.sta.entities import ENTITY_SETS, EntitySet, Kind, Nav, visibility_params
from sensors_bridge.sta.filter import Builder, order_sql, where_sql
from sensors_bridge.sta.options import Expand, Options


@dataclass(frozen=True)
class Context:
    """What every read needs: the connection, the caller, the service root, page sizes."""

    conn: Connection
    principal: Principal
    base: str  # absolute URL of /sta/v1.1, as the caller reached it
    default_top: int
    max_top: int


@dataclass(frozen=True)
class Page:
    doc: dict[str, Any]
    more: bool  # a next page exists (the route adds the link: it knows the request URL)
    top: int
    skip: int
    #: where this page ended, when it is in the default order (keyset paging)
    token: str | None = None


def entity_set(name: str) -> EntitySet:
    try:
        return ENTITY_SETS[name]
    except KeyError:
        raise NotFound(f"no entity set {name!r}: GET /sta/v1.1 lists them") from None


def check(entity: EntitySet, options: Options) -> None:
    """Refuse unknown names in ``$select`` and ``$expand`` (at every depth) before reading."""
    for name in options.select or ():
        name = "id" if name == "@iot.id" else name
        if name not in entity.properties and name not in entity.navs and name != "@iot.selfLink":
            known = ", ".join([*entity.properties, *entity.navs])
            raise InputError(f"$select: {entity.name} have no property {name!r}; they have {known}")
    for expand in options.expand:
        check(ENTITY_SETS[_nav(entity, expand.nav, "$expand").target], expand.options)


def _nav(entity: EntitySet, name: str, option: str) -> Nav:
    if name not in entity.navs:
        raise InputError(
            f"{option}: {entity.name} have no navigation property {name!r}; they have "
            f"{', '.join(entity.navs) or 'none'}"
        )
    return entity.navs[name]


def _columns(entity: EntitySet, options: Options) -> list[str]:
    wanted = set(options.select or entity.properties) | {col for col, _ in entity.order}
    keys = {source for nav in entity.navs.values() for source, _ in nav.keys}
    cols = ['a."id"'] + [f'a."{h}"' for h in entity.hidden if h in keys]
    for name, kind in entity.properties.items():
        if name == "id" or name not in wanted:
            continue
        if kind is Kind.GEOM:
            cols.append(f'CAST(ST_AsGeoJSON(a."{name}") AS json) AS "{name}"')
        elif kind is Kind.INTERVAL:
            cols += [f'a."{name}Start"', f'a."{name}End"']
        else:
            cols.append(f'a."{name}"')
    return cols


def _select(
    ctx: Context,
    entity: EntitySet,
    keys: Mapping[str, Any],
    options: Options,
    *,
    limit: int,
    by_id: int | None = None,
) -> tuple[list[dict[str, Any]], int | None]:
    """Rows of ``entity`` matching ``keys`` (hidden key columns), ``options`` and ``by_id``;
    and the count of all matches when ``$count=true``."""
    builder = Builder(params=dict(visibility_params(ctx.principal)))
    where = [f'a."{col}" = {builder.bind(value)}' for col, value in keys.items()]
    if by_id is not None:
        where.append(f'a."id" = {builder.bind(by_id)}')
    if options.filter:
        where.append(where_sql(entity, "a", options.filter, builder))
    if options.skiptoken is not None:
        if options.orderby:
            raise InputError("$skiptoken pages the default order: leave $orderby out")
        key = keyset.decode(entity, options.skiptoken)
        where.append(keyset.after(entity, "a", [builder.bind(v) for v in key]))
    if options.orderby:  # then by id, so that pages never overlap
        order = [
            f"{order_sql(entity, 'a', expr, builder)} {'DESC' if desc else 'ASC'}"
            for expr, desc in options.orderby
        ] + ['a."id" ASC']
    else:  # each default order ends with the id
        order = [f'a."{col}" {"DESC" if desc else "ASC"}' for col, desc in entity.order]
    body = f"FROM ({entity.view}) a WHERE {' AND '.join(where) or 'TRUE'}"
    count = None
    if options.count:
        count = ctx.conn.execute(text(f"SELECT count(*) {body}"), builder.params).scalar_one()
    sql = (
        f"SELECT {', '.join(_columns(entity, options))} {body} ORDER BY {', '.join(order)} "
        f"LIMIT {builder.bind(limit)} OFFSET {builder.bind(options.skip)}"
    )
    rows = ctx.conn.execute(text(sql), builder.params).mappings().all()
    return [dict(r) for r in rows], count


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value


def _interval(start: Any, end: Any) -> str | None:
    if start is None or end is None:
        return None
    return f"{_value(start)}/{_value(end)}" if start != end else str(_value(start))


def _document(
    ctx: Context, entity: EntitySet, row: dict[str, Any], options: Options
) -> dict[str, Any]:
    self_link = f"{ctx.base}/{entity.name}({row['id']})"
    selected = set(options.select) if options.select is not None else None
    doc: dict[str, Any] = {}
    if selected is None or selected & {"id", "@iot.id"}:
        doc["@iot.id"] = row["id"]
    if selected is None or "@iot.selfLink" in selected:
        doc["@iot.selfLink"] = self_link
    for name, kind in entity.properties.items():
        if name == "id" or (selected is not None and name not in selected):
            continue
        if kind is Kind.INTERVAL:
            doc[name] = _interval(row[f"{name}Start"], row[f"{name}End"])
        else:
            doc[name] = _value(row[name])
    for nav in entity.navs:
        if selected is None or nav in selected:
            doc[f"{nav}@iot.navigationLink"] = f"{self_link}/{nav}"
    for expand in options.expand:
        _expand(ctx, entity, row, expand, doc, self_link)
    return doc


def _keys(nav: Nav, row: Mapping[str, Any]) -> dict[str, Any]:
    return {target: row[source] for source, target in nav.keys}


def _expand(
    ctx: Context,
    entity: EntitySet,
    row: dict[str, Any],
    expand: Expand,
    doc: dict[str, Any],
    self_link: str,
) -> None:
    nav = entity.navs[expand.nav]
    target = ENTITY_SETS[nav.target]
    if not nav.many:
        rows, _ = _select(ctx, target, _keys(nav, row), expand.options, limit=1)
        doc[expand.nav] = _document(ctx, target, rows[0], expand.options) if rows else None
        return
    page = _page(ctx, target, _keys(nav, row), expand.options)
    doc[expand.nav] = page.doc["value"]
    if "@iot.count" in page.doc:
        doc[f"{expand.nav}@iot.count"] = page.doc["@iot.count"]
    if page.more:
        doc[f"{expand.nav}@iot.nextLink"] = next_link(
            f"{self_link}/{expand.nav}", expand.options.raw, page
        )


def _page(ctx: Context, entity: EntitySet, keys: Mapping[str, Any], options: Options) -> Page:
    top = min(options.top if options.top is not None else ctx.default_top, ctx.max_top)
    rows, count = _select(ctx, entity, keys, options, limit=top + 1)
    doc: dict[str, Any] = {}
    if count is not None:
        doc["@iot.count"] = count
    doc["value"] = [_document(ctx, entity, r, options) for r in rows[:top]]
    more = top > 0 and len(rows) > top  # $top=0 asks for the count alone: no next page
    token = keyset.encode(entity, rows[top - 1]) if more and not options.orderby else None
    return Page(doc, more, top, options.skip, token)


def next_link(url: str, raw: tuple[tuple[str, str], ...], page: Page) -> str:
    """``url`` with the same options and ``$top`` as served, then where the next page starts:
    the keyset token of the page's last row, or the next ``$skip``."""
    params = [(k, v) for k, v in raw if k not in ("$top", "$skip", "$skiptoken")]
    params.append(("$top", str(page.top)))
    if page.token is not None:
        params.append(("$skiptoken", page.token))
    else:
        params.append(("$skip", str(page.skip + page.top)))
    return f"{url}?{urlencode(params, safe='$', quote_via=quote)}"


def _missing(entity: EntitySet, entity_id: int) -> NotFound:
    return NotFound(
        f"no {entity.singular} {entity_id}: GET /sta/v1.1/{entity.name} lists those you may see"
    )


def read_collection(ctx: Context, name: str, options: Options) -> Page:
    """``/{name}``: a page of the entity set."""
    entity = entity_set(name)
    check(entity, options)
    return _page(ctx, entity, {}, options)


def read_entity(ctx: Context, name: str, entity_id: int, options: Options) -> dict[str, Any]:
    """``/{name}({id})``: one entity, or 404 (also when the caller may not know of it)."""
    entity = entity_set(name)
    check(entity, options)
    if options.filter or options.orderby or options.top is not None or options.skip:
        raise InputError(
            "$filter, $orderby, $top and $skip apply to collections, not to one entity"
        )
    rows, _ = _select(ctx, entity, {}, options, limit=1, by_id=entity_id)
    if not rows:
        raise NotFound(
            f"no {entity.singular} {entity_id}: GET /sta/v1.1/{name} lists those you may see"
        )
    return _document(ctx, entity, rows[0], options)


def read_related(
    ctx: Context, name: str, entity_id: int, nav_name: str, options: Options
) -> Page | dict[str, Any]:
    """``/{name}({id})/{nav}``: a page of a collection, or the one related entity."""
    entity = entity_set(name)
    nav = _nav(entity, nav_name, "path")
    target = ENTITY_SETS[nav.target]
    check(target, options)
    parent, _ = _select(ctx, entity, {}, Options(select=("id",)), limit=1, by_id=entity_id)
    if not parent:
        raise NotFound(
            f"no {entity.singular} {entity_id}: GET /sta/v1.1/{name} lists those you may see"
        )
    keys = _keys(nav, parent[0])
    if nav.many:
        return _page(ctx, target, keys, options)
    if options.filter or options.orderby or options.top is not None or options.skip:
        raise InputError(
            f"{nav_name} is one entity: $filter, $orderby, $top and $skip do not apply"
        )
    rows, _ = _select(ctx, target, keys, options, limit=1)
    if not rows:
        raise NotFound(f"{entity.singular} {entity_id} has no {nav_name}")
    return _document(ctx, target, rows[0], options)
