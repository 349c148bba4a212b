"""Benchmark: MQTT publish -> stored through ``twin bridge``'s code, beside the peer: raw
Mosquitto publish -> subscribe (a paho subscriber that only counts), same broker, same
publisher, same messages, in the same process.

Throughput is messages from the first publish to the last one received (peer) or committed
(twin); latency per message is receipt (peer) or commit (twin) minus the publish time the
payload carries, p50 and p99. Called by ``bench/ingest.py --mqtt``, or alone:

    .venv/bin/python bench/mqtt_ingest.py [--messages 20000]
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sensors_bridge.model import Observation, Rejected  # noqa: E402
from sensors_bridge.mqtt_bridge import MQTTBridge  # noqa: E402
from twin.services.mosquitto import EmbeddedMosquitto  # noqa: E402

console = Console()


def _publish(port: int, n: int, run: int) -> None:
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.max_queued_messages_set(0)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    infos = []
    for i in range(n):
        at = time.time()
        body = orjson.dumps({"value": i, "at": _rfc3339(at + run * 1e-6)})
        infos.append(pub.publish(f"twin/d{i % 200}/temperature", body, qos=1))
    for info in infos:
        info.wait_for_publish(timeout=120)
    pub.disconnect()
    pub.loop_stop()


def _rfc3339(t: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).isoformat()


def _sent_at(body: bytes) -> float:
    from datetime import datetime

    return datetime.fromisoformat(orjson.loads(body)["at"]).timestamp()


def raw(port: int, n: int) -> tuple[float, list[float]]:
    """Peer: a QoS 1 subscriber that records receipt times; (seconds, latencies)."""
    lat: list[float] = []
    done = threading.Event()
    subscribed = threading.Event()

    def on_message(_c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        lat.append(time.time() - _sent_at(msg.payload))
        if len(lat) == n:
            done.set()

    sub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sub.on_message = on_message
    sub.on_subscribe = lambda *_: subscribed.set()
    sub.connect("127.0.0.1", port)
    sub.subscribe("twin/+/+", qos=1)
    sub.loop_start()
    subscribed.wait(10)
    t0 = time.perf_counter()
    _publish(port, n, 0)
    done.wait(300)
    elapsed = time.perf_counter() - t0
    sub.disconnect()
    sub.loop_stop()
    return elapsed, lat


class _Timed(MQTTBridge):
    """The real bridge, noting when each observation's batch was committed."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.latencies: list[float] = []

    def _write(self, protocol: str, items: list[Observation | Rejected]) -> None:
        super()._write(protocol, items)
        now = time.time()
        self.latencies += [now - o.time.timestamp() for o in items if isinstance(o, Observation)]


def twin(engine: Engine, port: int, n: int) -> tuple[float, list[float]]:
    """The twin: publish -> committed by the bridge; (seconds, latencies)."""
    bridge = _Timed(engine, "127.0.0.1", port, instance="bench")
    thread = threading.Thread(target=bridge.run, daemon=True)
    thread.start()
    bridge.subscribed.wait(20)
    t0 = time.perf_counter()
    _publish(port, n, 1)
    while bridge.stats.stored + bridge.stats.duplicate < n:
        time.sleep(0.01)
    elapsed = time.perf_counter() - t0
    bridge.request_stop()
    thread.join(20)
    return elapsed, bridge.latencies


def _pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000


def run(engine: Engine, work: Path, port: int, n: int) -> None:
    """Both paths on one broker under ``work``; prints the table."""
    broker = EmbeddedMosquitto(work / "mqtt", port)
    broker.start()
    try:
        t_raw, l_raw = raw(port, n)
        t_twin, l_twin = twin(engine, port, n)
    finally:
        broker.stop()
    table = Table("path", "messages/s", "ratio to raw", "p50 ms", "p99 ms")
    for name, t, lat in (
        ("raw publish->subscribe (peer)", t_raw, l_raw),
        ("publish->stored", t_twin, l_twin),
    ):
        table.add_row(
            name,
            f"{n / t:,.0f}",
            f"{t_raw / t:.2f}",
            f"{_pct(lat, 50):.1f}",
            f"{_pct(lat, 99):.1f}",
        )
    console.print(f"{n} QoS 1 messages over 200 devices, one publisher")
    console.print(table)


def main() -> None:
    import argparse
    import os
    import shutil
    import tempfile

    from ingest import free_port

    from geodata.db import make_engine, migrate
    from twin.services.postgres import EmbeddedPostgres

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="twin-bench-mqtt-"))

    pg = EmbeddedPostgres(work / "pg", int(os.environ.get("TWIN_PG_PORT") or free_port()))
    pg.start()
    try:
        url = f"postgresql+psycopg://twin@127.0.0.1:{pg.port}/postgres"
        migrate(url)
        run(make_engine(url), work, free_port(), args.messages)
    finally:
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
