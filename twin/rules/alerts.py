"""Alerts: opened and resolved by rules, acknowledged or resolved by people; every change
announced on ``twin/live/alert/{device_id}`` through the outbox (after the commit).

Why the database enforces one alert not resolved per rule and device (a partial unique
index) rather than the evaluator alone: a rule changed while its alert is open starts its
states again, and a second writer could race; the insert then finds the open alert and
adopts it instead of opening a second one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, text

from geodata.access import Principal, check_role, device_visible, strictest
from geodata.crs import box_in
from geodata.errors import Conflict, InputError, NotFound
from geodata.layers import LAYERS
from geodata.working_crs import get_working_crs
from twin import audit
from twin.rules import outbox

#: who may acknowledge and resolve alerts
HANDLERS = ("agent", "operator", "admin")
ALERT_TOPIC = "twin/live/alert/{device_id}"

_COLUMNS = (
    "a.id, a.rule, a.device_id, a.state, a.severity, a.message, a.metric, a.value, "
    "a.opened_at, a.acknowledged_at, a.acknowledged_by, a.resolved_at, a.resolved_by"
)
_SELECT = (
    f"SELECT {_COLUMNS}, d.layer, d.visibility, d.status, "
    "ST_X(ST_Transform(d.geom, 4326)) AS lon, ST_Y(ST_Transform(d.geom, 4326)) AS lat "
    "FROM alerts a LEFT JOIN devices d ON d.id = a.device_id"
)


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def payload(row: RowMapping | dict[str, Any]) -> dict[str, Any]:
    """The alert as the contract's MQTT payload (``twin/live/alert/{device_id}``)."""
    return {
        "id": row["id"],
        "rule": row["rule"],
        "device_id": row["device_id"],
        "state": row["state"],
        "severity": row["severity"],
        "message": row["message"],
        "value": row["value"],
        "opened_at": _iso(row["opened_at"]),
        "acknowledged_at": _iso(row["acknowledged_at"]),
        "acknowledged_by": row["acknowledged_by"],
        "resolved_at": _iso(row["resolved_at"]),
        "resolved_by": row["resolved_by"],
    }


def _announce(conn: Connection, row: RowMapping) -> None:
    if row["device_id"] is not None:
        topic = ALERT_TOPIC.format(device_id=row["device_id"])
        outbox.add(conn, "mqtt", topic, payload(row), rule=row["rule"], device=row["device_id"])


@dataclass(frozen=True)
class Opening:
    rule_id: int
    rule: str
    device_id: str
    severity: str
    message: str
    metric: str | None
    value: float | None
    at: datetime


def open_alert(conn: Connection, o: Opening) -> int:
    """Open the alert (or adopt the one already open for this rule and device); its id."""
    row = (
        conn.execute(
            text(
                "INSERT INTO alerts (rule_id, rule, device_id, state, severity, message, "
                "metric, value, opened_at) VALUES (:rid, :rule, :dev, 'open', :sev, :msg, :m, "
                ":v, :at) ON CONFLICT (rule, device_id) WHERE state <> 'resolved' DO NOTHING "
                f"RETURNING {_COLUMNS.replace('a.', '')}"
            ),
            {
                "rid": o.rule_id,
                "rule": o.rule,
                "dev": o.device_id,
                "sev": o.severity,
                "msg": o.message,
                "m": o.metric,
                "v": o.value,
                "at": o.at,
            },
        )
        .mappings()
        .first()
    )
    if row is None:
        found = conn.execute(
            text(
                "SELECT id FROM alerts WHERE rule = :r AND device_id = :d AND state <> 'resolved'"
            ),
            {"r": o.rule, "d": o.device_id},
        ).scalar_one()
        return int(found)
    _announce(conn, row)
    return int(row["id"])


def resolve_by_rule(conn: Connection, alert_id: int, at: datetime) -> None:
    """The rule's condition cleared: resolve its alert unless someone already did."""
    row = (
        conn.execute(
            text(
                "UPDATE alerts SET state = 'resolved', resolved_at = :at, resolved_by = 'rule' "
                f"WHERE id = :i AND state <> 'resolved' RETURNING {_COLUMNS.replace('a.', '')}"
            ),
            {"i": alert_id, "at": at},
        )
        .mappings()
        .first()
    )
    if row is not None:
        _announce(conn, row)


