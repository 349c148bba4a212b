"""The MQTT bridge against the real Mosquitto and PostGIS: every QoS 1 message the broker
acknowledged to its publisher is stored exactly once, through duplicates, bad payloads, a
``kill -9`` of the bridge and two bridges sharing the subscription.

Each test gets its own broker: bridges keep persistent sessions, and a previous test's
offline session would still be a member of the shared subscription.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine, text

from sensors_bridge.mqtt_bridge import MQTTBridge
from sensors_bridge.topics import DEFAULT_ROUTES, TopicRoute
from tests.conftest import free_port
from twin.services.mosquitto import EmbeddedMosquitto

BASE = "2026-11-30T10:00:00+00:00"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedMosquitto]:
    b = EmbeddedMosquitto(tmp_path / "mqtt", free_port())
    b.start()
    yield b
    b.stop()


def _payload(i: int) -> bytes:
    return b'{"value": %d, "at": "2026-11-30T10:%02d:%02d.%06d+00:00"}' % (
        i,
        (i // 60) % 60,
        i % 60,
        i // 3600,
    )


def publish(broker: EmbeddedMosquitto, messages: list[tuple[str, bytes]]) -> int:
    """Publish at QoS 1; the number the broker acknowledged (PUBACK) to the publisher."""
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.max_queued_messages_set(0)
    pub.connect("127.0.0.1", broker.port)
    pub.loop_start()
    infos = [pub.publish(topic, body, qos=1) for topic, body in messages]
    acked = 0
    for info in infos:
        info.wait_for_publish(timeout=60)
        acked += info.is_published()
    pub.disconnect()
    pub.loop_stop()
    return acked


def wait_for(cond: Callable[[], bool], timeout: float = 90) -> None:
    """Wait for a condition; a bound against hanging, not a measurement."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM observations")).scalar_one())


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT outcome, n FROM ingest_counts WHERE adapter = 'mqtt'"))
        return {r[0]: int(r[1]) for r in rows}


class Running:
    """An in-process bridge on a thread."""

    def __init__(
        self,
        engine: Engine,
        broker: EmbeddedMosquitto,
        instance: str,
        routes: tuple[TopicRoute, ...] = DEFAULT_ROUTES,
    ) -> None:
        self.bridge = MQTTBridge(engine, "127.0.0.1", broker.port, instance=instance, routes=routes)
        self.thread = threading.Thread(target=self.bridge.run, daemon=True)
        self.thread.start()
        assert self.bridge.subscribed.wait(20), "the bridge did not subscribe"

    def stop(self) -> None:
        self.bridge.request_stop()
        self.thread.join(20)


@pytest.fixture
def running(engine: Engine, broker: EmbeddedMosquitto) -> Iterator[Running]:
    r = Running(engine, broker, "t")
    yield r
    r.stop()


def test_n_messages_stored_exactly_n(
    engine: Engine, broker: EmbeddedMosquitto, running: Running
) -> None:
    n = 1200
    assert publish(broker, [(f"twin/s{i % 7}/temperature", _payload(i)) for i in range(n)]) == n
    wait_for(lambda: running.bridge.stats.stored >= n)
    assert stored(engine) == n
    with engine.connect() as conn:
        values = conn.execute(text("SELECT sum(value) FROM observations")).scalar_one()
    assert values == sum(range(n))


def test_a_duplicate_publish_is_stored_once(
    engine: Engine, broker: EmbeddedMosquitto, running: Running
) -> None:
    msg = ("twin/s1/temperature", b'{"value": 20.5, "at": "2026-11-30T10:00:00Z"}')
    assert publish(broker, [msg]) == 1
    wait_for(lambda: running.bridge.stats.stored == 1)
    assert publish(broker, [msg]) == 1
    wait_for(lambda: running.bridge.stats.duplicate == 1)
    assert stored(engine) == 1
    assert counts(engine) == {"accepted": 1, "duplicate": 1}


def test_a_malformed_payload_is_a_dead_letter_and_the_bridge_lives_on(
    engine: Engine, broker: EmbeddedMosquitto, running: Running
) -> None:
    bad = [("twin/s1/temperature", b"warm"), ("twin/s1/t", b'{"v": 1}'), ("twin/s1/t", b"\xff")]
    assert publish(broker, bad) == 3
    wait_for(lambda: running.bridge.stats.rejected == 3)
    assert publish(broker, [("twin/s1/temperature", b"21")]) == 1
    wait_for(lambda: running.bridge.stats.stored == 1)
    assert running.thread.is_alive()
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT reason, raw FROM dead_letters ORDER BY id")).all()
    assert [r.reason for r in rows] == ["malformed_payload"] * 3
    assert bytes(rows[0].raw) == b"twin/s1/temperature warm"


