"""What the chaos tests share: a paced QoS 1 publisher that records which messages the broker
acknowledged, the count of what was stored, bridges as threads or as ``twin bridge`` processes.

The publisher's messages carry ``at`` (the base time plus the message's index in
milliseconds) and their index as ``value``, so a stored row names exactly which message it
came from, and the idempotency key is the message's own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine, text

from sensors_bridge.mqtt_bridge import MQTTBridge

BASE = datetime(2026, 11, 30, 10, tzinfo=UTC)
METRIC = "chaos"


def payload(i: int) -> bytes:
    at = (BASE + timedelta(milliseconds=i)).isoformat()
    return b'{"value": %d, "at": "%s"}' % (i, at.encode())


@dataclass
class PacedPublisher:
    """Publishes ``n`` QoS 1 messages at ``rate`` per second on its own thread, reconnecting
    through broker restarts (paho resends what was not acknowledged, with DUP set)."""

    port: int
    n: int
    rate: float
    #: the first message's index (two publishers of one test use disjoint ranges)
    offset: int = 0
    published: int = 0
    #: the messages the broker answered with PUBACK Success (0x00)
    acked: set[int] = field(default_factory=set)
    codes: dict[int, int] = field(default_factory=dict)
    _acks: list[tuple[int, int]] = field(default_factory=list)
    _mids: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        assert self.n < 65_535, "packet ids would wrap: one index per mid is assumed"
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"chaos-pub-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        self.client.max_queued_messages_set(0)
        self.client.max_inflight_messages_set(1000)
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.client.on_publish = self._on_publish
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _on_publish(self, _c: Any, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        self._acks.append((mid, reason.value))  # list.append is atomic: no lock needed

    def start(self) -> PacedPublisher:
        self.client.connect_async("127.0.0.1", self.port)
        self.client.loop_start()
        self.thread.start()
        return self

    def _run(self) -> None:
        t0 = time.monotonic()
        for i in range(self.n):
            ahead = t0 + i / self.rate - time.monotonic()
            if ahead > 0.002:
                time.sleep(ahead)
            k = self.offset + i
            info = self.client.publish(f"twin/c{k % 17}/{METRIC}", payload(k), qos=1)
            self._mids.append(info.mid)
            self.published = i + 1

    def wait_published(self, k: int, timeout: float = 120) -> None:
        wait_for(lambda: self.published >= k, timeout)

    def finish(self, timeout: float = 120) -> set[int]:
        """Wait for the last publish and for the broker's answers; the indexes it acked."""
        self.thread.join(timeout)
        wait_for(lambda: len(self._acks) >= self.n, timeout)
        self.client.disconnect()
        self.client.loop_stop()
        index = {mid: self.offset + i for i, mid in enumerate(self._mids)}
        self.codes = {index[mid]: code for mid, code in self._acks}
        self.acked = {i for i, code in self.codes.items() if code == 0}
        return self.acked

    @property
    def unrouted(self) -> set[int]:
        """Messages answered 0x10 "No matching subscribers": taken, and given to nobody."""
        return {i for i, code in self.codes.items() if code == 0x10}


def wait_for(cond: Callable[[], bool], timeout: float = 120) -> None:
    """Wait for a condition; a bound against hanging, not a measurement."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def stored(engine: Engine) -> dict[int, int]:
    """Message index -> rows stored for it (retries past a lost connection included)."""
    for _ in range(100):
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    text(
                        "SELECT value::int, count(*) FROM observations WHERE metric = :m GROUP BY 1"
                    ),
                    {"m": METRIC},
                )
                return {int(v): int(c) for v, c in rows}
        except Exception:  # the database restarting under the test: ask again
            time.sleep(0.2)
    raise AssertionError("the database did not come back")


def settle(engine: Engine, acked: set[int], n: int, quiet: float = 15) -> tuple[set[int], int]:
    """Wait until every acked message is stored, or nothing new was stored for ``quiet``
    seconds; then (lost, doubled), after a second more for anything arriving twice."""
    last, since = -1, time.monotonic()
    while not acked <= (rows := stored(engine)).keys():
        if len(rows) != last:
            last, since = len(rows), time.monotonic()
        elif time.monotonic() - since > quiet:
            break
        time.sleep(0.2)
    time.sleep(1)
    rows = stored(engine)
    assert rows.keys() <= set(range(n))
    return acked - rows.keys(), sum(c - 1 for c in rows.values())


def spans(indexes: set[int]) -> str:
    """``3-7, 12``: the lost messages, readable in a failed assertion."""
    out: list[str] = []
    for i in sorted(indexes):
        if out and out[-1].rsplit("-", 1)[-1] == str(i - 1):
            out[-1] = f"{out[-1].split('-')[0]}-{i}"
        else:
            out.append(str(i))
    return ", ".join(out[:20]) + (" ..." if len(out) > 20 else "")


class ThreadBridge:
    """An in-process bridge on a thread."""

    def __init__(self, engine: Engine, port: int, instance: str, *, shared: bool = True) -> None:
        self.bridge = MQTTBridge(engine, "127.0.0.1", port, instance=instance, shared=shared)
        self.thread = threading.Thread(target=self.bridge.run, daemon=True)
        self.thread.start()
        assert self.bridge.subscribed.wait(20), "the bridge did not subscribe"

    def stop(self) -> None:
        self.bridge.request_stop()
        self.thread.join(30)
        assert not self.thread.is_alive()


def bridge_process(env: dict[str, str], instance: str) -> subprocess.Popen[bytes]:
    """``twin bridge`` as its own process (what ``kill -9`` hits)."""
    twin = Path(sys.executable).with_name("twin")
    return subprocess.Popen(
        [str(twin), "bridge", "--instance", instance, "--batch-size", "200"],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
