"""A rule's state machine for one device: pure, so timing semantics are tested without I/O.

States: ``ok`` (condition false), ``pending`` (true since ``since``, not yet for the rule's
``for``), ``firing`` (true long enough: the rule's firing actions ran), ``resolved`` (false
again after firing: its resolved actions ran); from ``resolved`` the next true condition
starts a new ``pending``. Time is the observations' own (``at``), so back-dated data
evaluates as it would have live; only no-data leaves need the clock (:func:`tick`).

Each leaf keeps what it needs in ``State.memory`` (JSON, stored with the state):
``a`` the leaves' latched truth (hysteresis: a threshold turns true at ``raise`` and false
only past ``clear``), ``v`` the last value and time of each metric read, ``p`` the previous
value of a rate leaf's metric. An observation older than the state's last one is ignored:
two bridges may store a device's messages in either order, and the older one must not undo
what the newer decided.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import shapely

from twin.rules.model import Condition, Rule


@dataclass
class State:
    """One rule's state for one device (a ``rule_states`` row)."""

    state: str = "ok"
    since: datetime | None = None
    last_at: datetime | None = None
    memory: dict[str, Any] = field(default_factory=dict)
    alert_id: int | None = None
    changed_at: datetime | None = None
    #: set when anything changed (the row must be written back)
    dirty: bool = False


@dataclass(frozen=True)
class Transition:
    """The state became ``firing`` or ``resolved`` at ``at`` (actions follow)."""

    to: str
    at: datetime
    metric: str | None
    value: float | None


def _ts(at: datetime) -> float:
    return at.timestamp()


def observe(rule: Rule, st: State, metric: str, value: float, at: datetime) -> list[Transition]:
    """Feed one observation; the transitions it caused (none if it is older than the last)."""
    if st.last_at is not None and at < st.last_at:
        return []
    st.last_at = at
    st.dirty = True
    mem = st.memory
    latched: dict[str, bool] = mem.setdefault("a", {})
    values: dict[str, list[float]] = mem.setdefault("v", {})
    previous = values.get(metric)
    values[metric] = [value, _ts(at)]
    for key, leaf in rule.leaf_list:
        if metric not in leaf.metric_set:
            continue
        latched[key] = _leaf(leaf, latched.get(key, False), metric, value, at, previous, mem)
    return _advance(rule, st, _truth(rule, latched, ""), at, metric, value)


def tick(rule: Rule, st: State, now: datetime) -> list[Transition]:
    """Advance the clock-driven leaves (no data) to ``now``; the transitions it caused."""
    if not rule.has_no_data():
        return []  # durations of the others advance with observations only
    mem = st.memory
    latched: dict[str, bool] = mem.setdefault("a", {})
    values: dict[str, list[float]] = mem.setdefault("v", {})
    changed = False
    for key, leaf in rule.leaf_list:
        if leaf.no_data is None or leaf.metric is None:
            continue
        seen = values.get(leaf.metric)
        silent = seen is not None and _ts(now) - seen[1] >= leaf.no_data
        if latched.get(key, False) != silent:
            latched[key] = silent
            changed = True
    before = (st.state, st.since)
    out = _advance(rule, st, _truth(rule, latched, ""), now, None, None)
    st.dirty = st.dirty or changed or (st.state, st.since) != before
    return out


def _leaf(
    leaf: Condition,
    was: bool,
    metric: str,
    value: float,
    at: datetime,
    previous: list[float] | None,
    mem: dict[str, Any],
) -> bool:
    kind = leaf.kind
    if kind == "no_data":
        return False  # the metric spoke
    if kind == "geofence":
        assert leaf.geofence is not None
        values = mem["v"]
        lon, lat = values.get(leaf.geofence.lon), values.get(leaf.geofence.lat)
        if lon is None or lat is None:
            return was
        inside = bool(_area(leaf).contains(shapely.Point(lon[0], lat[0])))
        return inside if leaf.geofence.when == "inside" else not inside
    if kind == "rate":
        assert leaf.change_per is not None
        if previous is None or _ts(at) <= previous[1]:
            return was
        value = (value - previous[0]) / (_ts(at) - previous[1]) * leaf.change_per
    return _latch(leaf, was, value)


def _latch(leaf: Condition, was: bool, value: float) -> bool:
    """Hysteresis: true from ``raise``, false only once past ``clear``."""
    assert leaf.raise_ is not None
    level = leaf.clear_level if was else leaf.raise_
    return value <= level if leaf.below else value >= level


_AREAS: dict[int, Any] = {}


def _area(leaf: Condition) -> Any:
    """The leaf's prepared geometry, built once per loaded rule."""
    assert leaf.geofence is not None
    key = id(leaf.geofence)
    area = _AREAS.get(key)
    if area is None or area[0] is not leaf.geofence:
        area = _AREAS[key] = (leaf.geofence, leaf.geofence.shape())
    return area[1]


def _truth(cond: Condition, latched: dict[str, bool], prefix: str) -> bool:
    key = prefix or "c"
    if cond.all is not None:
        return all(_truth(c, latched, f"{key}.{i}") for i, c in enumerate(cond.all))
    if cond.any is not None:
        return any(_truth(c, latched, f"{key}.{i}") for i, c in enumerate(cond.any))
    return latched.get(key, False)


def _advance(
    rule: Rule, st: State, holds: bool, at: datetime, metric: str | None, value: float | None
) -> list[Transition]:
    if holds:
        if st.state in ("ok", "resolved"):
            _move(st, "pending", at)
            st.since = at
        held = (at - st.since).total_seconds() if st.since is not None else -1.0
        if st.state == "pending" and held >= rule.for_:
            _move(st, "firing", at)
            return [Transition("firing", at, metric, value)]
        return []
    if st.state == "pending":
        _move(st, "ok", at)
        st.since = None
    elif st.state == "firing":
        _move(st, "resolved", at)
        st.since = None
        return [Transition("resolved", at, metric, value)]
    return []


def _move(st: State, to: str, at: datetime) -> None:
    st.state = to
    st.changed_at = at
    st.dirty = True


def utc_now() -> datetime:
    return datetime.now(UTC)
