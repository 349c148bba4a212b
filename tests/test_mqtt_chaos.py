"""Chaos at 2,000 observations/s with the real Mosquitto and PostGIS: a broker restart, a
PostgreSQL restart (fast and crash), and ``kill -9`` of a bridge process (alone, or one of two
on the shared subscription) each lose none and double none of the messages the broker
acknowledged to their publisher.

Each scenario runs for a few seconds in the default run and for 20 s (40,000 messages) under
``-m slow``. Each test gets its own broker: bridges keep persistent sessions, and an earlier
test's offline session would still be a member of the shared subscription.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import Engine

from geodata.db import make_engine, migrate
from tests.chaos_support import (
    PacedPublisher,
    ThreadBridge,
    bridge_process,
    settle,
    spans,
    stored,
    wait_for,
)
from tests.conftest import free_port
from twin.services.mosquitto import EmbeddedMosquitto
from twin.services.postgres import EmbeddedPostgres

RATE = 2000
#: seconds of publishing: a quick variant in the default run, the long one under -m slow
SPANS = [3, pytest.param(20, marks=pytest.mark.slow)]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedMosquitto]:
    b = EmbeddedMosquitto(tmp_path / "mqtt", free_port())
    b.start()
    yield b
    b.stop()


@pytest.fixture(scope="module")
def own_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """A cluster of this module's own: the tests stop it, which the shared one must not see."""
    pg = EmbeddedPostgres(tmp_path_factory.mktemp("chaos-pg"), free_port())
    pg.start()
    migrate(f"postgresql+psycopg://twin@127.0.0.1:{pg.port}/twin")
    yield pg
    pg.stop()


_made = iter(range(1000))


@pytest.fixture
def own_engine(own_pg: EmbeddedPostgres) -> Iterator[Engine]:
    name = f"chaos_{next(_made)}"
    with psycopg.connect(
        f"postgresql://twin@127.0.0.1:{own_pg.port}/postgres", autocommit=True
    ) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE twin")
    eng = make_engine(f"postgresql+psycopg://twin@127.0.0.1:{own_pg.port}/{name}")
    yield eng
    eng.dispose()


