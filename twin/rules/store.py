"""Rules, their per-device states and the rule catalogue in PostgreSQL.

Why the states live in the database and are locked (``FOR UPDATE``, in rule and device
order so two writers never deadlock) while a batch evaluates them: timing must survive a
restart, and two bridges storing the same device's messages must not both decide. Rules are
loaded once per process and reloaded only when ``twin_meta.rules-version`` moves (a trigger
counts every change to ``rules``), which costs one indexed read per batch.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import Connection, bindparam, text
from sqlalchemy.dialects.postgresql import JSONB

from geodata.errors import NotFound
from twin import audit
from twin.rules.evaluate import State
from twin.rules.model import Rule

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Loaded:
    id: int
    rule: Rule


@dataclass(frozen=True)
class DeviceInfo:
    id: str
    type: str
    layer: str | None
    tags: frozenset[str]
    status: str
    external_id: str | None
    attrs: dict[str, Any]


class RuleCache:
    """The enabled rules of the database, reloaded when their version moves; thread-safe."""

    def __init__(self) -> None:
        self.version: str | None = None
        self.rules: tuple[Loaded, ...] = ()
        self.metrics: frozenset[str] = frozenset()
        self.by_metric: dict[str, tuple[Loaded, ...]] = {}
        self._lock = threading.Lock()

    def refresh(self, conn: Connection) -> tuple[Loaded, ...]:
        version = conn.execute(
            text("SELECT value FROM twin_meta WHERE key = 'rules-version'")
        ).scalar()
        if version == self.version:
            return self.rules
        with self._lock:
            rules = tuple(r for r in load_rules(conn, enabled_only=True) if r.rule.enabled)
            self.rules = rules
            self.metrics = frozenset().union(*(r.rule.metrics() for r in rules))
            self.by_metric = {
                m: tuple(r for r in rules if m in r.rule.metrics()) for m in self.metrics
            }
            self.version = version
        return rules


def load_rules(conn: Connection, *, enabled_only: bool = False) -> list[Loaded]:
    """Every stored rule that still parses (one that does not is logged and skipped: no
    stored row can stop evaluation or a read route)."""
    sql = "SELECT id, name, definition FROM rules"
    sql += " WHERE enabled" if enabled_only else ""
    out: list[Loaded] = []
    for row in conn.execute(text(sql + " ORDER BY name")):
        try:
            out.append(Loaded(row.id, Rule.model_validate(row.definition)))
        except ValidationError as exc:
            log.error("stored rule %s no longer parses, skipped: %s", row.name, exc)
    return out


def get_rule(conn: Connection, name: str) -> Loaded:
    for loaded in load_rules(conn):
        if loaded.rule.name == name:
            return loaded
    raise NotFound(f"no rule {name!r}: GET /api/rules (or `twin rules list`) lists them")


def definition(rule: Rule) -> dict[str, Any]:
    """What is stored: the rule as parsed (defaults and inferred direction written out)."""
    return rule.model_dump(by_alias=True, exclude_none=True, mode="json")


@dataclass
class Applied:
    created: list[str]
    changed: list[str]
    unchanged: list[str]
    deleted: list[str]

    def lines(self) -> list[str]:
        out = []
        for what, names in (
            ("created", self.created),
            ("changed", self.changed),
            ("unchanged", self.unchanged),
            ("deleted", self.deleted),
        ):
            if names:
                out.append(f"{what} {len(names)}: {', '.join(names)}")
        return out or ["nothing to apply"]


_UPSERT = text(
    "INSERT INTO rules (name, definition, enabled) VALUES (:n, :d, :e) "
    "ON CONFLICT (name) DO UPDATE SET definition = EXCLUDED.definition, "
    "enabled = EXCLUDED.enabled, updated_at = now() "
    "WHERE rules.definition IS DISTINCT FROM EXCLUDED.definition "
    "OR rules.enabled IS DISTINCT FROM EXCLUDED.enabled "
    "RETURNING id, (xmax = 0) AS created"
).bindparams(bindparam("d", type_=JSONB))


def apply_rules(
    conn: Connection, rules: Sequence[Rule], actor: str, *, replace: bool = False
) -> Applied:
    """Create or update ``rules`` by name in the caller's transaction; ``replace`` deletes
    the stored rules the list does not name. A changed rule starts again from ``ok`` for
    every device (its states are reset; its open alerts stay open until handled)."""
    done = Applied([], [], [], [])
    for rule in rules:
        row = conn.execute(
            _UPSERT, {"n": rule.name, "d": definition(rule), "e": rule.enabled}
        ).first()
        if row is None:
            done.unchanged.append(rule.name)
            continue
        (done.created if row.created else done.changed).append(rule.name)
        if not row.created:
            conn.execute(text("DELETE FROM rule_states WHERE rule_id = :i"), {"i": row.id})
    if replace:
        names = [r.name for r in rules]
        gone = conn.execute(
            text("DELETE FROM rules WHERE NOT (name = ANY(:n)) RETURNING name"), {"n": names}
        )
        done.deleted = sorted(r[0] for r in gone)
    if done.created or done.changed or done.deleted:
        detail = {k: v for k, v in done.__dict__.items() if v and k != "unchanged"}
        audit.record(conn, "rule", actor, "rules", detail)
    return done


def delete_rule(conn: Connection, name: str, actor: str) -> None:
    row = conn.execute(text("DELETE FROM rules WHERE name = :n RETURNING id"), {"n": name}).first()
    if row is None:
        raise NotFound(f"no rule {name!r}: `twin rules list` lists them")
    audit.record(conn, "rule", actor, f"rule {name}", {"deleted": [name]})


def devices(conn: Connection, ids: Iterable[str]) -> dict[str, DeviceInfo]:
    """What scopes and actions need of each device (active ones only: a quarantined device
    is not vouched for, no rule acts on it until it is adopted)."""
    rows = conn.execute(
        text(
            "SELECT id, type, layer, status, external_id, attrs FROM devices "
            "WHERE id = ANY(:i) AND status = 'active'"
        ),
        {"i": sorted(set(ids))},
    )
    out: dict[str, DeviceInfo] = {}
    for r in rows:
        attrs = r.attrs if isinstance(r.attrs, dict) else {}
        tags = attrs.get("tags")
        tagset = (
            frozenset(t for t in tags if isinstance(t, str))
            if isinstance(tags, list)
            else frozenset()
        )
        out[r.id] = DeviceInfo(r.id, r.type, r.layer, tagset, r.status, r.external_id, attrs)
    return out


class DeviceCache:
    """What scopes need of devices, kept ``ttl`` seconds: a batch of known devices costs no
    query. A device adopted or retyped is seen by the rules within ``ttl``."""

    def __init__(self, ttl: float = 30.0) -> None:
        self.ttl = ttl
        self._known: dict[str, tuple[float, DeviceInfo | None]] = {}

    def get(self, conn: Connection, ids: Iterable[str]) -> dict[str, DeviceInfo]:
        now = time.monotonic()
        wanted = set(ids)
        stale = {i for i in wanted if (hit := self._known.get(i)) is None or hit[0] < now}
        if stale:
            fresh = devices(conn, stale)
            if len(self._known) > 100_000:  # bounded: forget everything now and then
                self._known.clear()
            for i in stale:
                self._known[i] = (now + self.ttl, fresh.get(i))
        return {i: info for i in wanted if (info := self._known[i][1]) is not None}


def in_scope(rule: Rule, dev: DeviceInfo) -> bool:
    return rule.where.matches(dev.id, dev.type, dev.layer, dev.tags)


_LOCK = text(
    "SELECT rule_id, device_id, state, since, last_at, memory, alert_id, changed_at "
    "FROM rule_states WHERE (rule_id, device_id) IN "
    "(SELECT * FROM unnest(CAST(:r AS integer[]), CAST(:d AS text[]))) "
    "ORDER BY rule_id, device_id FOR UPDATE"
)


def lock_states(conn: Connection, keys: Sequence[tuple[int, str]]) -> dict[tuple[int, str], State]:
    """The states of ``keys`` (rule id, device id), created ``ok`` when missing, locked
    until the transaction ends. Existing rows are locked first (one statement once every
    state exists); the missing ones are then inserted (their insert locks them) and read."""
    ordered = sorted(set(keys))
    if not ordered:
        return {}
    found = _locked(conn, ordered)
    missing = [k for k in ordered if k not in found]
    if missing:
        conn.execute(
            text(
                "INSERT INTO rule_states (rule_id, device_id) "
                "SELECT * FROM unnest(CAST(:r AS integer[]), CAST(:d AS text[])) "
                "ON CONFLICT DO NOTHING"
            ),
            {"r": [k[0] for k in missing], "d": [k[1] for k in missing]},
        )
        found |= _locked(conn, missing)
    return found


def _locked(conn: Connection, keys: Sequence[tuple[int, str]]) -> dict[tuple[int, str], State]:
    rows = conn.execute(_LOCK, {"r": [k[0] for k in keys], "d": [k[1] for k in keys]})
    return {
        (r.rule_id, r.device_id): State(
            r.state, r.since, r.last_at, dict(r.memory or {}), r.alert_id, r.changed_at
        )
        for r in rows
    }


_SAVE = text(
    "UPDATE rule_states s SET state = u.state, since = u.since, last_at = u.last_at, "
    "memory = u.memory::jsonb, alert_id = u.alert_id, changed_at = u.changed_at FROM unnest("
    "CAST(:rule_id AS integer[]), CAST(:device_id AS text[]), CAST(:state AS text[]), "
    "CAST(:since AS timestamptz[]), CAST(:last_at AS timestamptz[]), CAST(:memory AS text[]), "
    "CAST(:alert_id AS bigint[]), CAST(:changed_at AS timestamptz[])) "
    "AS u(rule_id, device_id, state, since, last_at, memory, alert_id, changed_at) "
    "WHERE s.rule_id = u.rule_id AND s.device_id = u.device_id"
)


def save_states(conn: Connection, states: dict[tuple[int, str], State]) -> int:
    """Write back what changed, in one statement (arrays, not one UPDATE a row)."""
    changed = [(key, st) for key, st in states.items() if st.dirty]
    if changed:
        conn.execute(
            _SAVE,
            {
                "rule_id": [k[0] for k, _ in changed],
                "device_id": [k[1] for k, _ in changed],
                "state": [st.state for _, st in changed],
                "since": [st.since for _, st in changed],
                "last_at": [st.last_at for _, st in changed],
                "memory": [orjson.dumps(st.memory).decode() for _, st in changed],
                "alert_id": [st.alert_id for _, st in changed],
                "changed_at": [st.changed_at for _, st in changed],
            },
        )
    return len(changed)


def state_rows(conn: Connection, rule_id: int | None = None) -> list[dict[str, Any]]:
    """Stored states (of one rule, or all) with their devices' visibility facts."""
    where = "WHERE s.rule_id = :r" if rule_id is not None else ""
    rows = conn.execute(
        text(
            "SELECT s.rule_id, s.device_id, s.state, s.since, s.last_at, s.changed_at, "
            "s.alert_id, d.visibility, d.layer, d.status FROM rule_states s "
            f"JOIN devices d ON d.id = s.device_id {where} ORDER BY s.device_id"
        ),
        {"r": rule_id},
    ).mappings()
    return [dict(r) for r in rows]


def to_json(value: Any) -> str:
    return json.dumps(value, default=str)
