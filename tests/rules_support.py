"""Shared by the rules tests: devices, a writer with the real rules listener, a clock."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine, text

from sensors_bridge.model import Observation
from sensors_bridge.store import BatchWriter
from twin.rules.listener import RulesListener
from twin.rules.parse import parse_rules
from twin.rules.store import apply_rules
from twin.settings import Settings

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
#: the writer's clock: later than every observation of the tests (none is "in the future")
LATER = T0 + timedelta(days=2)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def rules_settings(settings: Settings, broker_url: str) -> Settings:
    """The test's settings with the test broker, and no background sweep (the tests drive
    the clock; the real one is hours past their observations)."""
    return settings.model_copy(update={"mqtt_url": broker_url, "rules_sweep_seconds": 3600.0})


def add_device(engine: Engine, device_id: str, type_: str = "co2", **attrs: Any) -> None:
    import json

    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO devices (id, protocol, type, attrs, external_id) "
                "VALUES (:i, 'http', :t, CAST(:a AS jsonb), :x)"
            ),
            {"i": device_id, "t": type_, "a": json.dumps(attrs), "x": attrs.get("eui")},
        )


def apply(engine: Engine, yaml_text: str, *, replace: bool = False) -> None:
    with engine.begin() as conn:
        apply_rules(conn, parse_rules(yaml_text), "test", replace=replace)


@contextmanager
def rules_writer(settings: Settings, engine: Engine) -> Iterator[tuple[BatchWriter, RulesListener]]:
    """A batch writer with a fresh rules listener (a fresh process, as far as rules go)."""
    listener = RulesListener(settings, engine)
    try:
        yield BatchWriter(engine, "http", [listener]), listener
    finally:
        listener.close()


def send(writer: BatchWriter, device: str, metric: str, value: float, minutes: float) -> None:
    result = writer.write([Observation(device, metric, value, at(minutes))], now=LATER)
    assert result.accepted == 1, result.as_dict()


def state(engine: Engine, rule: str, device: str) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                text(
                    "SELECT s.state FROM rule_states s JOIN rules r ON r.id = s.rule_id "
                    "WHERE r.name = :r AND s.device_id = :d"
                ),
                {"r": rule, "d": device},
            ).scalar_one()
        )


def alerts(engine: Engine, rule: str | None = None) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, rule, device_id, state, severity, opened_at, resolved_at, value, "
                "message FROM alerts WHERE CAST(:r AS text) IS NULL OR rule = :r ORDER BY id"
            ),
            {"r": rule},
        ).mappings()
        return [dict(r) for r in rows]


def outbox_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, kind, target, payload, sent_at, attempts FROM rule_outbox ORDER BY id")
        ).mappings()
        return [dict(r) for r in rows]


@contextmanager
def listening(broker_url: str, topics: list[str], client_id: str) -> Iterator[queue.Queue[Any]]:
    """Every message on ``topics`` of the broker, as (topic, decoded JSON), from the moment
    the subscription is acknowledged."""
    got: queue.Queue[tuple[str, Any]] = queue.Queue()
    ready = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    client.on_connect = lambda c, *_: c.subscribe([(t, 1) for t in topics])
    client.on_subscribe = lambda *_: ready.set()
    client.on_message = lambda _c, _u, m: got.put((m.topic, orjson.loads(m.payload)))
    host, port = broker_url.removeprefix("mqtt://").split(":")
    client.connect(host, int(port))
    client.loop_start()
    try:
        assert ready.wait(10), f"no subscription to {topics} within 10 s"
        yield got
    finally:
        client.loop_stop()
        client.disconnect()
