"""A client that stops reading costs the hub nothing that grows, measured on the hub's own
structures (never RSS): the change log holds one entry per device and metric at most, a
session no queue of values at all. The stalled client's pump waits on its socket; once it
reads again, more than the bound changed meanwhile, so it gets ``resync`` and a snapshot with
every last value. A client reading along on the same hub never falls behind."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from sensors_bridge.registry import DeviceSpec, add_devices
from tests.live_support import (
    Writer,
    at,
    live_settings,
    open_ws,
    recv,
    serve,
    snapshot_of,
    wait_subscribed,
)
from twin.services.mosquitto import EmbeddedMosquitto
from twin.settings import Settings

DEVICES = [f"many-{i:03d}" for i in range(300)]
BOUND = 100
ROUND = 25  # devices per round: a reading client never has more than this waiting


class NeverReading:
    """A WebSocket client on a plain socket (websockets' sans-I/O protocol) with a tiny
    receive buffer, which reads nothing between its handshake and :meth:`messages`: what the
    server sends piles up in the server, as behind a stalled phone."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("ws://").split("/")[0].split(":")
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect((host, int(port)))
        self.proto = ClientProtocol(parse_uri(url), max_size=None)
        self.proto.send_request(self.proto.connect())
        self._flush()
        while not self.proto.events_received() and self.proto.handshake_exc is None:
            if self.proto.state is State.OPEN:
                break
            self.proto.receive_data(self.sock.recv(4096))
        assert self.proto.state is State.OPEN, self.proto.handshake_exc

    def _flush(self) -> None:
        for data in self.proto.data_to_send():
            if data:
                self.sock.sendall(data)

    def send(self, doc: dict[str, Any]) -> None:
        self.proto.send_text(orjson.dumps(doc))
        self._flush()

    def messages(self, timeout: float = 30) -> Iterator[dict[str, Any]]:
        """Read again: every message, as it comes."""
        self.sock.settimeout(timeout)
        while True:
            for event in self.proto.events_received():
                if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                    yield orjson.loads(event.data)
            self._flush()  # pongs
            self.proto.receive_data(self.sock.recv(1 << 16))

    def close(self) -> None:
        self.sock.close()


def test_a_client_that_never_reads_stays_bounded(
    engine: Engine, settings: Settings, mqtt_broker: EmbeddedMosquitto
) -> None:
    live = live_settings(settings, mqtt_broker.port, live_client_queue=BOUND, live_coalesce_ms=10)
    add_devices(engine, [DeviceSpec(d, "http", "counter") for d in DEVICES])
    writer = Writer(live, engine)
    writer.store(*[(d, "n", 0.0, at(0)) for d in DEVICES])
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.max_inflight_messages_set(1000)
    pub.connect("127.0.0.1", mqtt_broker.port)
    pub.loop_start()
    try:
        with serve(live, engine) as (url, app):
            wait_subscribed(app)
            hub = app.state.hub
            slow = NeverReading(url)
            slow.send({"subscribe": {}})
            with open_ws(url) as fast:
                assert snapshot_of(fast, {})["type"] == "snapshot"
                deadline = time.monotonic() + 10
                while len(hub.sessions) < 2 or any(s.sub is None for s in hub.sessions):
                    assert time.monotonic() < deadline
                    time.sleep(0.01)
                sizes: list[tuple[int, int]] = []
                stop = threading.Event()

                def sample() -> None:  # what the hub holds: its log, each session's alerts
                    while not stop.is_set():
                        stats = hub.stats()
                        sizes.append((stats["changes"], max(stats["alerts"], default=0)))
                        time.sleep(0.005)

                sampler = threading.Thread(target=sample)
                sampler.start()
                fast_values: dict[str, float] = {}
                rounds = 0
                t0 = time.monotonic()
                sessions = list(hub.sessions)
                # session -> (the round its deltas stopped, its deltas then)
                stalled_at: dict[int, tuple[int, int]] = {}
                while time.monotonic() - t0 < 90:
                    rounds += 1
                    for d in _part(rounds):
                        info = pub.publish(f"twin/live/state/{d}/n", _state(d, rounds), qos=1)
                    info.wait_for_publish(10)
                    while any(fast_values.get(d) != rounds for d in _part(rounds)):
                        doc = recv(fast)  # the reading client reads along
                        assert doc["type"] == "delta", doc
                        fast_values |= {i["device_id"]: i["value"] for i in doc["items"]}
                    for k, sess in enumerate(sessions):
                        if stalled_at.get(k, (0, -1))[1] != sess.stats.deltas:
                            stalled_at[k] = (rounds, sess.stats.deltas)
                    # a session sending nothing for 12 rounds (300 changes > BOUND) is stuck
                    if any(rounds - r >= 12 for r, _ in stalled_at.values()):
                        break
                stop.set()
                sampler.join()
                slow_session = min(sessions, key=lambda s: s.stats.deltas)
                fast_session = max(sessions, key=lambda s: s.stats.deltas)
                assert rounds - stalled_at[sessions.index(slow_session)][0] >= 12, "never stuck"
                # the hub held one entry per device at most, and nothing per session
                assert max(c for c, _ in sizes) <= len(DEVICES)
                assert max(a for _, a in sizes) == 0
                assert fast_session.stats.resyncs == 0
                assert fast_session.stats.max_pending <= ROUND
                # the stalled client reads again: resync, then every latest value
                last = _latest(rounds)
                kinds = []
                for doc in slow.messages():
                    kinds.append(doc["type"])
                    if doc["type"] == "snapshot" and "resync" in kinds:
                        break
                got = {i["device_id"]: i["value"] for i in doc["items"]}
                slow.close()
                assert fast_values == last  # the reading client saw every last value too
                assert got == last
                assert slow_session.stats.resyncs == 1  # more than BOUND changed meanwhile
                assert slow_session.stats.max_pending <= BOUND
    finally:
        pub.loop_stop()
        pub.disconnect()
        writer.close()


def _part(r: int) -> list[str]:
    return DEVICES[(r * ROUND) % len(DEVICES) :][:ROUND]


def _state(device: str, r: int) -> bytes:
    doc = {"device_id": device, "metric": "n", "value": float(r), "unit": None, "at": _at(r)}
    return orjson.dumps(doc)


def _at(r: int) -> str:
    return at(r).isoformat()


def _latest(rounds: int) -> dict[str, float]:
    """By hand: the last value sent per device, from the rounds' rotation (round 0 is the
    value stored before the clients came)."""
    out = dict.fromkeys(DEVICES, 0.0)
    for r in range(1, rounds + 1):
        for d in _part(r):
            out[d] = float(r)
    return out