def test_two_bridges_on_the_shared_subscription_store_each_message_once(
    engine: Engine, broker: EmbeddedMosquitto
) -> None:
    a, b = Running(engine, broker, "a"), Running(engine, broker, "b")
    try:
        n = 2000
        assert publish(broker, [(f"twin/d{i % 11}/m", _payload(i)) for i in range(n)]) == n
        wait_for(lambda: a.bridge.stats.stored + b.bridge.stats.stored >= n)
    finally:
        a.stop()
        b.stop()
    assert stored(engine) == n
    assert counts(engine) == {"accepted": n, "duplicate": 0}  # no message went to both
    assert a.bridge.stats.stored > 0 and b.bridge.stats.stored > 0  # the load was split


def _bridge_process(settings_env: dict[str, str]) -> subprocess.Popen[bytes]:
    twin = Path(sys.executable).with_name("twin")
    return subprocess.Popen(
        [str(twin), "bridge", "--instance", "crash", "--batch-size", "200"],
        env={**os.environ, **settings_env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def test_kill_9_mid_stream_loses_nothing_and_doubles_nothing(
    engine: Engine, broker: EmbeddedMosquitto, db_url: str, tmp_path: Path
) -> None:
    env = {
        "TWIN_DATABASE_URL": db_url,
        "TWIN_MQTT_URL": broker.url,
        "TWIN_DATA_DIR": str(tmp_path / "var"),
    }
    proc = _bridge_process(env)
    try:
        # the bridge is subscribed once a probe arrives (before that, nobody holds a session)
        probe = [("twin/probe/m", b'{"value": 1, "at": "2026-11-30T09:00:00Z"}')]
        deadline = time.monotonic() + 60
        while stored(engine) == 0:
            assert time.monotonic() < deadline and proc.poll() is None, "bridge never started"
            publish(broker, probe)
            time.sleep(0.5)
        n = 3000
        messages = [(f"twin/k{i % 13}/m", _payload(i)) for i in range(n)]
        acked: list[int] = []
        sender = threading.Thread(target=lambda: acked.append(publish(broker, messages)))
        sender.start()
        wait_for(lambda: stored(engine) > 400)
        proc.send_signal(signal.SIGKILL)  # mid-stream: a batch in hand, nothing acknowledged
        proc.wait(10)
        sender.join(120)
        killed_at = stored(engine) - 1
        assert killed_at < n, "the stream ended before the kill: raise n"
        proc = _bridge_process(env)
        wait_for(lambda: stored(engine) >= 1 + acked[0])
        time.sleep(1)  # anything doubled would arrive now; the key must keep it out
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    assert acked == [n]
    assert stored(engine) == 1 + n
    with engine.connect() as conn:
        values = conn.execute(
            text(
                "SELECT count(DISTINCT value), sum(value) FROM observations "
                "WHERE device_id <> 'probe'"
            )
        ).one()
    assert tuple(values) == (n, sum(range(n)))


def test_messages_that_waited_during_a_commit_form_the_next_batch_at_once() -> None:
    """The batch timeout counts from the first message's arrival: what queued while the
    previous batch was committing goes at once (it would wait a whole timeout again), up to
    ``batch_size``, and a fresh message still waits for company."""
    from sqlalchemy import create_engine

    from sensors_bridge.mqtt_bridge import _Held
    from sensors_bridge.topics import Decoded

    engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:9/none")  # never connected
    bridge = MQTTBridge(engine, "127.0.0.1", 9, batch_size=3, flush_seconds=30)
    waited = time.monotonic() - 60
    for mid in range(5):
        bridge._inbox.put(_Held(1, mid, 1, "mqtt", Decoded([]), arrived=waited))
    started = time.monotonic()
    assert [h.mid for h in bridge._collect()] == [0, 1, 2]
    assert [h.mid for h in bridge._collect()] == [3, 4]
    assert time.monotonic() - started < 10  # not the 30 s timeout of the old rule
    bridge.flush_seconds = 0.3
    bridge._inbox.put(_Held(1, 7, 1, "mqtt", Decoded([])))
    threading.Timer(0.05, lambda: bridge._inbox.put(_Held(1, 8, 1, "mqtt", Decoded([])))).start()
    assert [h.mid for h in bridge._collect()] == [7, 8]
