"""SensorThings query options (``$top``, ``$skip``, ``$count``, ``$select``, ``$orderby``,
``$filter``, ``$expand``) read into one typed value, nested options included.

Pure: no SQL and no HTTP. A malformed option is an :class:`~geodata.errors.InputError` (400)
naming the option and what is accepted. Names of properties are checked later, against the
entity set they apply to (:mod:`sensors_bridge.sta.query`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from geodata.errors import InputError

OPTIONS = (
    "$top",
    "$skip",
    "$count",
    "$select",
    "$orderby",
    "$filter",
    "$expand",
    "$skiptoken",
)
#: nesting deeper than this in $expand is refused (each level is a query per entity)
MAX_EXPAND_DEPTH = 4


@dataclass(frozen=True)
class Expand:
    """One navigation property to expand, with the options that apply to what it holds."""

    nav: str
    options: Options


@dataclass(frozen=True)
class Options:
    top: int | None = None
    skip: int = 0
    #: where the previous page ended (``sensors_bridge.sta.keyset``), from a next link
    skiptoken: str | None = None
    count: bool = False
    filter: str | None = None
    select: tuple[str, ...] | None = None
    orderby: tuple[tuple[str, bool], ...] = ()  # (expression, descending)
    expand: tuple[Expand, ...] = field(default=())
    #: the options as given, for the next page's link
    raw: tuple[tuple[str, str], ...] = ()


def split_top(text: str, sep: str) -> list[str]:
    """``text`` split on ``sep`` outside parentheses and single-quoted strings."""
    parts: list[str] = []
    depth, quoted, start = 0, False, 0
    for i, ch in enumerate(text):
        if ch == "'":
            quoted = not quoted  # a doubled quote toggles twice: still right
        elif quoted:
            continue
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise InputError(f"{text!r}: a ')' closes nothing")
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth or quoted:
        raise InputError(f"{text!r}: a parenthesis or a quote is not closed")
    parts.append(text[start:])
    return [p.strip() for p in parts]


def _integer(name: str, raw: str) -> int:
    if not raw.strip().isdigit():
        raise InputError(f"{name}={raw!r}: give a whole number, 0 or more")
    return int(raw)


def _names(name: str, raw: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in raw.split(","))
    if not all(names):
        raise InputError(f"{name}={raw!r}: give property names separated by commas")
    return names


def _orderby(raw: str) -> tuple[tuple[str, bool], ...]:
    out: list[tuple[str, bool]] = []
    for item in split_top(raw, ","):
        expr, _, direction = item.rpartition(" ")
        if direction.lower() not in ("asc", "desc") or not expr.strip():
            expr, direction = item, "asc"
        if not expr.strip():
            raise InputError(f"$orderby={raw!r}: an empty item; write `name asc, id desc`")
        out.append((expr.strip(), direction.lower() == "desc"))
    return tuple(out)


def _expand(raw: str, depth: int) -> tuple[Expand, ...]:
    out: list[Expand] = []
    for item in split_top(raw, ","):
        head, paren, rest = item.partition("(")
        if paren and not rest.endswith(")"):
            raise InputError(f"$expand={raw!r}: {item!r} should end with ')'")
        path = [p.strip() for p in head.split("/")]
        if not all(path):
            raise InputError(f"$expand={raw!r}: an empty navigation property in {item!r}")
        if depth + len(path) > MAX_EXPAND_DEPTH:
            raise InputError(f"$expand: at most {MAX_EXPAND_DEPTH} levels of nesting")
        nested = parse_nested(rest[:-1], depth + len(path)) if paren else Options()
        expand = Expand(path[-1], nested)
        for nav in reversed(path[:-1]):
            expand = Expand(nav, Options(expand=(expand,)))
        out.append(expand)
    return tuple(out)


def parse_options(params: Mapping[str, str], *, depth: int = 0) -> Options:
    """The options of a request (or of an ``$expand`` item), by their ``$`` names.

    Parameters without a ``$`` are not SensorThings' and are left to the caller.
    """
    unknown = [k for k in params if k.startswith("$") and k not in OPTIONS]
    if unknown:
        raise InputError(
            f"unknown query option {unknown[0]!r}: SensorThings reads {', '.join(OPTIONS)}"
        )
    count = params.get("$count", "false")
    if count not in ("true", "false"):
        raise InputError(f"$count={params['$count']!r}: give true or false")
    filter_ = params.get("$filter")
    if filter_ is not None and not filter_.strip():
        raise InputError("$filter is empty: give an expression, e.g. result gt 20")
    return Options(
        top=_integer("$top", params["$top"]) if "$top" in params else None,
        skip=_integer("$skip", params["$skip"]) if "$skip" in params else 0,
        skiptoken=params.get("$skiptoken"),
        count=count == "true",
        filter=filter_,
        select=_names("$select", params["$select"]) if "$select" in params else None,
        orderby=_orderby(params["$orderby"]) if "$orderby" in params else (),
        expand=_expand(params["$expand"], depth) if "$expand" in params else (),
        raw=tuple((k, v) for k, v in params.items() if k in OPTIONS),
    )


def parse_nested(raw: str, depth: int) -> Options:
    """``$top=3;$orderby=phenomenonTime desc``: the options inside an ``$expand`` item."""
    params: dict[str, str] = {}
    for item in split_top(raw, ";"):
        if not item:
            continue
        name, eq, value = item.partition("=")
        if not eq or not name.strip().startswith("$"):
            raise InputError(
                f"$expand option {item!r}: write $name=value, separated by ';' "
                "(e.g. Observations($top=3;$orderby=phenomenonTime desc))"
            )
        params[name.strip()] = value.strip()
    return parse_options(params, depth=depth)