def _visible(principal: Principal, row: RowMapping) -> bool:
    layer = LAYERS.get(row["layer"]) if row["layer"] else None
    if row["visibility"] is None:  # its device is gone: admins only
        return principal.role == "admin" and not principal.anonymous
    vis = strictest(row["visibility"], layer.visibility if layer else None)
    return device_visible(principal, vis, row["status"])


def public(principal: Principal, row: RowMapping) -> dict[str, Any]:
    """The alert for the API: the payload, the device's layer and WGS 84 position; who
    handled it only for signed-in callers (names of staff are not for anonymous readers)."""
    doc = payload(row)
    if principal.anonymous:
        doc["acknowledged_by"] = doc["resolved_by"] = None
    doc |= {"metric": row["metric"], "layer": row["layer"], "lon": row["lon"], "lat": row["lat"]}
    return doc


@dataclass(frozen=True)
class Filters:
    state: str | None = None
    severity: str | None = None
    layer: str | None = None
    device: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    limit: int = 100


def list_alerts(conn: Connection, principal: Principal, f: Filters) -> list[dict[str, Any]]:
    """The alerts the caller may see, newest first, filtered."""
    where: list[str] = []
    params: dict[str, object] = {}
    for column, value in (
        ("a.state", f.state),
        ("a.severity", f.severity),
        ("d.layer", f.layer),
        ("a.device_id", f.device),
    ):
        if value is not None:
            key = column.split(".")[1]
            where.append(f"{column} = :{key}")
            params[key] = value
    if f.bbox is not None:
        # the box reprojected in Python, cut to what the working CRS can hold: PostGIS would
        # fail the whole query on a corner outside the projection's domain
        import shapely

        srid = get_working_crs(conn)
        shape = box_in(f.bbox, 4326, srid) if srid is not None else None
        if shape is None:
            where.append("FALSE")
        else:
            where.append(f"d.geom && ST_GeomFromWKB(:box, {srid})")
            params["box"] = shapely.to_wkb(shape)
    sql = _SELECT + (" WHERE " + " AND ".join(where) if where else "")
    sql += " ORDER BY a.opened_at DESC, a.id DESC"
    out: list[dict[str, Any]] = []
    for row in conn.execute(text(sql), params).mappings():
        if _visible(principal, row):
            out.append(public(principal, row))
            if len(out) >= f.limit:
                break
    return out


def get_alert(conn: Connection, principal: Principal, alert_id: int) -> RowMapping:
    row = conn.execute(text(f"{_SELECT} WHERE a.id = :i"), {"i": alert_id}).mappings().first()
    if row is None or not _visible(principal, row):
        raise NotFound(f"no alert {alert_id}: GET /api/alerts lists those you may see")
    return row


def handle(conn: Connection, principal: Principal, alert_id: int, change: str) -> dict[str, Any]:
    """``ack`` or ``resolve`` an alert by someone, in the caller's transaction: audited and
    announced. Acknowledging an acknowledged alert, or resolving a resolved one, is refused."""
    check_role(principal, *HANDLERS)
    outbox.discard(conn)
    conn.execute(text("SELECT 1 FROM alerts WHERE id = :i FOR UPDATE"), {"i": alert_id})
    row = get_alert(conn, principal, alert_id)
    who = principal.name or "anonymous"
    if change == "ack":
        if row["state"] != "open":
            raise Conflict(
                f"alert {alert_id} is {row['state']}: only an open alert is acknowledged"
            )
        sql = "state = 'acknowledged', acknowledged_at = now(), acknowledged_by = :who"
    elif change == "resolve":
        if row["state"] == "resolved":
            raise Conflict(f"alert {alert_id} is resolved already (by {row['resolved_by']})")
        sql = "state = 'resolved', resolved_at = now(), resolved_by = :who"
    else:  # pragma: no cover - the routes pass one of the two
        raise InputError(f"unknown change {change!r}")
    conn.execute(text(f"UPDATE alerts SET {sql} WHERE id = :i"), {"i": alert_id, "who": who})
    row = get_alert(conn, principal, alert_id)
    audit.record(
        conn,
        "alert",
        who,
        f"alert {alert_id}",
        {"change": change, "rule": row["rule"], "device": row["device_id"]},
    )
    _announce(conn, row)
    outbox.flush(conn)
    return public(principal, row)