@pytest.mark.parametrize("shared", [True, False], ids=["shared", "alone"])
@pytest.mark.parametrize("seconds", SPANS)
def test_a_broker_restart_loses_and_doubles_nothing(
    engine: Engine, broker: EmbeddedMosquitto, seconds: int, shared: bool
) -> None:
    """Mosquitto (2.0.11) restores a persistent session's queue after a restart, but not a
    shared subscription: until the bridge is back and subscribes again, a publish is
    answered 0x10 "No matching subscribers" and dropped. Nothing answered Success is lost;
    a bridge subscribed alone (``twin bridge --alone``) keeps its subscription across the
    restart, and then every message is answered Success."""
    n = RATE * seconds
    bridge = ThreadBridge(engine, broker.port, "chaos", shared=shared)
    try:
        pub = PacedPublisher(broker.port, n, RATE).start()
        pub.wait_published(n // 3)
        broker.stop()  # SIGTERM: Mosquitto writes the bridge's queue and in-flight messages
        time.sleep(0.5)
        broker.start()
        acked = pub.finish()
        lost, doubled = settle(engine, acked, n)
        assert bridge.thread.is_alive()
    finally:
        bridge.stop()
    assert (len(lost), doubled) == (0, 0), f"lost {spans(lost)}"
    assert len(acked) + len(pub.unrouted) == n
    if not shared:
        assert pub.unrouted == set()
    assert bridge.bridge.stats.stored > 0


@pytest.mark.parametrize("mode", [pytest.param("fast", marks=pytest.mark.slow), "immediate"])
@pytest.mark.parametrize("seconds", SPANS)
def test_a_postgres_restart_loses_and_doubles_nothing(
    own_pg: EmbeddedPostgres,
    own_engine: Engine,
    broker: EmbeddedMosquitto,
    seconds: int,
    mode: str,
) -> None:
    """``immediate`` is a crash: what the bridge acknowledged must have been durable."""
    n = RATE * seconds
    bridge = ThreadBridge(own_engine, broker.port, "chaos")
    try:
        pub = PacedPublisher(broker.port, n, RATE).start()
        pub.wait_published(n // 3)
        wait_for(lambda: bridge.bridge.stats.stored > 0)
        own_pg.stop(mode)
        time.sleep(1.5)  # the bridge holds its batch, unacknowledged, and retries
        own_pg.start()
        acked = pub.finish()
        lost, doubled = settle(own_engine, acked, n)
        assert bridge.thread.is_alive()
    finally:
        bridge.stop()
    assert (len(lost), doubled) == (0, 0), f"lost {spans(lost)}"
    assert len(acked) == n


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)


@pytest.mark.parametrize("bridges", [pytest.param(1, marks=pytest.mark.slow), 2])
@pytest.mark.parametrize("seconds", SPANS)
def test_kill_9_of_a_bridge_loses_and_doubles_nothing(
    engine: Engine,
    broker: EmbeddedMosquitto,
    db_url: str,
    tmp_path: Path,
    seconds: int,
    bridges: int,
) -> None:
    """The killed bridge's unacknowledged messages come back to it from its persistent
    session when it restarts; beside it, a second bridge shares the subscription."""
    env = {
        "TWIN_DATABASE_URL": db_url,
        "TWIN_MQTT_URL": broker.url,
        "TWIN_DATA_DIR": str(tmp_path / "var"),
    }
    names = ["a", "b"][:bridges]
    procs = {name: bridge_process(env, name) for name in names}
    n = RATE * seconds
    try:
        # warm-up: until a message is stored, some bridge may not be subscribed yet (and a
        # message nobody subscribed to is acknowledged and dropped by any broker)
        warm = PacedPublisher(broker.port, 1000, 200).start()
        wait_for(lambda: len(stored(engine)) > 0, 60)
        warm.finish()
        time.sleep(1)  # the other bridge's subscription too
        base = len(stored(engine))
        pub = PacedPublisher(broker.port, n, RATE, offset=1000).start()
        wait_for(lambda: len(stored(engine)) > base + n // 4, 60)
        _kill(procs["a"])  # mid-stream: a batch in hand, nothing of it acknowledged
        assert pub.published < n, "the stream ended before the kill: raise n"
        time.sleep(0.5)
        procs["a"] = bridge_process(env, "a")
        acked = pub.finish()  # the warm-up's are not counted: see above
        lost, doubled = settle(engine, acked, 1000 + n)
        assert all(p.poll() is None for p in procs.values()), "a bridge died"
    finally:
        for p in procs.values():
            _kill(p)
    assert (len(lost), doubled) == (0, 0), f"lost {spans(lost)}"
    assert len(acked) == n


def test_a_redelivered_message_without_at_is_counted(
    engine: Engine, broker: EmbeddedMosquitto
) -> None:
    """The documented limit: a bare number gets its receipt time, so a redelivery is a new
    observation. The bridge counts (and logs) every such redelivery it stores."""
    received = threading.Event()
    first = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id="twin-bridge-dup",
        protocol=mqtt.MQTTv5,
        manual_ack=True,
    )
    first.on_message = lambda *_: received.set()  # and never acknowledged: a crash
    kept = Properties(PacketTypes.CONNECT)
    kept.SessionExpiryInterval = 3600
    first.connect("127.0.0.1", broker.port, clean_start=False, properties=kept)
    first.loop_start()
    first.subscribe("$share/twin/twin/+/+", qos=1)
    time.sleep(0.5)
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.connect("127.0.0.1", broker.port)
    pub.loop_start()
    pub.publish("twin/dup/level", b"1.5", qos=1).wait_for_publish(10)
    pub.disconnect()
    pub.loop_stop()
    assert received.wait(10)
    first.disconnect()
    first.loop_stop()
    bridge = ThreadBridge(engine, broker.port, "dup")
    try:
        wait_for(lambda: bridge.bridge.stats.stored == 1, 30)
    finally:
        bridge.stop()
    assert bridge.bridge.stats.untimed_redeliveries == 1
