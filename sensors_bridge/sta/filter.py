"""``$filter`` (and ``$orderby`` expressions) to parameterised SQL over an entity set's view.

The expression is parsed by odata-query's OData grammar (SLY), a maintained parser of the
same OData v4 syntax SensorThings uses; its SQL back-ends target ORM models, not our views,
and know none of SensorThings' ``st_*`` functions, so the translation is ours. The parser is
told about the ``st_*`` functions by replacing its function check on the instance (its
functions are a module-level table; subclassing a SLY parser would rebuild the grammar).

Every literal becomes a bind parameter; property names map to quoted columns of the view
from :mod:`sensors_bridge.sta.entities`, navigation paths to correlated subqueries over the
target's view (so a path never reaches past what the caller may see). Types are checked
here, so a mismatch is a 400 naming the expression, never a database error.
"""

from __future__ import annotations

import re
import types
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import shapely
from odata_query import ast
from odata_query import exceptions as odata_exc
from odata_query.grammar import ODataLexer, ODataParser

from geodata.errors import InputError
from sensors_bridge.sta.entities import ENTITY_SETS, EntitySet, Kind
from sensors_bridge.sta.functions import FUNCTIONS, Sql, call_sql

_COMPARE = {ast.Eq: "=", ast.NotEq: "<>", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_ORDERED = frozenset({Kind.NUM, Kind.STR, Kind.TIME, Kind.DATE, Kind.BOOL})
#: a number past this would overflow double precision in the database
_MAX_NUMBER = 1e300


@dataclass
class Builder:
    """Bind parameters and subquery aliases of one SQL statement."""

    params: dict[str, Any] = field(default_factory=dict)
    aliases: int = 0

    def bind(self, value: Any) -> str:
        name = f"f{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def alias(self) -> str:
        self.aliases += 1
        return f"s{self.aliases}"


def _function_check(parser: ODataParser, func: ast.Identifier, args: list[Any]) -> ast.Call:
    name = _name(func)
    if name not in FUNCTIONS:
        raise InputError(
            f"$filter: unknown function {name!r}; SensorThings functions served here: "
            f"{', '.join(sorted(FUNCTIONS))}"
        )
    low, high = FUNCTIONS[name].arity
    if not low <= len(args) <= high:
        want = str(low) if low == high else f"{low} to {high}"
        raise InputError(f"$filter: {name}() takes {want} argument(s), got {len(args)}")
    return ast.Call(func, args)


def _outside_quotes(text: str, pattern: str, repl: str) -> str:
    parts = text.split("'")
    return "'".join(re.sub(pattern, repl, p) if i % 2 == 0 else p for i, p in enumerate(parts))


def parse_expression(text: str, option: str = "$filter") -> Any:
    """The OData AST of ``text``; a syntax error is a 400 saying where."""
    text = _outside_quotes(text, r"@iot\.id\b", "id")
    parser = ODataParser()
    parser._function_call = types.MethodType(_function_check, parser)  # type: ignore[method-assign]
    try:
        return parser.parse(ODataLexer().tokenize(text))
    except odata_exc.TokenizingException as exc:
        at = exc.token.index
        raise InputError(
            f"{option}: unexpected {text[at : at + 10]!r} at character {at + 1}"
        ) from None
    except odata_exc.ParsingException as exc:
        if exc.eof or exc.token is None:
            where = "the expression ends too early"
        elif not str(exc.token.value).strip():
            where = f"incomplete, or a stray space, at character {exc.token.index + 1}"
        else:
            where = f"cannot read {exc.token.value!r} at character {exc.token.index + 1}"
        raise InputError(f"{option} {text!r}: {where}") from None
    except odata_exc.ODataException as exc:
        raise InputError(f"{option} {text!r}: {exc}") from None


class Translator:
    """Translates one expression against one entity set's view, aliased ``alias``."""

    def __init__(self, entity: EntitySet, alias: str, builder: Builder, option: str) -> None:
        self.entity, self.alias, self.builder, self.option = entity, alias, builder, option

    def fail(self, what: str) -> InputError:
        return InputError(f"{self.option}: {what}")

    # -- properties and paths ---------------------------------------------------------------
    def path(self, names: list[str]) -> Sql:
        return self._path(self.entity, self.alias, names)

    def _path(self, entity: EntitySet, alias: str, names: list[str]) -> Sql:
        head, rest = names[0], names[1:]
        if head in entity.properties:
            kind = entity.properties[head]
            column = f'{alias}."{head}"'
            if not rest:
                if kind is Kind.INTERVAL:
                    raise self.fail(
                        f"{entity.singular}/{head} is a time interval: filter on the "
                        "Observations' phenomenonTime instead"
                    )
                return Sql(column, kind)
            if kind is not Kind.JSON:
                raise self.fail(f"{entity.singular}/{head} has no member {rest[0]!r}")
            return Sql(f"({column} #>> {self.builder.bind(rest)})", Kind.STR)
        if head in entity.navs:
            nav = entity.navs[head]
            if not rest:
                raise self.fail(
                    f"{head} is a navigation property of {entity.name}: name one of its "
                    f"properties, e.g. {head}/name"
                )
            if nav.many and not nav.at_most_one:
                raise self.fail(
                    f"{entity.singular}/{head} is a collection: filter the {head} "
                    f"themselves, e.g. /{entity.name}(1)/{head}?$filter=..."
                )
            target = ENTITY_SETS[nav.target]
            sub = self.builder.alias()
            inner = self._path(target, sub, rest)
            on = " AND ".join(f'{sub}."{t}" = {alias}."{s}"' for s, t in nav.keys)
            return Sql(
                f"(SELECT {inner.text} FROM ({target.view}) {sub} WHERE {on} LIMIT 1)", inner.kind
            )
        known = ", ".join([*entity.properties, *entity.navs])
        raise self.fail(f"{entity.name} have no property {head!r}; they have {known}")

    # -- expressions --------------------------------------------------------------------------
    def expr(self, node: Any) -> Sql:
        if isinstance(node, ast.Identifier):
            return self.path([node.name])
        if isinstance(node, ast.Attribute):
            return self.path(_explode(node))
        if isinstance(node, ast._Literal):
            return self.literal(node)
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.BoolOp):
            left, right = self.boolean(node.left), self.boolean(node.right)
            op = "AND" if isinstance(node.op, ast.And) else "OR"
            return Sql(f"({left} {op} {right})", Kind.BOOL)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not):
                return Sql(f"(NOT {self.boolean(node.operand)})", Kind.BOOL)
            operand = self.expr(node.operand)
            if operand.kind is not Kind.NUM:
                raise self.fail(f"'-' needs a number, not a {operand.kind.value}")
            return Sql(f"(-{operand.text})", Kind.NUM)
        if isinstance(node, ast.BinOp):
            return self.arithmetic(node)
        if isinstance(node, ast.Call):
            args = [self.expr(a) for a in node.args]
            return call_sql(_name(node.func), args, self.fail)
        raise self.fail(f"{type(node).__name__} expressions are not supported")

    def boolean(self, node: Any) -> str:
        got = self.expr(node)
        if got.kind is not Kind.BOOL:
            raise self.fail(f"expected a condition, got a {got.kind.value} ({_show(node)})")
        return got.text

    def literal(self, node: Any) -> Sql:
        bind = self.builder.bind
        if isinstance(node, ast.Null):
            return Sql("NULL", Kind.NULL)
        if isinstance(node, ast.Integer | ast.Float):
            value = int(node.val) if isinstance(node, ast.Integer) else float(node.val)
            if abs(value) > _MAX_NUMBER:
                raise self.fail(f"the number {node.val} is too large")
            cast = "numeric" if isinstance(value, int) else "double precision"
            return Sql(f"CAST({bind(value)} AS {cast})", Kind.NUM)
        if isinstance(node, ast.String):
            return Sql(f"CAST({bind(node.val)} AS text)", Kind.STR)
        if isinstance(node, ast.Boolean):
            return Sql(f"CAST({bind(node.val.lower() == 'true')} AS boolean)", Kind.BOOL)
        if isinstance(node, ast.DateTime):
            return Sql(f"CAST({bind(_instant(node.val, self.fail))} AS timestamptz)", Kind.TIME)
        if isinstance(node, ast.Date):
            try:
                day = date.fromisoformat(node.val)
            except ValueError:
                raise self.fail(f"{node.val!r} is no calendar date") from None
            return Sql(f"CAST({bind(day)} AS date)", Kind.DATE)
        if isinstance(node, ast.Geography):
            return Sql(f"ST_GeomFromText({bind(_wkt(node.val, self.fail))}, 4326)", Kind.GEOM)
        raise self.fail(f"{type(node).__name__} literals are not supported ({_show(node)})")

    def compare(self, node: ast.Compare) -> Sql:
        if isinstance(node.comparator, ast.In):
            left = self.expr(node.left)
            values = node.right.val if isinstance(node.right, ast.List) else [node.right]
            items = [self.expr(v) for v in values]
            for item in items:
                _same_kind(left, item, "in", self.fail)
            return Sql(f"({left.text} IN ({', '.join(i.text for i in items)}))", Kind.BOOL)
        left, right = self._coerced(node.left, node.right)
        op = _COMPARE[type(node.comparator)]
        if Kind.NULL in (left.kind, right.kind):
            if op not in ("=", "<>"):
                raise self.fail("null can only be compared with eq or ne")
            other = right if left.kind is Kind.NULL else left
            return Sql(f"({other.text} IS {'NOT ' if op == '<>' else ''}NULL)", Kind.BOOL)
        _same_kind(left, right, op, self.fail)
        if left.kind not in _ORDERED:
            raise self.fail(f"a {left.kind.value} cannot be compared with {op}")
        return Sql(f"({left.text} {op} {right.text})", Kind.BOOL)

    def _coerced(self, a: Any, b: Any) -> tuple[Sql, Sql]:
        """Both sides; a quoted time compared with a time is read as a time (clients send
        ``phenomenonTime gt '2026-12-01T00:00:00Z'`` as often as the bare literal)."""
        left, right = self.expr(a), self.expr(b)
        if left.kind is Kind.TIME and isinstance(b, ast.String):
            right = self.literal(ast.DateTime(b.val))
        elif right.kind is Kind.TIME and isinstance(a, ast.String):
            left = self.literal(ast.DateTime(a.val))
        return left, right

    def arithmetic(self, node: ast.BinOp) -> Sql:
        left, right = self.expr(node.left), self.expr(node.right)
        if left.kind is not Kind.NUM or right.kind is not Kind.NUM:
            raise self.fail(f"arithmetic needs numbers ({_show(node.left)}, {_show(node.right)})")
        if isinstance(node.op, ast.Div):
            return Sql(
                f"(CAST({left.text} AS double precision) / NULLIF({right.text}, 0))", Kind.NUM
            )
        if isinstance(node.op, ast.Mod):
            return Sql(
                f"mod(CAST({left.text} AS numeric), NULLIF(CAST({right.text} AS numeric), 0))",
                Kind.NUM,
            )
        op = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*"}[type(node.op)]
        return Sql(f"({left.text} {op} {right.text})", Kind.NUM)


