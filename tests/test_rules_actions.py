"""Rule actions through the outbox: each fires once, the MQTT command and the alert are seen
on the real broker, a webhook is retried until a real local HTTP server answers, and what a
rolled-back transaction decided is never sent."""

from __future__ import annotations

import http.server
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import orjson
import pytest
from sqlalchemy import Engine, text

from sensors_bridge.listeners import Stored
from sensors_bridge.model import Observation
from tests.conftest import free_port
from tests.rules_support import (
    LATER,
    add_device,
    apply,
    at,
    listening,
    outbox_rows,
    rules_settings,
    rules_writer,
    send,
    state,
)
from twin.rules.actions import downlink
from twin.rules.listener import Evaluator
from twin.rules.store import DeviceInfo
from twin.services.mosquitto import EmbeddedMosquitto
from twin.settings import Settings

COMMAND = """
- name: vent
  metric: co2
  raise: 1000
  clear: 800
  actions:
    - alert
    - command: {name: ventilate, payload: {speed: 3}}
"""


@pytest.fixture
def rs(settings: Settings, mqtt_broker: EmbeddedMosquitto) -> Settings:
    return rules_settings(settings, mqtt_broker.url)


@pytest.fixture
def heard(mqtt_broker: EmbeddedMosquitto) -> Iterator[queue.Queue[tuple[str, Any]]]:
    """Every message on the broker's command and live-alert topics."""
    with listening(
        mqtt_broker.url, ["twin/+/cmd/#", "twin/live/alert/#"], "rules-test-listener"
    ) as got:
        yield got


def drain(got: queue.Queue[tuple[str, Any]], settle: float = 1.5) -> list[tuple[str, Any]]:
    """What arrives until nothing more has for ``settle`` seconds."""
    out = []
    while True:
        try:
            out.append(got.get(timeout=settle))
        except queue.Empty:
            return out


def wait_sent(engine: Engine, n: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = outbox_rows(engine)
        if len(rows) >= n and all(r["sent_at"] is not None for r in rows):
            return
        time.sleep(0.2)
    raise AssertionError(f"not sent in {timeout} s: {outbox_rows(engine)}")


def test_command_and_alert_seen_on_the_broker_once(
    rs: Settings, engine: Engine, heard: queue.Queue[tuple[str, Any]]
) -> None:
    add_device(engine, "c1")
    apply(engine, COMMAND)
    with rules_writer(rs, engine) as (writer, listener):
        batch = [Observation("c1", "co2", 1200, at(0), message_id="m1")]
        assert writer.write(batch, now=LATER).accepted == 1
        assert writer.write(batch, now=LATER).duplicate == 1  # a redelivery decides nothing
        send(writer, "c1", "co2", 1300, 1)  # still firing: nothing new
        wait_sent(engine, 2)
        got = drain(heard)
        assert listener.send() == 0  # nothing left to send
    assert [t for t, _ in got] == ["twin/live/alert/c1", "twin/c1/cmd/ventilate"] or sorted(
        t for t, _ in got
    ) == ["twin/c1/cmd/ventilate", "twin/live/alert/c1"]
    payloads = dict(got)
    assert payloads["twin/c1/cmd/ventilate"] == {"speed": 3}
    alert = payloads["twin/live/alert/c1"]
    assert alert["rule"] == "vent" and alert["state"] == "open" and alert["value"] == 1200
    assert alert["opened_at"] == at(0).isoformat() and alert["resolved_at"] is None
    assert [r["attempts"] for r in outbox_rows(engine)] == [1, 1]


def test_resolution_is_announced(
    rs: Settings, engine: Engine, heard: queue.Queue[tuple[str, Any]]
) -> None:
    add_device(engine, "c1")
    apply(engine, COMMAND)
    with rules_writer(rs, engine) as (writer, _):
        send(writer, "c1", "co2", 1200, 0)
        send(writer, "c1", "co2", 700, 5)
        wait_sent(engine, 3)
        got = drain(heard)
    alerts = [p for t, p in got if t.startswith("twin/live/alert/")]
    assert [a["state"] for a in alerts] == ["open", "resolved"]
    assert alerts[1]["resolved_at"] == at(5).isoformat() and alerts[1]["resolved_by"] == "rule"


def test_a_rolled_back_batch_sends_nothing(rs: Settings, engine: Engine) -> None:
    add_device(engine, "c1")
    apply(engine, COMMAND)
    evaluator = Evaluator()
    stored = [Stored("c1", "co2", at(0), 1200.0, None, "good")]
    with pytest.raises(RuntimeError), engine.begin() as conn:
        assert evaluator.observe(conn, stored) == 2  # an alert announcement and a command
        raise RuntimeError("the batch failed after the rules ran")
    assert outbox_rows(engine) == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alerts")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM rule_states")).scalar_one() == 0
    with engine.begin() as conn:  # the same observation, committed this time: decided once
        assert evaluator.observe(conn, stored) == 2
    assert len(outbox_rows(engine)) == 2


