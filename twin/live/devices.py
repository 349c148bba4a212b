"""What the hub knows of each device to filter by: bound layer, visibility, type, location.

Each app worker keeps its own copy, reloaded whole every ``TWIN_LIVE_DEVICES_SECONDS`` (a
short TTL rather than LISTEN/NOTIFY: no trigger or migration, no connection held open per
worker, it works through connection poolers and sees changes made by hand in SQL too; one
small query per worker every few seconds is the cost, and a new or adopted device shows up on
screens within that time). Only active devices are kept: a quarantined one is never shown.
The visibility is the strictest of the device's own and its bound layer's, as the registry
(:mod:`sensors_bridge.registry`) gives it to the access rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, text

from geodata.access import strictest
from geodata.layers import LAYERS
from twin.live.publish import rfc3339


@dataclass(frozen=True, slots=True)
class DeviceMeta:
    id: str
    type: str
    layer: str | None
    visibility: str
    lon: float | None
    lat: float | None

    def tags(self) -> dict[str, Any]:
        """What every item about this device carries beside its value."""
        return {"layer": self.layer, "type": self.type, "lon": self.lon, "lat": self.lat}


_DEVICES = text(
    "SELECT id, type, layer, visibility, ST_X(g) AS lon, ST_Y(g) AS lat FROM ("
    "SELECT id, type, layer, visibility, ST_Transform(geom, 4326) AS g FROM devices "
    "WHERE status = 'active') d"
)
_LATEST = (
    "SELECT device_id, metric, value, unit, quality, at FROM latest_state"
    " WHERE device_id IN (SELECT id FROM devices WHERE status = 'active')"
)


def _meta(row: Any) -> DeviceMeta | None:
    layer = LAYERS.get(row.layer) if row.layer else None
    try:
        visibility = strictest(row.visibility, layer.visibility if layer else None)
    except Exception:  # a row from a newer twin: never shown rather than shown wrongly
        return None
    lon = round(row.lon, 7) if row.lon is not None else None
    lat = round(row.lat, 7) if row.lat is not None else None
    return DeviceMeta(row.id, row.type, row.layer, visibility, lon, lat)


def load_devices(conn: Connection) -> dict[str, DeviceMeta]:
    """Every active device's metadata, by id."""
    out: dict[str, DeviceMeta] = {}
    for row in conn.execute(_DEVICES):
        meta = _meta(row)
        if meta is not None:
            out[meta.id] = meta
    return out


@dataclass(frozen=True, slots=True)
class LatestValue:
    """One device's latest value of one metric as the hub keeps and sends it: encoded once
    (``raw``), however many clients it goes to; a delta is these joined."""

    at: datetime
    item: dict[str, Any]
    raw: bytes

    def retagged(self, meta: DeviceMeta) -> LatestValue:
        """The same value with the device's current layer, type and location."""
        item = {**self.item, **meta.tags()}
        return LatestValue(self.at, item, orjson.dumps(item))


def value_item(doc: Mapping[str, Any], meta: DeviceMeta, at: datetime) -> LatestValue:
    """The item sent to clients: the state message's fields plus the device's tags."""
    item = {
        "device_id": meta.id,
        "metric": doc["metric"],
        "value": doc.get("value"),
        "unit": doc.get("unit"),
        "quality": doc.get("quality", "good"),
        "at": rfc3339(at),
        **meta.tags(),
    }
    return LatestValue(at, item, orjson.dumps(item))


def load_latest(
    engine: Engine, devices: Mapping[str, DeviceMeta], only: Iterable[str] | None = None
) -> dict[str, dict[str, LatestValue]]:
    """``latest_state`` of the active devices (or of ``only`` those), by device and metric."""
    sql, params = _LATEST, {}
    if only is not None:
        sql, params = sql + " AND device_id = ANY(:ids)", {"ids": list(only)}
    out: dict[str, dict[str, LatestValue]] = {}
    with engine.connect() as conn:
        for row in conn.execute(text(sql), params).mappings():
            meta = devices.get(row["device_id"])
            if meta is not None:
                out.setdefault(meta.id, {})[row["metric"]] = value_item(dict(row), meta, row["at"])
    return out


def reload(engine: Engine) -> dict[str, DeviceMeta]:
    with engine.connect() as conn:
        return load_devices(conn)


_OPEN_ALERTS = text(
    "SELECT id, rule, device_id, state, severity, message, value, opened_at, acknowledged_at,"
    " acknowledged_by, resolved_at, resolved_by FROM alerts"
    " WHERE state <> 'resolved' AND device_id IS NOT NULL"
)


def load_open_alerts(engine: Engine) -> dict[str, dict[Any, dict[str, Any]]]:
    """The alerts not resolved, by device and id, shaped as the rules announce them on
    ``twin/live/alert/{device}`` (at most one open per rule and device: a small read)."""
    from twin.rules.alerts import payload

    out: dict[str, dict[Any, dict[str, Any]]] = {}
    with engine.connect() as conn:
        for row in conn.execute(_OPEN_ALERTS).mappings():
            out.setdefault(row["device_id"], {})[row["id"]] = payload(row)
    return out
