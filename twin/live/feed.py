"""The hub's ears: a plain (not shared) MQTT subscription to ``twin/live/#`` per app worker.

Every worker must hear every state change and alert to serve its own clients, so each has its
own client id and subscription; a clustered broker delivers to each the same way. paho's
network thread only appends to an inbox and, once per burst, schedules the hub on the event
loop (one wake-up per batch, not per message). The inbox is bounded: should the loop fall that
far behind, the inbox is dropped and the hub reloads from the database, which has everything.
Each (re)subscription also reloads, for what was published while the worker was not listening.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from twin.live.mqtt import LIVE_FILTER, live_client
from twin.settings import Settings

LOGGER = logging.getLogger(__name__)
#: messages waiting for the event loop before the inbox is dropped for a reload
MAX_INBOX = 200_000


class Feed:
    def __init__(
        self,
        settings: Settings,
        loop: asyncio.AbstractEventLoop,
        on_batch: Callable[[list[tuple[str, bytes]]], None],
        on_subscribed: Callable[[], None],
    ) -> None:
        self.settings = settings
        self.loop = loop
        self.on_batch = on_batch
        self.on_subscribed = on_subscribed
        self.client = live_client(settings, "hub")
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.on_packet = self._on_packet
        self.client.on_disconnect = self._on_disconnect
        self._lock = threading.Lock()
        self._inbox: list[tuple[str, bytes]] = []
        self._scheduled = False
        self.subscribed = threading.Event()
        self.overflows = 0

    def start(self) -> None:
        host, port = self.settings.mqtt_address
        self.client.connect_async(host, port, keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        if rc.is_failure:
            LOGGER.warning("live hub: the broker refused the connection (%s)", rc)
            return
        client.subscribe(LIVE_FILTER, qos=1)

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, codes: Any, _p: Any) -> None:
        if all(not c.is_failure for c in codes):
            self.subscribed.set()
            self._call(self.on_subscribed)
        else:
            LOGGER.warning("live hub: subscription to %s refused (%s)", LIVE_FILTER, codes)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        self.subscribed.clear()
        if rc.is_failure:
            LOGGER.warning("live hub: lost the broker (%s); reconnecting", rc)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        """paho's path: a message with MQTT 5 properties (the others come to _on_packet)."""
        self._take(msg._topic.decode("utf-8", "replace"), bytes(msg.payload))

    def _on_packet(self, topic: bytes, payload: bytes, _mid: int, _qos: int, _dup: bool) -> None:
        self._take(topic.decode("utf-8", "replace"), payload)

    def _take(self, topic: str, payload: bytes) -> None:
        with self._lock:
            if len(self._inbox) >= MAX_INBOX:
                self._inbox.clear()
                self.overflows += 1
                self._call(self.on_subscribed)  # reload: the database has it all
            self._inbox.append((topic, payload))
            if self._scheduled:
                return
            self._scheduled = True
        self._call(self._drain)

    def _call(self, fn: Callable[[], None]) -> None:
        with suppress(RuntimeError):  # the worker is shutting down: its loop is closed
            self.loop.call_soon_threadsafe(fn)

    def _drain(self) -> None:
        with self._lock:
            batch, self._inbox = self._inbox, []
            self._scheduled = False
        if batch:
            self.on_batch(batch)
