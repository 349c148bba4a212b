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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

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


def in_scope(rule: Rule, dev: DeviceInfo) -> bool:
    return rule.where.matches(dev.id, dev.type, dev.layer, dev.tags)


def lock_states(conn: Connection, keys: Sequence[tuple[int, str]]) -> dict[tuple[int, str], State]:
    """The states of ``keys`` (rule id, device id), created ``ok`` when missing, locked
    until the transaction ends."""
    ordered = sorted(set(keys))
    if not ordered:
        return {}
    params = {"r": [k[0] for k in ordered], "d": [k[1] for k in ordered]}
    conn.execute(
        text(
            "INSERT INTO rule_states (rule_id, device_id) "
            "SELECT * FROM unnest(CAST(:r AS integer[]), CAST(:d AS text[])) "
            "ON CONFLICT DO NOTHING"
        ),
        params,
    )
    rows = conn.execute(
        text(
            "SELECT rule_id, device_id, state, since, last_at, memory, alert_id, changed_at "
            "FROM rule_states WHERE (rule_id, device_id) IN "
            "(SELECT * FROM unnest(CAST(:r AS integer[]), CAST(:d AS text[]))) "
            "ORDER BY rule_id, device_id FOR UPDATE"
        ),
        params,
    )
    return {
        (r.rule_id, r.device_id): State(
            r.state, r.since, r.last_at, dict(r.memory or {}), r.alert_id, r.changed_at
        )
        for r in rows
    }


_SAVE = text(
    "UPDATE rule_states SET state = :state, since = :since, last_at = :last_at, "
    "memory = :memory, alert_id = :alert_id, changed_at = :changed_at "
    "WHERE rule_id = :rule_id AND device_id = :device_id"
).bindparams(bindparam("memory", type_=JSONB))


def save_states(conn: Connection, states: dict[tuple[int, str], State]) -> int:
    rows = [
        {
            "rule_id": rid,
            "device_id": did,
            "state": st.state,
            "since": st.since,
            "last_at": st.last_at,
            "memory": st.memory,
            "alert_id": st.alert_id,
            "changed_at": st.changed_at,
        }
        for (rid, did), st in states.items()
        if st.dirty
    ]
    if rows:
        conn.execute(_SAVE, rows)
    return len(rows)


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