def _name(func: ast.Identifier) -> str:
    """A function's dotted name (odata-query's ``full_name`` is untyped)."""
    return ".".join([*func.namespace, func.name])


def _explode(node: ast.Attribute) -> list[str]:
    owner = node.owner
    head = _explode(owner) if isinstance(owner, ast.Attribute) else [getattr(owner, "name", "")]
    return [*head, node.attr]


def _show(node: Any) -> str:
    if isinstance(node, ast.Identifier):
        return node.name
    if isinstance(node, ast.Attribute):
        return "/".join(_explode(node))
    return str(getattr(node, "val", type(node).__name__))


def _same_kind(a: Sql, b: Sql, op: str, fail: Any) -> None:
    if a.kind is not b.kind:
        raise fail(f"cannot compare a {a.kind.value} with a {b.kind.value} ({op})")


def _instant(text: str, fail: Any) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise fail(f"{text!r} is no time: write RFC 3339, e.g. 2026-12-01T10:00:00Z") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _wkt(text: str, fail: Any) -> str:
    body = re.sub(r"^\s*SRID=4326;", "", text, flags=re.I)
    try:
        geom = shapely.from_wkt(body)
    except shapely.errors.GEOSException as exc:
        raise fail(f"geography'{text}' is not WKT ({exc}); e.g. POLYGON((x y, ...))") from None
    if geom is None or geom.is_empty or not geom.is_valid:
        raise fail(f"geography'{text}' is empty or not a valid geometry")
    if not shapely.is_valid_input(geom) or not all(
        -180 <= x <= 180 and -90 <= y <= 90 for x, y in shapely.get_coordinates(geom)
    ):
        raise fail(f"geography'{text}': give WGS 84 longitude and latitude in degrees")
    return str(shapely.to_wkt(geom))


def where_sql(entity: EntitySet, alias: str, text: str, builder: Builder) -> str:
    """The SQL condition of a ``$filter`` on ``entity``'s view aliased ``alias``."""
    return Translator(entity, alias, builder, "$filter").boolean(parse_expression(text))


def order_sql(entity: EntitySet, alias: str, text: str, builder: Builder) -> str:
    """The SQL of one ``$orderby`` expression (a property, a path or a function of them)."""
    got = Translator(entity, alias, builder, "$orderby").expr(parse_expression(text, "$orderby"))
    if got.kind not in _ORDERED:
        raise InputError(f"$orderby {text!r}: a {got.kind.value} has no order")
    return got.text
