"""OGC API - Features Part 3 filters: CQL2 text or JSON, parsed by pygeofilter, turned into a
parameterised SQL condition here. No value of the client's ever becomes SQL text: literals
are bound parameters, properties are looked up among the layer's queryables (the column
names are ours), operators come from a fixed table.

Expressions are typed as they are translated, so a comparison PostgreSQL would refuse (a
string column against a number) is a 400 naming both sides, not a database error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import shapely
from shapely.geometry import shape

from geodata.errors import InputError
from geodata.queryables import GEOMETRY, Queryable

#: filter-lang values
CQL2_TEXT, CQL2_JSON = "cql2-text", "cql2-json"
_COMPARE = {
    "Equal": "=",
    "NotEqual": "<>",
    "LessThan": "<",
    "LessEqual": "<=",
    "GreaterThan": ">",
    "GreaterEqual": ">=",
}
_SPATIAL = {
    "GeometryIntersects": "ST_Intersects",
    "GeometryDisjoint": "ST_Disjoint",
    "GeometryContains": "ST_Contains",
    "GeometryWithin": "ST_Within",
    "GeometryTouches": "ST_Touches",
    "GeometryCrosses": "ST_Crosses",
    "GeometryOverlaps": "ST_Overlaps",
    "GeometryEquals": "ST_Equals",
}
_ARITHMETIC = {"Add": "+", "Sub": "-", "Mul": "*", "Div": "/"}
_NUMERIC = {"integer", "number"}
#: the longest filter read (a polygon of a few thousand vertices)
MAX_FILTER_CHARS = 200_000


@dataclass
class Filter:
    """A translated filter: the SQL condition and its bound parameters."""

    sql: str
    params: dict[str, Any] = field(default_factory=dict)


def parse_filter(text: str, lang: str | None) -> Any:
    """The pygeofilter AST of ``filter`` in ``filter-lang`` (default CQL2 text)."""
    if len(text) > MAX_FILTER_CHARS:
        raise InputError(f"filter is longer than {MAX_FILTER_CHARS} characters")
    lang = (lang or CQL2_TEXT).strip().lower()
    try:
        if lang == CQL2_TEXT:
            from pygeofilter.parsers.cql2_text import parse

            return parse(text)
        if lang == CQL2_JSON:
            import json

            from pygeofilter.parsers.cql2_json import parse as parse_json

            return parse_json(json.loads(text))
    except InputError:
        raise
    except Exception as exc:  # the parsers raise lark's and json's errors, and ValueError
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"malformed {lang} filter: {first}") from None
    raise InputError(f"unknown filter-lang {lang!r}: use {CQL2_TEXT} or {CQL2_JSON}")


class _Translator:
    def __init__(self, queryables: dict[str, Queryable], filter_srid: int, flip: bool, srid: int):
        self.q = queryables
        self.filter_srid = filter_srid
        self.flip = flip
        self.srid = srid
        self.params: dict[str, Any] = {}

    def bind(self, value: Any) -> str:
        name = f"cql{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    # -- expressions: (sql, kind) ------------------------------------------------------------
    def expr(self, node: Any) -> tuple[str, str]:
        from pygeofilter import ast, values

        if isinstance(node, ast.Attribute):
            q = self.q.get(node.name)
            if q is None:
                known = ", ".join(self.q)
                raise InputError(
                    f"unknown property {node.name!r} in filter: queryables are {known}"
                )
            return q.column, q.kind
        if isinstance(node, bool):
            return self.bind(node), "boolean"
        if isinstance(node, int):
            return self.bind(node), "integer"
        if isinstance(node, float):
            return self.bind(node), "number"
        if isinstance(node, str):
            return self.bind(node), "string"
        if isinstance(node, datetime | date):
            return self.bind(node), "datetime"
        if node is None:
            return "NULL", "null"
        if isinstance(node, values.Geometry | ast.BBox) or (
            isinstance(node, ast.Function) and node.name.lower() == "bbox"
        ):
            return self.geometry(node), "geometry"
        if type(node).__name__ in _ARITHMETIC:
            lhs, lk = self.expr(node.lhs)
            rhs, rk = self.expr(node.rhs)
            if lk not in _NUMERIC or rk not in _NUMERIC:
                raise InputError("arithmetic in a filter needs numbers on both sides")
            return f"({lhs} {_ARITHMETIC[type(node).__name__]} {rhs})", "number"
        if isinstance(node, ast.Function) and node.name.lower() in ("lower", "casei"):
            arg, kind = self.expr(node.arguments[0])
            if kind != "string":
                raise InputError("CASEI applies to text")
            return f"lower({arg})", "string"
        if isinstance(node, ast.Function):
            raise InputError(f"the filter function {node.name!r} is not supported here")
        raise InputError(f"unsupported filter expression {type(node).__name__}")

    def geometry(self, node: Any) -> str:
        """A literal geometry (GeoJSON from the parsers, or a BBOX) in the filter's CRS."""
        from pygeofilter import ast, values

        if isinstance(node, values.Geometry):
            try:
                geom = shape(node.geometry)
            except Exception:
                raise InputError("a geometry in the filter is not valid GeoJSON") from None
        else:
            nums = node.arguments if isinstance(node, ast.Function) else [
                node.minx, node.miny, node.maxx, node.maxy]  # fmt: skip
            if len(nums) not in (4, 6) or not all(isinstance(n, int | float) for n in nums):
                raise InputError("BBOX in a filter takes 4 (or 6) numbers")
            half = len(nums) // 2
            geom = shapely.box(nums[0], nums[1], nums[half], nums[half + 1])
        if self.flip:
            geom = shapely.transform(geom, lambda c: c[:, ::-1])
        if geom.is_empty:
            raise InputError("an empty geometry in the filter")
        wkb = self.bind(shapely.to_wkb(shapely.force_2d(geom)))
        literal = f"ST_GeomFromWKB({wkb}, {int(self.filter_srid)})"
        return literal if self.filter_srid == self.srid else f"ST_Transform({literal}, {self.srid})"

    # -- conditions ---------------------------------------------------------------------------
    def cond(self, node: Any) -> str:
        from pygeofilter import ast

        name = type(node).__name__
        if isinstance(node, ast.And | ast.Or):
            op = "AND" if isinstance(node, ast.And) else "OR"
            return f"({self.cond(node.lhs)} {op} {self.cond(node.rhs)})"
        if isinstance(node, ast.Not):
            return f"(NOT {self.cond(node.sub_node)})"
        if name in _COMPARE:
            lhs, rhs = self.comparable(node.lhs, node.rhs)
            return f"({lhs} {_COMPARE[name]} {rhs})"
        if isinstance(node, ast.Between):
            lhs, low = self.comparable(node.lhs, node.low)
            _, high = self.comparable(node.lhs, node.high)
            return f"({lhs} {'NOT ' if node.not_ else ''}BETWEEN {low} AND {high})"
        if isinstance(node, ast.Like):
            lhs, kind = self.expr(node.lhs)
            if kind != "string" or not isinstance(node.pattern, str):
                raise InputError("LIKE compares a text property with a text pattern")
            op = ("NOT " if node.not_ else "") + ("ILIKE" if node.nocase else "LIKE")
            return f"({lhs} {op} {self.bind(node.pattern)})"
        if isinstance(node, ast.In):
            pairs = [self.comparable(node.lhs, v) for v in node.sub_nodes]
            if not pairs:
                raise InputError("IN needs at least one value")
            items = ", ".join(p[1] for p in pairs)
            return f"({pairs[0][0]} {'NOT ' if node.not_ else ''}IN ({items}))"
        if isinstance(node, ast.IsNull):
            lhs, _ = self.expr(node.lhs)
            return f"({lhs} IS {'NOT ' if node.not_ else ''}NULL)"
        if name in _SPATIAL or isinstance(node, ast.BBox):
            return self.spatial(node)
        if isinstance(node, ast.TemporalPredicate):
            return self.temporal(node)
        if isinstance(node, bool):
            return "TRUE" if node else "FALSE"
        raise InputError(f"the filter operator {name} is not supported here")

    def comparable(self, a: Any, b: Any) -> tuple[str, str]:
        lhs, lk = self.expr(a)
        rhs, rk = self.expr(b)
        if "geometry" in (lk, rk):
            raise InputError("compare geometries with spatial operators (S_INTERSECTS ...)")
        if lk != rk and not ({lk, rk} <= _NUMERIC) and "null" not in (lk, rk):
            raise InputError(f"the filter compares a {lk} with a {rk}")
        return lhs, rhs

    def spatial(self, node: Any) -> str:
        from pygeofilter import ast

        lhs, lk = self.expr(node.lhs)
        if lk != "geometry":
            raise InputError(f"a spatial operator needs the {GEOMETRY!r} property")
        if isinstance(node, ast.BBox):
            return f"ST_Intersects({lhs}, {self.geometry(node)})"
        rhs, rk = self.expr(node.rhs)
        if rk != "geometry":
            raise InputError("a spatial operator compares the geometry with a geometry")
        return f"{_SPATIAL[type(node).__name__]}({lhs}, {rhs})"

    def temporal(self, node: Any) -> str:
        from pygeofilter import ast, values

        lhs, lk = self.expr(node.lhs)
        if lk != "datetime":
            raise InputError("a temporal operator needs a time property (updated_at)")
        rhs = node.rhs
        if isinstance(rhs, values.Interval):
            start = self.bind(rhs.start) if rhs.start is not None else None
            end = self.bind(rhs.end) if rhs.end is not None else None
            lo = f"{lhs} >= {start}" if start else "TRUE"
            hi = f"{lhs} <= {end}" if end else "TRUE"
            inside = f"({lo} AND {hi})"
            table = {
                ast.TimeDuring: f"({lo.replace('>=', '>')} AND {hi.replace('<=', '<')})",
                ast.TimeAfter: f"({lhs} > {end})" if end else "FALSE",
                ast.TimeBefore: f"({lhs} < {start})" if start else "FALSE",
                ast.TimeDisjoint: f"(NOT {inside})",
            }
        else:
            value, kind = self.expr(rhs)
            if kind != "datetime":
                raise InputError("a temporal operator compares a time with a TIMESTAMP or INTERVAL")
            table = {
                ast.TimeAfter: f"({lhs} > {value})",
                ast.TimeBefore: f"({lhs} < {value})",
                ast.TimeEquals: f"({lhs} = {value})",
                ast.TimeDisjoint: f"({lhs} <> {value})",
            }
            inside = f"({lhs} = {value})"
        for kind, sql in table.items():
            if isinstance(node, kind):
                return sql
        if type(node).__name__ == "TimeIntersects" or isinstance(node, ast.TimeEquals):
            return inside
        raise InputError(f"{type(node).__name__} is not defined between an instant and this value")


def to_sql(
    ast_root: Any, queryables: dict[str, Queryable], *, srid: int, filter_srid: int = 4326,
    flip: bool = False,
) -> Filter:  # fmt: skip
    """The SQL condition of a parsed filter over a layer stored in EPSG ``srid``; spatial
    literals are in ``filter_srid`` (``flip``: given northing first)."""
    t = _Translator(queryables, filter_srid, flip, srid)
    return Filter(t.cond(ast_root), t.params)
