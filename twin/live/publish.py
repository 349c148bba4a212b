"""The live publisher: after each commit, every observation that became its device's latest
value for its metric goes to ``twin/live/state/{device}/{metric}`` (QoS 1).

It is a :class:`~sensors_bridge.listeners.BatchListener`, so each stored observation is
published exactly once however many bridges and app workers write, and never before it is
durable. Which observations became the latest is asked of ``latest_state`` inside the batch's
transaction (an older, back-dated observation is stored but changes nothing live), and only
active devices are published: a quarantined device never reaches a screen. Publishing never
blocks the writer: paho queues (bounded by ``TWIN_LIVE_PUBLISH_QUEUE``) and sends from its
own thread; what a broker outage drops, the hubs recover by reloading from the database when
they reconnect.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from contextlib import suppress
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
import paho.mqtt.client as mqtt
from sqlalchemy import Connection, text

from sensors_bridge.listeners import Stored
from twin.live.mqtt import live_client, state_topic

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from twin.settings import Settings

LOGGER = logging.getLogger(__name__)

_BECAME_LATEST = text(
    "SELECT l.device_id, l.metric FROM latest_state l JOIN devices d ON d.id = l.device_id "
    "WHERE d.status = 'active' AND (l.device_id, l.metric, l.at) IN "
    "(SELECT * FROM unnest(CAST(:d AS text[]), CAST(:m AS text[]), CAST(:a AS timestamptz[])))"
)


def rfc3339(at: datetime) -> str:
    """Fixed width, UTC, microseconds: the same instant always prints the same way."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def state_payload(s: Stored) -> bytes:
    doc: dict[str, Any] = {
        "device_id": s.device_id,
        "metric": s.metric,
        "value": s.value,
        "unit": s.unit,
        "quality": s.quality,
        "at": rfc3339(s.at),
    }
    return orjson.dumps(doc)


def newest(stored: Sequence[Stored]) -> dict[tuple[str, str], Stored]:
    """The newest of the batch per device and metric (the only candidates to be latest)."""
    out: dict[tuple[str, str], Stored] = {}
    for s in stored:
        key = (s.device_id, s.metric)
        seen = out.get(key)
        if seen is None or s.at > seen.at:
            out[key] = s
    return out


def became_latest(conn: Connection, stored: Sequence[Stored]) -> list[Stored]:
    """What of ``stored`` is now ``latest_state`` of an active device, inside the batch."""
    best = newest(stored)
    if not best:
        return []
    rows = conn.execute(
        _BECAME_LATEST,
        {
            "d": [k[0] for k in best],
            "m": [k[1] for k in best],
            "a": [s.at for s in best.values()],
        },
    )
    return [best[r.device_id, r.metric] for r in rows]


class LivePublisher:
    """The ``live`` batch listener (registered in :mod:`twin.listeners`)."""

    name = "live"

    def __init__(self, settings: Settings, client: mqtt.Client | None = None) -> None:
        self.settings = settings
        self._client = client
        self._pending = threading.local()
        self._lock = threading.Lock()
        self._started = False
        self._last: mqtt.MQTTMessageInfo | None = None
        self.dropped = 0

    def _connected(self) -> mqtt.Client:
        """The client, connected on first use: an app that never stores starts no thread."""
        with self._lock:
            if self._client is None:
                self._client = live_client(self.settings, "pub")
            if not self._started:
                self._client.max_inflight_messages_set(1000)
                self._client.max_queued_messages_set(self.settings.live_publish_queue)
                host, port = self.settings.mqtt_address
                self._client.connect_async(host, port, keepalive=30)
                self._client.loop_start()
                self._started = True
            return self._client

    def in_transaction(self, conn: Connection, stored: Sequence[Stored], now: datetime) -> None:
        # one batch per thread at a time: what to publish waits here for its commit; the
        # batch writer's merge already said what became live (Stored.live), else ask
        if all(s.live is not None for s in stored):
            self._pending.items = list(newest([s for s in stored if s.live]).values())
        else:
            self._pending.items = became_latest(conn, stored)

    def after_commit(self, stored: Sequence[Stored]) -> None:
        items: list[Stored] = getattr(self._pending, "items", [])
        self._pending.items = []
        if not items:
            return
        client = self._connected()
        for s in items:
            info = client.publish(state_topic(s.device_id, s.metric), state_payload(s), qos=1)
            self._last = info
            if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
                self.dropped += 1
                if self.dropped % 10_000 == 1:
                    LOGGER.warning(
                        "live publisher: %d state changes dropped, the broker is not keeping "
                        "up or is unreachable (TWIN_LIVE_PUBLISH_QUEUE)",
                        self.dropped,
                    )

    def close(self) -> None:
        with self._lock:
            if self._client is None or not self._started:
                return
            last, self._last = self._last, None
            if last is not None and last.rc == mqtt.MQTT_ERR_SUCCESS:
                # what is queued goes out first (in order), for a short while at most
                with suppress(RuntimeError, ValueError):
                    last.wait_for_publish(timeout=2.0)
            self._client.disconnect()
            self._client.loop_stop()
            self._started = False


def factory(settings: Settings, engine: Engine) -> LivePublisher | None:
    """The registry's factory: a publisher unless ``TWIN_LIVE`` is off."""
    return LivePublisher(settings) if settings.live else None