class _Flaky(http.server.BaseHTTPRequestHandler):
    """Answers 503 to the first ``fail`` requests, then 200; records every request."""

    fail = 2
    seen: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).seen.append((self.headers["X-Twin-Delivery"], body))
        status = 503 if len(type(self).seen) <= type(self).fail else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


def test_a_webhook_is_retried_until_it_answers(settings: Settings, engine: Engine) -> None:
    _Flaky.seen = []
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # no broker needed: the rule only calls the webhook; retries 0.1 s, 0.2 s, ...
    fast = settings.model_copy(update={"rules_retry_seconds": 0.1, "rules_sweep_seconds": 3600.0})
    add_device(engine, "c1")
    apply(
        engine,
        f"""
- name: hook
  metric: co2
  raise: 1000
  actions:
    - webhook: {{url: "http://127.0.0.1:{port}/hook", headers: {{X-Key: k1}}}}
""",
    )
    try:
        with rules_writer(fast, engine) as (writer, listener):
            send(writer, "c1", "co2", 1200, 0)
            deadline = time.monotonic() + 30
            while len(_Flaky.seen) < 3 and time.monotonic() < deadline:
                listener.send()
                time.sleep(0.05)
            wait_sent(engine, 1)
            time.sleep(0.5)
            assert listener.send() == 0
    finally:
        server.shutdown()
    assert len(_Flaky.seen) == 3
    assert {d for d, _ in _Flaky.seen} == {str(outbox_rows(engine)[0]["id"])}
    event = orjson.loads(_Flaky.seen[-1][1])
    assert event["event"] == "firing" and event["rule"] == "hook" and event["value"] == 1200
    assert outbox_rows(engine)[0]["attempts"] == 3
    assert state(engine, "hook", "c1") == "firing"


def test_a_webhook_that_never_answers_is_marked_failed(settings: Settings, engine: Engine) -> None:
    fast = settings.model_copy(
        update={"rules_retry_seconds": 0.01, "rules_max_attempts": 3, "rules_sweep_seconds": 3600.0}
    )
    add_device(engine, "c1")
    closed = free_port()  # nothing listens there
    apply(
        engine,
        f"- {{name: hook, metric: co2, raise: 1, actions: "
        f"[{{webhook: {{url: 'http://127.0.0.1:{closed}/', timeout: 1}}}}]}}",
    )
    with rules_writer(fast, engine) as (writer, listener):
        send(writer, "c1", "co2", 5, 0)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            listener.send()
            with engine.connect() as conn:
                row = conn.execute(
                    text("SELECT attempts, failed_at, last_error FROM rule_outbox")
                ).one()
            if row.failed_at is not None:
                break
            time.sleep(0.05)
    assert row.attempts == 3 and row.failed_at is not None and row.last_error


def test_lorawan_downlinks() -> None:
    from twin.rules.model import DownlinkSpec

    dev = DeviceInfo("lamp-7", "lamp", None, frozenset(), "active", "A84041000181AF4F", {})
    topic, body = downlink(
        DownlinkSpec(network="chirpstack", application="app-uuid", f_port=10, hex="01ff"), dev
    )
    assert topic == "application/app-uuid/device/a84041000181af4f/command/down"
    assert body == {"devEui": "a84041000181af4f", "confirmed": False, "fPort": 10, "data": "Af8="}
    tts = DeviceInfo(
        "bay-1", "parking", None, frozenset(), "active", "70B3", {"tts_device_id": "b1"}
    )
    topic, body = downlink(
        DownlinkSpec(network="tts", application="city", tenant="ttn", f_port=2, object={"dim": 30}),
        tts,
    )
    assert topic == "v3/city@ttn/devices/b1/down/push"
    assert body == {
        "downlinks": [{"f_port": 2, "priority": "NORMAL", "decoded_payload": {"dim": 30}}]
    }


def test_a_shutdown_does_not_wait_for_an_absent_broker(settings: Settings) -> None:
    """A send waiting for a broker that does not answer gives up as soon as the process
    closes (the message stays in the outbox), instead of holding the shutdown for the whole
    connection timeout."""
    from twin.rules.publish import CONNECT_TIMEOUT, MQTTPublisher

    publisher = MQTTPublisher(rules_settings(settings, f"mqtt://127.0.0.1:{free_port()}"))
    failed: queue.Queue[str] = queue.Queue()

    def send_one() -> None:
        try:
            publisher.publish("twin/test", b"{}", 1)
        except RuntimeError as exc:
            failed.put(str(exc))

    sender = threading.Thread(target=send_one)
    sender.start()
    time.sleep(0.3)  # the send is waiting for the connection
    started = time.monotonic()
    publisher.close()
    sender.join(CONNECT_TIMEOUT)
    assert not sender.is_alive()
    assert time.monotonic() - started < CONNECT_TIMEOUT / 2
    assert "shutting down" in failed.get_nowait()
