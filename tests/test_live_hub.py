"""``WS /ws/live`` on a real uvicorn, fed through a real Mosquitto by the live publisher:
subscriptions by layer, bbox and devices under the whole role matrix, changing them, tokens,
coalescing, alerts, quarantined devices and bad broker messages."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine, text
from websockets.exceptions import ConnectionClosed

from sensors_bridge.model import Observation
from sensors_bridge.registry import adopt
from sensors_bridge.store import BatchWriter
from tests.conftest import free_port
from tests.live_support import (
    PRINCIPALS,
    QUARANTINED,
    Writer,
    at,
    live_settings,
    open_ws,
    recv,
    seed,
    sees,
    send,
    serve,
    snapshot_of,
    until,
    wait_subscribed,
)
from twin.services.mosquitto import EmbeddedMosquitto
from twin.settings import Settings


class World:
    def __init__(self, url: str, app: Any, tokens: dict[str, str], writer: Writer) -> None:
        self.url, self.app, self.tokens, self.writer = url, app, tokens, writer

    def ws(self, principal: str) -> Any:
        return open_ws(self.url, self.tokens.get(principal))


@pytest.fixture(scope="module")
def world(
    module_engine: Engine, mqtt_broker: EmbeddedMosquitto, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    url = module_engine.url.render_as_string(hide_password=False)
    base = Settings(database_url=url, data_dir=tmp_path_factory.mktemp("var"), _env_file=None)
    settings = live_settings(base, mqtt_broker.port)
    tokens = seed(module_engine)
    writer = Writer(settings, module_engine)
    writer.store(*[(d, "v", 1.0, at(0)) for d in [*sees("admin"), QUARANTINED]])
    with serve(settings, module_engine) as (ws_url, app):
        wait_subscribed(app)
        yield World(ws_url, app, tokens, writer)
    writer.close()


def ids(items: list[dict[str, Any]]) -> set[str]:
    return {i["device_id"] for i in items}


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_the_role_matrix_snapshot_and_deltas(world: World, principal: str) -> None:
    with world.ws(principal) as ws:
        snap = snapshot_of(ws, {})
        assert snap["type"] == "snapshot", snap
        assert ids(snap["items"]) == sees(principal)
        item = next(i for i in snap["items"] if i["device_id"] == "bay-1")
        assert item["layer"] == "furniture" and item["type"] == "parking_sensor"
        assert abs(item["lon"] - 24.9) < 1 and abs(item["lat"] - 60.2) < 1  # WGS 84
        stamp = at(100 + PRINCIPALS.index(principal))
        world.writer.store(*[(d, "v", 7.0, stamp) for d in [*sees("admin"), QUARANTINED]])
        got: set[str] = set()
        deadline = time.monotonic() + 30
        while got != sees(principal) and time.monotonic() < deadline:
            doc = recv(ws, deadline - time.monotonic())
            assert doc["type"] == "delta", doc
            got |= {i["device_id"] for i in doc["items"] if i["value"] == 7.0}
            assert ids(doc["items"]) <= sees(principal), "a delta the role may not see"
        assert got == sees(principal)
        with pytest.raises(TimeoutError):  # and nothing else comes (the quarantined, hidden)
            recv(ws, 0.5)


#: layer -> who may subscribe to it by name (furniture is public, cameras agent-only)
LAYER_OK = {
    "furniture": set(PRINCIPALS),
    "cameras": {"agent", "planner", "operator", "admin"},
}


@pytest.mark.parametrize("principal", PRINCIPALS)
@pytest.mark.parametrize("layer", sorted(LAYER_OK))
def test_restricted_layers_need_a_token(world: World, principal: str, layer: str) -> None:
    with world.ws(principal) as ws:
        doc = snapshot_of(ws, {"layers": [layer]})
        if principal in LAYER_OK[layer]:
            assert doc["type"] == "snapshot", doc
            expected = {"cam-1"} if layer == "cameras" else {"bay-1", "bay-2", "bay-conf"}
            assert ids(doc["items"]) == expected & sees(principal)
            assert doc["subscription"]["layers"] == [layer]
        else:
            assert doc["type"] == "error", doc
            assert f"layer {layer!r}" in doc["reason"] and "agent" in doc["reason"]
            if principal == "anonymous":
                assert "token" in doc["reason"]
            else:
                assert f"your role is {principal}" in doc["reason"]


def test_a_token_in_the_first_message_and_a_wrong_one(world: World) -> None:
    with world.ws("anonymous") as ws:
        assert snapshot_of(ws, {"layers": ["cameras"]})["type"] == "error"
        send(ws, {"token": world.tokens["agent"]})
        doc = snapshot_of(ws, {"layers": ["cameras"]})
        assert doc["type"] == "snapshot" and ids(doc["items"]) == {"cam-1"}
    with open_ws(world.url, "twin_nope_nope") as ws:
        doc = recv(ws)
        assert doc["type"] == "error" and "token refused" in doc["reason"]
        with pytest.raises(ConnectionClosed) as closed:
            recv(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    with world.ws("anonymous") as ws:
        send(ws, {"token": "twin_bad_token"})
        doc = recv(ws)
        assert doc["type"] == "error" and "token refused" in doc["reason"]


def test_bad_subscriptions_are_refused_with_the_reason(world: World) -> None:
    cases = {
        '{"subscribe": {"bbox": [1, 2, 3]}}': "subscribe.bbox must be four numbers",
        '{"subscribe": {"bbox": [385000, 6672000, 386000, 6673000]}}': "WGS 84",
        '{"subscribe": {"layers": ["nope"]}}': "no layer 'nope'",
        '{"subscribe": {"colour": 1}}': "unknown fields colour",
        '{"subscribe": {"devices": "bay-1"}}': "subscribe.devices must be a list",
        '{"subscribe": {"devices": ["bay-conf"]}}': "no device 'bay-conf'",
        f'{{"subscribe": {{"devices": ["{QUARANTINED}"]}}}}': f"no device '{QUARANTINED}'",
        "not json": "not JSON",
        '{"hello": 1}': "subscribe",
    }
    with world.ws("citizen") as ws:
        assert snapshot_of(ws, {"devices": ["bay-1"]})["type"] == "snapshot"
        for raw, reason in cases.items():
            ws.send(raw)
            doc = recv(ws)
            assert doc["type"] == "error" and reason in doc["reason"], (raw, doc)
        # the previous subscription stays in effect
        world.writer.store(("bay-1", "v", 11.0, at(200)))
        doc, _ = until(ws, lambda d: d["type"] == "delta")
        assert [(i["device_id"], i["value"]) for i in doc["items"]] == [("bay-1", 11.0)]
    with world.ws("admin") as ws:  # admins see the confidential bay, never the quarantined
        assert ids(snapshot_of(ws, {"devices": ["bay-conf"]})["items"]) == {"bay-conf"}
        assert snapshot_of(ws, {"devices": [QUARANTINED]})["type"] == "error"


def test_bbox_devices_and_changing_the_subscription(world: World) -> None:
    near_bay_1 = [24.0, 59.0, 26.0, 61.0]  # all bound devices lie near Helsinki
    with world.ws("citizen") as ws:
        everything_near = ids(snapshot_of(ws, {"bbox": near_bay_1})["items"])
        assert everything_near == {"bay-1", "bay-2"}  # free-1 has no location
        snap = snapshot_of(ws, {"bbox": [0.0, 0.0, 1.0, 1.0]})
        assert snap["items"] == []
        snap = snapshot_of(ws, {"devices": ["bay-2", "free-1"]})
        assert ids(snap["items"]) == {"bay-2", "free-1"}
        snap = snapshot_of(ws, {"devices": ["bay-1", "bay-2"], "layers": ["furniture"]})
        assert ids(snap["items"]) == {"bay-1", "bay-2"}
        snap = snapshot_of(ws, {"devices": ["bay-2"]})
        world.writer.store(("bay-1", "v", 21.0, at(300)), ("bay-2", "v", 22.0, at(300)))
        doc, _ = until(ws, lambda d: d["type"] == "delta")
        assert [(i["device_id"], i["value"]) for i in doc["items"]] == [("bay-2", 22.0)]


def test_deltas_are_coalesced_to_one_per_device_per_200_ms(world: World) -> None:
    with world.ws("citizen") as ws:
        snapshot_of(ws, {"devices": ["bay-1"]})
        t0 = time.monotonic()
        for k in range(30):
            world.writer.store(("bay-1", "v", 1000.0 + k, at(400 + k)))
        spent = time.monotonic() - t0
        values: list[float] = []
        arrivals: list[float] = []
        while not values or values[-1] != 1029.0:
            doc = recv(ws)
            assert doc["type"] == "delta"
            assert len(doc["items"]) == 1  # one device, one metric: one item per delta
            values.append(doc["items"][0]["value"])
            arrivals.append(time.monotonic())
        assert values == sorted(values) and values[-1] == 1029.0
        # 30 values stored over `spent` seconds: coalesced to one per 200 ms
        assert len(values) <= spent / 0.2 + 2, (len(values), spent)
        assert len(values) < 30


def test_alerts_follow_subscription_and_role(world: World, mqtt_broker: EmbeddedMosquitto) -> None:
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.connect("127.0.0.1", mqtt_broker.port)
    pub.loop_start()

    def alert(device: str, n: int) -> dict[str, Any]:
        doc = {
            "id": n,
            "rule": "co2-high",
            "device_id": device,
            "state": "open",
            "severity": "warning",
            "message": "too high",
            "value": 1200.0,
            "opened_at": "2026-12-01T12:00:00Z",
            "acknowledged_at": None,
            "acknowledged_by": None,
            "resolved_at": None,
        }
        pub.publish(f"twin/live/alert/{device}", orjson.dumps(doc), qos=1).wait_for_publish(5)
        return doc

    try:
        with world.ws("citizen") as citizen, world.ws("admin") as admin:
            snapshot_of(citizen, {})
            snapshot_of(admin, {"devices": ["bay-conf", "bay-1"]})
            for n, device in enumerate(["bay-conf", QUARANTINED, "bay-2", "bay-1"]):
                alert(device, n)
            doc, seen = until(citizen, lambda d: d["type"] == "alert" and d["alert"]["id"] == 3)
            got = [d["alert"]["device_id"] for d in seen if d["type"] == "alert"]
            assert got == ["bay-2", "bay-1"]
            assert doc["alert"]["layer"] == "furniture" and doc["alert"]["rule"] == "co2-high"
            doc, seen = until(admin, lambda d: d["type"] == "alert" and d["alert"]["id"] == 3)
            got = [d["alert"]["device_id"] for d in seen if d["type"] == "alert"]
            assert got == ["bay-conf", "bay-1"]
    finally:
        pub.loop_stop()
        pub.disconnect()


def test_bad_broker_messages_never_stop_the_hub(
    world: World, mqtt_broker: EmbeddedMosquitto
) -> None:
    hub = world.app.state.hub
    before = hub.bad_messages
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.connect("127.0.0.1", mqtt_broker.port)
    pub.loop_start()
    try:
        for body in (
            b"{",
            b"[]",
            b'{"device_id": "bay-1"}',
            b'{"device_id": 1, "metric": "v", "at": "x"}',
            b'{"device_id": "bay-1", "metric": "v", "at": "yesterday"}',
        ):
            pub.publish("twin/live/state/bay-1/v", body, qos=1).wait_for_publish(5)
        pub.publish("twin/live/alert/bay-1", b"\xff", qos=1).wait_for_publish(5)
    finally:
        pub.loop_stop()
        pub.disconnect()
    deadline = time.monotonic() + 10
    while hub.bad_messages < before + 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hub.bad_messages == before + 6
    with world.ws("citizen") as ws:  # and it still serves
        assert ids(snapshot_of(ws, {"devices": ["bay-1"]})["items"]) == {"bay-1"}


def test_an_adopted_device_appears_a_quarantined_one_never(
    engine: Engine, settings: Settings, mqtt_broker: EmbeddedMosquitto, tmp_path: Path
) -> None:
    live = live_settings(settings, mqtt_broker.port)
    tokens = seed(engine)
    writer = Writer(live, engine)
    try:
        with serve(live, engine) as (url, app):
            wait_subscribed(app)
            with open_ws(url, tokens["admin"]) as ws:
                assert QUARANTINED not in ids(snapshot_of(ws, {})["items"])
                writer.store((QUARANTINED, "v", 5.0, at(1)))
                with pytest.raises(TimeoutError):
                    recv(ws, 1.0)
                adopt(engine, QUARANTINED, visibility="public")
                doc, _ = until(ws, lambda d: d["type"] == "snapshot")  # within the TTL
                assert QUARANTINED in ids(doc["items"])
                writer.store((QUARANTINED, "v", 6.0, at(2)))
                doc, _ = until(ws, lambda d: d["type"] == "delta")
                assert [(i["device_id"], i["value"]) for i in doc["items"]] == [(QUARANTINED, 6.0)]
    finally:
        writer.close()


def test_restricted_subscriptions_are_audited_public_ones_not(world: World) -> None:
    engine = world.app.state.engine
    query = text("SELECT actor, detail FROM audit_log WHERE target = 'live /ws/live' ORDER BY id")
    world.app.state.audit.flush()
    with engine.connect() as conn:
        before = len(conn.execute(query).all())
    with world.ws("citizen") as ws:
        assert snapshot_of(ws, {})["type"] == "snapshot"
    with world.ws("operator") as ws:
        assert snapshot_of(ws, {"layers": ["cameras"]})["type"] == "snapshot"
    world.app.state.audit.flush()
    with engine.connect() as conn:
        rows = conn.execute(query).all()[before:]
    assert [(r.actor, r.detail["visibility"], r.detail["layers"]) for r in rows] == [
        ("live-operator", "agent", ["cameras"])
    ]


def test_a_worker_that_lost_the_broker_catches_up_from_the_database(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """Values stored while the worker could not hear the broker (here: by a writer that does
    not publish at all) reach its clients once it is subscribed again."""
    broker = EmbeddedMosquitto(tmp_path / "own-mqtt", free_port())
    broker.start()
    live = live_settings(settings, broker.port)
    tokens = seed(engine)
    silent = BatchWriter(engine, "mqtt")  # stores, never publishes
    try:
        with serve(live, engine) as (url, app), open_ws(url, tokens["citizen"]) as ws:
            wait_subscribed(app)
            assert snapshot_of(ws, {"devices": ["bay-1"]})["items"] == []
            broker.stop()
            deadline = time.monotonic() + 30
            while app.state.live.feed.subscribed.is_set():
                assert time.monotonic() < deadline, "the hub never noticed the broker left"
                time.sleep(0.05)
            now = at(0) + timedelta(hours=1)
            silent.write([Observation("bay-1", "v", 42.0, at(5), protocol="mqtt")], now=now)
            broker.start()
            doc, _ = until(ws, lambda d: d["type"] == "delta", timeout=60)
            assert [(i["device_id"], i["value"]) for i in doc["items"]] == [("bay-1", 42.0)]
    finally:
        broker.stop()


def test_snapshots_carry_the_open_alerts_of_what_they_show(
    world: World, module_engine: Engine, mqtt_broker: EmbeddedMosquitto
) -> None:
    """A snapshot (the first, and the one after ``resync``) holds the alerts not resolved of
    the devices it shows, by the same rule as their values: read from the database at each
    reload, then kept up to date by the alert messages."""
    insert = text(
        "INSERT INTO alerts (device_id, state, message, rule, severity) "
        "VALUES (:d, :s, 'm', :r, 'warning') RETURNING id"
    )
    with module_engine.begin() as conn:
        a = conn.execute(insert, {"d": "bay-1", "s": "open", "r": "snap-a"}).scalar_one()
        b = conn.execute(insert, {"d": "bay-conf", "s": "acknowledged", "r": "snap-b"}).scalar_one()
        conn.execute(insert, {"d": "bay-2", "s": "resolved", "r": "snap-c"})

    def alert_ids(ws: Any, sub: dict[str, Any], want: list[int]) -> list[int]:
        deadline = time.monotonic() + 15
        while True:  # the hub reads the database at its next reload (0.5 s here)
            got = [x["id"] for x in snapshot_of(ws, sub)["alerts"]]
            if got == want or time.monotonic() > deadline:
                return got
            time.sleep(0.2)

    pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.connect("127.0.0.1", mqtt_broker.port)
    pub.loop_start()
    try:
        with world.ws("citizen") as citizen, world.ws("admin") as admin:
            assert alert_ids(citizen, {}, [a]) == [a]  # bay-conf is not the citizen's
            mine = {"devices": ["bay-conf", "bay-1"]}
            assert alert_ids(admin, mine, [a, b]) == [a, b]
            snap = snapshot_of(admin, {"devices": ["bay-1"]})
            assert snap["alerts"][0]["layer"] == "furniture" and snap["alerts"][0]["lon"]
            # resolved by the rules: the database, then the announcement
            with module_engine.begin() as conn:
                conn.execute(text("UPDATE alerts SET state = 'resolved' WHERE id = :i"), {"i": a})
            doc = {"id": a, "rule": "snap-a", "device_id": "bay-1", "state": "resolved"}
            pub.publish("twin/live/alert/bay-1", orjson.dumps(doc), qos=1).wait_for_publish(5)
            assert alert_ids(admin, mine, [b]) == [b]
            assert alert_ids(citizen, {}, []) == []
    finally:
        pub.loop_stop()
        pub.disconnect()
        with module_engine.begin() as conn:
            conn.execute(text("DELETE FROM alerts WHERE rule LIKE 'snap-%'"))
