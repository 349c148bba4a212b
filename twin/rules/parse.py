"""Rule files (YAML, or JSON, which YAML reads too) into :class:`~twin.rules.model.Rule`,
with errors that name the line and the field.

Why compose YAML nodes ourselves instead of ``yaml.safe_load``: the nodes carry their line,
and pydantic's error carries the path of the field at fault; a map from path to line joins
them. Keys are taken as written (YAML 1.1 would read a key ``on`` as the boolean true), and a
key given twice is an error (YAML would keep the last one silently). A file is all or
nothing: every error is reported, no rule is applied until all are right.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml
from pydantic import ValidationError

from geodata.errors import InputError
from twin.rules.model import Rule

Path_ = tuple[str | int, ...]
#: at most this many errors are listed (the rest are counted)
MAX_ERRORS = 20
#: at most this many values in one file (YAML aliases could otherwise expand it endlessly)
MAX_NODES = 200_000


class RuleFileError(InputError):
    """A rule file that cannot be applied; ``problems`` lists ``line, field, message``."""

    def __init__(self, source: str, problems: Sequence[tuple[int | None, str, str]]) -> None:
        self.problems = list(problems)
        shown = [
            f"{source}"
            + (f" line {line}" if line else "")
            + (f", {fld}" if fld else "")
            + f": {msg}"
            for line, fld, msg in self.problems[:MAX_ERRORS]
        ]
        more = len(self.problems) - MAX_ERRORS
        if more > 0:
            shown.append(f"... and {more} more")
        super().__init__("\n".join(shown) + "\nnothing was applied")


class _Located:
    """A YAML document as Python values and the line of every path in it."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: dict[Path_, int] = {}
        self.problems: list[tuple[int | None, str, str]] = []
        self.nodes = 0

    def value(self, node: yaml.Node, path: Path_, loader: yaml.SafeLoader) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:  # aliases can expand a short text without end
            raise ValueError(f"more than {MAX_NODES} values: a rule file is smaller than that")
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    self._problem(key_node, path, "a key must be a plain word")
                    continue
                key = str(key_node.value)
                if "\x00" in key:
                    self._problem(key_node, path, "a key holds a NUL character")
                    continue
                if key in out:
                    self._problem(key_node, (*path, key), f"key {key!r} is given twice")
                    continue
                out[key] = self.value(value_node, (*path, key), loader)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.value(n, (*path, i), loader) for i, n in enumerate(node.value)]
        value = loader.construct_object(node, deep=True)
        if isinstance(value, str) and "\x00" in value:  # PostgreSQL text cannot hold it
            self._problem(node, path, "a text holds a NUL character")
        return value

    def _problem(self, node: yaml.Node, path: Path_, msg: str) -> None:
        self.problems.append((node.start_mark.line + 1, field_name(path), msg))

    def line(self, path: Path_) -> int | None:
        for n in range(len(path), -1, -1):
            if path[:n] in self.lines:
                return self.lines[path[:n]]
        return None


def field_name(path: Path_) -> str:
    """``rules[0].actions[1].webhook.url`` from a path."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def load_document(text: str, source: str = "<rules>") -> tuple[list[Any], _Located, Path_]:
    """The list of rule documents in ``text``, where it is, and the path of the list."""
    doc = _Located(source)
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            data = doc.value(node, (), loader) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise RuleFileError(source, [(line, "", f"not YAML or JSON: {exc.problem}")]) from None
    except yaml.YAMLError as exc:
        raise RuleFileError(source, [(None, "", f"not YAML or JSON: {exc}")]) from None
    except (ValueError, TypeError, RecursionError) as exc:  # a constructor's own refusal
        raise RuleFileError(source, [(None, "", f"not YAML or JSON: {exc}")]) from None
    at: Path_
    if isinstance(data, dict) and "rules" in data:
        extra = sorted(set(data) - {"rules"})
        if extra:
            doc.problems.append((doc.line((extra[0],)), extra[0], "a rule file holds `rules`"))
        items, at = data["rules"], ("rules",)
    elif isinstance(data, dict) and "name" in data:
        items, at = [data], ()
        doc.lines = {(0, *k): v for k, v in doc.lines.items()}
    else:
        items, at = data, ()
    if not isinstance(items, list):
        raise RuleFileError(
            source,
            [(doc.line(at), field_name(at), "give a list of rules (or `rules:` and a list)")],
        )
    return items, doc, at


def parse_rules(text: str, source: str = "<rules>") -> list[Rule]:
    """Every rule of a YAML or JSON document (a list, ``{"rules": [...]}`` or one rule).

    :raises RuleFileError: anything wrong, each problem with its line and field.
    """
    items, doc, at = load_document(text, source)
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        here = (*at, i)
        try:
            rule = Rule.model_validate(item)
        except ValidationError as exc:
            for err in exc.errors():
                loc = _clean_loc(err["loc"])
                doc.problems.append(
                    (doc.line((*here, *loc)), field_name((*here, *loc)), _message(err))
                )
            continue
        if rule.name in seen:
            doc.problems.append(
                (
                    doc.line((*here, "name")),
                    field_name((*here, "name")),
                    f"rule {rule.name!r} is named twice (first in rule {seen[rule.name]})",
                )
            )
        seen[rule.name] = i
        rules.append(rule)
    if doc.problems:
        raise RuleFileError(source, sorted(doc.problems, key=lambda p: p[0] or 0))
    return rules


def _clean_loc(loc: tuple[int | str, ...]) -> Path_:
    """pydantic's path without the names of union members and validators it inserts."""
    return tuple(p for p in loc if isinstance(p, int) or not _internal(p))


def _internal(part: str) -> bool:
    return part.startswith(("function-", "list[", "dict[", "tuple[", "literal[")) or part in (
        "float",
        "str",
        "int",
        "bool",
        "constrained-str",
        "json-or-python[json=list[float],python=list[float]]",
    )


def _message(err: Any) -> str:
    msg = str(err["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    if err["type"] == "extra_forbidden":
        return "unknown field (check its spelling: see `twin rules --help` and the examples)"
    if err["type"] == "missing":
        return "this field is required"
    return msg
