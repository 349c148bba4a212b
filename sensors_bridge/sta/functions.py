"""The ``$filter`` functions of SensorThings v1.1 served here, each a SQL template.

Times are read in UTC (the twin stores ``timestamptz``; SensorThings' examples are UTC).
Geometry functions take WGS 84 geometry (the views transform stored geometry to 4326) and
follow the Simple Features semantics PostGIS implements.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from geodata.errors import InputError
from sensors_bridge.sta.entities import Kind

_T, _N, _S, _G, _B, _D = Kind.TIME, Kind.NUM, Kind.STR, Kind.GEOM, Kind.BOOL, Kind.DATE


@dataclass(frozen=True)
class Sql:
    """A translated expression: its SQL text and what kind of value it yields."""

    text: str
    kind: Kind


@dataclass(frozen=True)
class Function:
    args: tuple[frozenset[Kind], ...]
    result: Kind
    template: str  # {0}, {1}... are the arguments' SQL

    @property
    def arity(self) -> tuple[int, int]:
        return len(self.args), len(self.args)


def _time_part(field: str) -> Function:
    return Function(
        (frozenset({_T, _D}),),
        _N,
        f"CAST(floor(EXTRACT({field} FROM {{0}})) AS integer)",
    )


_GEOM2 = (frozenset({_G}), frozenset({_G}))
_STR2 = (frozenset({_S}), frozenset({_S}))
FUNCTIONS: dict[str, Function] = {
    **{
        name: _time_part(name.upper())
        for name in ("year", "month", "day", "hour", "minute", "second")
    },
    "fractionalseconds": Function(
        (frozenset({_T}),), _N, "(EXTRACT(SECOND FROM {0}) - floor(EXTRACT(SECOND FROM {0})))"
    ),
    "date": Function((frozenset({_T}),), _D, "CAST({0} AS date)"),
    "now": Function((), _T, "now()"),
    "mindatetime": Function((), _T, "CAST('-infinity' AS timestamptz)"),
    "maxdatetime": Function((), _T, "CAST('infinity' AS timestamptz)"),
    "totaloffsetminutes": Function((frozenset({_T}),), _N, "0"),
    "contains": Function(_STR2, _B, "(strpos({0}, {1}) > 0)"),
    "substringof": Function(_STR2, _B, "(strpos({1}, {0}) > 0)"),
    "startswith": Function(_STR2, _B, "(left({0}, length({1})) = {1})"),
    "endswith": Function(_STR2, _B, "(right({0}, length({1})) = {1})"),
    "indexof": Function(_STR2, _N, "(strpos({0}, {1}) - 1)"),
    "concat": Function(_STR2, _S, "({0} || {1})"),
    "length": Function((frozenset({_S}),), _N, "length({0})"),
    "tolower": Function((frozenset({_S}),), _S, "lower({0})"),
    "toupper": Function((frozenset({_S}),), _S, "upper({0})"),
    "trim": Function((frozenset({_S}),), _S, "btrim({0})"),
    "round": Function((frozenset({_N}),), _N, "round(CAST({0} AS numeric))"),
    "floor": Function((frozenset({_N}),), _N, "floor({0})"),
    "ceiling": Function((frozenset({_N}),), _N, "ceiling({0})"),
    "geo.distance": Function(_GEOM2, _N, "ST_Distance({0}, {1})"),
    "geo.length": Function((frozenset({_G}),), _N, "ST_Length({0})"),
    "geo.intersects": Function(_GEOM2, _B, "ST_Intersects({0}, {1})"),
    **{
        f"st_{name}": Function(_GEOM2, _B, f"ST_{name.capitalize()}({{0}}, {{1}})")
        for name in (
            "equals",
            "disjoint",
            "touches",
            "within",
            "overlaps",
            "crosses",
            "intersects",
            "contains",
        )
    },
}
#: times are read on the UTC clock, whatever the session's time zone
_UTC_ARGS = frozenset({"year", "month", "day", "hour", "minute", "second", "date"})


def call_sql(name: str, args: list[Sql], fail: Callable[[str], InputError]) -> Sql:
    """The SQL of ``name(args)``, each argument's kind checked."""
    fn = FUNCTIONS[name]
    texts: list[str] = []
    for i, (arg, allowed) in enumerate(zip(args, fn.args, strict=True)):
        if arg.kind not in allowed:
            wanted = " or ".join(sorted(k.value for k in allowed))
            raise fail(f"{name}() argument {i + 1} must be a {wanted}, not a {arg.kind.value}")
        utc = name in _UTC_ARGS and arg.kind is Kind.TIME
        texts.append(f"({arg.text} AT TIME ZONE 'UTC')" if utc else arg.text)
    return Sql(fn.template.format(*texts), fn.result)
