"""The outbox's MQTT side: one paho-mqtt 2 client per process, QoS 1, connected lazily.

Why paho (as ``twin bridge``): QoS 1 with a wait for the broker's PUBACK tells the outbox a
message is the broker's before it is marked sent; the connection settings are the bridge's
(``TWIN_MQTT_URL``, login, TLS), so commands reach the broker the devices listen on.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from twin.settings import Settings

CONNECT_TIMEOUT = 5.0
PUBLISH_TIMEOUT = 10.0


class MQTTPublisher:
    """Publishes outbox messages; raises when the broker does not take one (then retried)."""

    def __init__(self, settings: Settings) -> None:
        self.host, self.port = settings.mqtt_address
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"twin-rules-{uuid.uuid4().hex[:12]}",
            protocol=mqtt.MQTTv5,
        )
        user, password = settings.mqtt_login
        if user is not None:
            self.client.username_pw_set(user, password)
        if settings.mqtt_tls:
            from sensors_bridge.mqtt_bridge import _tls_context

            self.client.tls_set_context(_tls_context(settings.mqtt_ca_file))
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._connected = threading.Event()
        #: set when connected or when the process shuts down: what a publish waits for
        self._gate = threading.Event()
        self._closing = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self._started = False

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            self._connected.set()
            self._gate.set()

    def _on_disconnect(self, *_: Any) -> None:
        self._connected.clear()
        if not self._closing.is_set():
            self._gate.clear()

    def publish(self, topic: str, payload: bytes, delivery: int) -> None:
        if not self._started:
            self._started = True
            self.client.connect_async(self.host, self.port, keepalive=30)
            self.client.loop_start()
        self._gate.wait(CONNECT_TIMEOUT)
        if self._closing.is_set():  # the message stays in the outbox for the next start
            raise RuntimeError("the twin is shutting down: the message is sent after restart")
        if not self._connected.is_set():
            raise RuntimeError(f"the MQTT broker {self.host}:{self.port} does not answer")
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.UserProperty = ("twin-delivery", str(delivery))
        info = self.client.publish(topic, payload, qos=1, properties=props)
        info.wait_for_publish(PUBLISH_TIMEOUT)
        if not info.is_published():
            raise RuntimeError(f"the broker did not acknowledge {topic} in {PUBLISH_TIMEOUT:g} s")

    def interrupt(self) -> None:
        """End a publish waiting for an absent broker: a shutdown should not wait the
        connection timeout out (the outbox keeps the message)."""
        self._closing.set()
        self._gate.set()

    def close(self) -> None:
        self.interrupt()
        if self._started:
            self.client.loop_stop()
            self.client.disconnect()
