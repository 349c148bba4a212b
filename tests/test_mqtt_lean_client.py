"""LeanClient (sensors_bridge/mqtt_client.py) against the real Mosquitto: its shortened paths
(buffered reads, PUBLISH without properties as plain values, a batch's PUBACKs in one write,
PUBACK of success) deliver and complete exactly what paho's own paths do."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from sensors_bridge.mqtt_client import READ_SIZE, LeanClient
from twin.services.mosquitto import EmbeddedMosquitto

Got = tuple[str, bytes, int]  # topic, payload, qos


class Subscriber:
    """A LeanClient with a persistent session recording what reaches each path."""

    def __init__(self, broker: EmbeddedMosquitto, name: str, *, lean: bool = True) -> None:
        self.fast: list[Got] = []
        self.slow: list[Got] = []
        self.mids: list[tuple[int, bool]] = []  # (packet id, DUP) of the QoS 1 ones
        self.subscribed = threading.Event()
        self.client = LeanClient(
            CallbackAPIVersion.VERSION2, client_id=name, protocol=mqtt.MQTTv5, manual_ack=True
        )
        if lean:
            self.client.on_packet = self._packet
        self.client.on_message = self._message
        self.client.on_connect = lambda c, *_: c.subscribe("lean/#", qos=1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 600
        self.client.connect("127.0.0.1", broker.port, clean_start=False, properties=props)
        self.client.loop_start()
        assert self.subscribed.wait(10)

    def _packet(self, topic: bytes, payload: bytes, mid: int, qos: int, dup: bool) -> None:
        self.fast.append((topic.decode(), payload, qos))
        if qos == 1:
            self.mids.append((mid, dup))

    def _message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        self.slow.append((msg.topic, bytes(msg.payload), msg.qos))
        if msg.qos == 1:
            self.mids.append((msg.mid, bool(msg.dup)))

    def wait_for(self, n: int, seconds: float = 30, *, ack: bool = False) -> None:
        """Until n messages arrived (``ack``: acknowledging them as they come, since the
        broker sends no more than its in-flight limit unacknowledged)."""
        deadline = time.monotonic() + seconds
        acked = 0
        while len(self.fast) + len(self.slow) < n:
            assert time.monotonic() < deadline, f"{len(self.fast) + len(self.slow)} of {n}"
            if ack:
                upto = len(self.mids)
                self.client.ack_many(m for m, _ in self.mids[acked:upto])
                acked = upto
            time.sleep(0.02)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher(mqtt_broker: EmbeddedMosquitto) -> Iterator[mqtt.Client]:
    pub = LeanClient(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.max_inflight_messages_set(1000)
    pub.connect("127.0.0.1", mqtt_broker.port)
    pub.loop_start()
    yield pub
    pub.disconnect()
    pub.loop_stop()


def _with_property(i: int) -> Properties:
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.UserProperty = ("n", str(i))
    return props


def test_every_message_reaches_the_path_its_properties_choose(
    mqtt_broker: EmbeddedMosquitto, publisher: mqtt.Client
) -> None:
    sub = Subscriber(mqtt_broker, "lean-every")
    sent: list[Got] = []
    with_props: list[Got] = []
    big = bytes(range(256)) * (3 * READ_SIZE // 256 + 7)  # spans several reads
    infos = []
    for i in range(3000):
        topic = f"lean/d{i % 37}/m{i % 5}"
        payload = big if i == 1500 else b"x" * (i % 300)
        qos = 0 if i % 11 == 0 else 1
        props = _with_property(i) if i % 97 == 0 else None
        infos.append(publisher.publish(topic, payload, qos=qos, properties=props))
        (with_props if props else sent).append((topic, payload, qos))
    for info in infos:
        info.wait_for_publish(10)
    sub.wait_for(len(sent) + len(with_props), ack=True)
    time.sleep(0.2)  # nothing more arrives
    sub.client.ack_many(m for m, _ in sub.mids)
    sub.close()
    for qos in (0, 1):  # each exactly as sent, in order (QoS 0 may overtake queued QoS 1)
        assert [g for g in sub.fast if g[2] == qos] == [g for g in sent if g[2] == qos]
    assert len(sub.fast) == len(sent)
    assert sorted(sub.slow) == sorted(with_props)  # paho's path for those with properties


def test_a_batch_of_acks_in_one_write_is_what_the_broker_keeps(
    mqtt_broker: EmbeddedMosquitto, publisher: mqtt.Client
) -> None:
    """Acknowledged (by ack_many) messages are gone from the session; the others come back."""
    sub = Subscriber(mqtt_broker, "lean-acks")
    for i in range(400):
        publisher.publish(f"lean/a/{i}", str(i).encode(), qos=1).wait_for_publish(10)
    sub.wait_for(400)
    first = [m for m, dup in sub.mids]
    assert len(first) == 400
    sub.client.ack_many(first[::2])  # every other one
    time.sleep(0.5)  # the write goes out before the disconnect
    sub.close()
    again = Subscriber(mqtt_broker, "lean-acks")
    again.wait_for(200)
    time.sleep(0.5)
    assert sorted(int(p) for _, p, _ in again.fast) == list(range(1, 400, 2))
    assert all(dup for _, dup in again.mids)
    again.client.ack_many(m for m, _ in again.mids)
    time.sleep(0.5)
    again.close()
    last = Subscriber(mqtt_broker, "lean-acks")
    time.sleep(1.0)
    last.close()
    assert last.fast == [] and last.slow == []


def test_publishes_complete_on_the_brokers_acks(
    mqtt_broker: EmbeddedMosquitto, publisher: mqtt.Client
) -> None:
    """QoS 1 publishes of a LeanClient complete (the short PUBACK path), none left in flight."""
    sub = Subscriber(mqtt_broker, "lean-pub")
    infos = [publisher.publish(f"lean/p/{i % 9}", b"1", qos=1) for i in range(2000)]
    for info in infos:
        info.wait_for_publish(10)
    assert all(info.is_published() for info in infos)
    assert publisher._out_messages == {} and publisher._inflight_messages == 0
    sub.wait_for(2000, ack=True)
    sub.client.ack_many(m for m, _ in sub.mids)
    sub.close()


def test_without_on_packet_every_message_takes_pahos_path(
    mqtt_broker: EmbeddedMosquitto, publisher: mqtt.Client
) -> None:
    sub = Subscriber(mqtt_broker, "lean-plain", lean=False)
    for i in range(50):
        publisher.publish(f"lean/s/{i}", b"v", qos=1).wait_for_publish(10)
    sub.wait_for(50)
    sub.client.ack_many(m for m, _ in sub.mids)
    sub.close()
    assert sub.fast == [] and len(sub.slow) == 50
