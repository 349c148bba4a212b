"""Where the simulator's messages go: the broker (MQTT QoS 1), the twin's ingest routes over
HTTP, and a GTFS-realtime file that ``twin gtfs rt`` polls.

Why no retry logic of its own beyond what each transport needs: every message carries its
time and message id, so resending is always safe (a duplicate, never a second observation).
MQTT keeps unacknowledged messages in paho's queue and resends them after a reconnect; an HTTP
post that fails (the server is not up yet, a 5xx) is tried again a few times, then counted as
failed, and the run goes on.
"""

from __future__ import annotations

import http.client
import logging
import os
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from sensors_bridge.simulate.messages import Message

LOGGER = logging.getLogger(__name__)


class MQTTPublisher:
    """QoS 1 publishes to one broker; :meth:`close` waits until the broker acknowledged all."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str | None = None,
        password: str | None = None,
        connect_timeout: float = 15,
    ) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="", protocol=mqtt.MQTTv5)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.reconnect_delay_set(min_delay=1, max_delay=10)
        self.connected = threading.Event()
        self.client.on_connect = lambda *_: self.connected.set()
        self.client.on_disconnect = lambda *_: self.connected.clear()
        self.client.connect_async(host, port)
        self.client.loop_start()
        if not self.connected.wait(connect_timeout):
            self.client.loop_stop()
            from geodata.errors import InputError

            raise InputError(
                f"no MQTT broker answers on {host}:{port}: start it with `twin broker start` "
                "(or set TWIN_MQTT_URL)"
            )
        self._pending: list[mqtt.MQTTMessageInfo] = []

    def publish(self, message: Message) -> None:
        """Queue it at QoS 1 (paho sends it once connected again, if the broker went away)."""
        assert message.topic is not None
        self._pending.append(self.client.publish(message.topic, message.body, qos=1))
        if len(self._pending) > 1000:
            self._pending = [p for p in self._pending if not p.is_published()]

    def close(self, timeout: float = 5) -> int:
        """Wait for the broker's acknowledgements; how many messages it did not acknowledge."""
        deadline = time.monotonic() + timeout
        for info in self._pending:
            while not info.is_published() and time.monotonic() < deadline:
                time.sleep(0.01)
        missing = sum(1 for p in self._pending if not p.is_published())
        self.client.disconnect()
        self.client.loop_stop()
        return missing


class HTTPPublisher:
    """Posts to the twin's ingest routes with an integration token, on one kept-alive
    connection; observations of ``/api/ingest`` are sent as one JSON array per flush."""

    def __init__(self, base_url: str, token: str, *, attempts: int = 5) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            from geodata.errors import InputError

            raise InputError(
                f"--url {base_url!r}: give the twin's address, e.g. http://127.0.0.1:8000"
            )
        self.parts, self.token, self.attempts = parts, token, attempts
        self._conn: http.client.HTTPConnection | None = None
        self._batch: list[bytes] = []
        self.failed: Counter[str] = Counter()

    def publish(self, message: Message) -> None:
        assert message.path is not None
        if message.path == "/api/ingest":
            self._batch.append(message.body)
        else:
            self._post(message.path, message.body, message.protocol, 1)

    def flush(self) -> None:
        if self._batch:
            body = b"[" + b",".join(self._batch) + b"]"
            self._post("/api/ingest", body, "http", len(self._batch))
            self._batch = []

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = (
                http.client.HTTPSConnection
                if self.parts.scheme == "https"
                else http.client.HTTPConnection
            )
            self._conn = cls(self.parts.hostname or "", self.parts.port, timeout=30)
        return self._conn

    def _post(self, path: str, body: bytes, protocol: str, count: int) -> None:
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        prefix = self.parts.path.rstrip("/")
        for attempt in range(self.attempts):
            try:
                conn = self._connection()
                conn.request("POST", prefix + path, body, headers)
                answer = conn.getresponse()
                text = answer.read()
                if answer.status < 500:
                    if answer.status >= 400:
                        LOGGER.warning("%s refused (%s): %s", path, answer.status, text[:300])
                        self.failed[protocol] += count
                    return
            except (OSError, http.client.HTTPException) as exc:
                LOGGER.debug("POST %s failed (%s), attempt %d", path, exc, attempt + 1)
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            time.sleep(min(0.2 * 2**attempt, 3))
        LOGGER.warning("POST %s: the twin did not answer; %d observations not sent", path, count)
        self.failed[protocol] += count

    def close(self) -> None:
        self.flush()
        if self._conn is not None:
            self._conn.close()


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so a poller reads the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
