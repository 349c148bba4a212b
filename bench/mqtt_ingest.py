"""Benchmark: MQTT publish -> committed through ``twin bridge``'s code, beside the peer: raw
Mosquitto publish -> subscribe (paho subscribers that only count), same broker, same
publishers, same messages, in one run.

Both sides use the same processes: ``--publishers`` publisher processes (QoS 1) and
``--bridges`` consumer processes on a shared subscription (the peer's consumers are plain
paho subscribers with automatic acknowledgement; the twin's are the real bridge, which
acknowledges after the commit). Throughput is messages from the first publish to the last one
received (peer) or committed (twin: the count of rows in ``observations``); latency per
message is receipt (peer) or end of the commit (twin) minus the publish time the payload
carries, p50 and p99. A flood measures throughput; ``--paced RATE`` then publishes at RATE
messages/s for each ``--flush`` value and reports the twin's publish -> committed latency
beside raw publish -> subscribe at the same rate, run just before it (the peer, as loaded
as the machine is at that moment). Called by ``bench/ingest.py --mqtt N``, or alone:

    .venv/bin/python bench/mqtt_ingest.py [--messages 100000] [--publishers 2] [--bridges 2]
        [--paced 5000] [--paced-seconds 10] [--flush 0.25,0.1,0.05]
"""

from __future__ import annotations

import multiprocessing as mp
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sensors_bridge.model import Observation, Rejected  # noqa: E402
from sensors_bridge.mqtt_bridge import MQTTBridge  # noqa: E402
from twin.services.mosquitto import EmbeddedMosquitto  # noqa: E402

console = Console(width=150)
DEVICES_PER_PUBLISHER = 100
#: the peer's topics: the same shape as the twin's, under a root no bridge subscribes to
PEER_ROOT = "peer"
#: spawned, not forked: a forked child would share the parent's database connections
MP = mp.get_context("spawn")


def _publisher(
    port: int, k: int, n: int, rate: float, ready: Any, go: Any, run: int, root: str
) -> None:
    """Publish n QoS 1 messages (as fast as possible, or at ``rate``/s) once ``go`` is set,
    on ``root/...`` topics (the peer's own root: the bridges' persistent sessions would
    queue the peer's messages on ``twin/`` and store them on their next run)."""
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.max_queued_messages_set(0)
    pub.max_inflight_messages_set(1000)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    ready.release()
    go.wait()
    t0, last = time.monotonic(), 0.0
    infos = []
    for i in range(n):
        if rate:
            ahead = t0 + i / rate - time.monotonic()
            if ahead > 0.002:
                time.sleep(ahead)
        at = max(time.time(), last + 1e-6)  # strictly increasing: each key is unique
        last = at
        body = orjson.dumps({"value": i, "at": datetime.fromtimestamp(at, UTC).isoformat()})
        topic = f"{root}/r{run}p{k}d{i % DEVICES_PER_PUBLISHER}/temperature"
        infos.append(pub.publish(topic, body, qos=1))
    for info in infos:
        info.wait_for_publish(timeout=300)
    pub.disconnect()
    pub.loop_stop()


def _sent_at(body: bytes) -> float:
    return datetime.fromisoformat(orjson.loads(body)["at"]).timestamp()


def _subscriber(port: int, k: int, ready: Any, stop: Any, got: Any, out: Any) -> None:
    """Peer: a QoS 1 member of a shared subscription recording each receipt's latency."""
    lat: list[float] = []
    subscribed = threading.Event()

    def on_message(_c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        lat.append(time.time() - _sent_at(msg.payload))
        with got.get_lock():
            got.value += 1

    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"raw-{k}", protocol=mqtt.MQTTv5)
    sub.on_message = on_message
    sub.on_subscribe = lambda *_: subscribed.set()
    sub.connect("127.0.0.1", port)
    sub.subscribe(f"$share/raw/{PEER_ROOT}/+/+", qos=1)
    sub.loop_start()
    subscribed.wait(20)
    cpu = time.process_time()
    ready.release()
    stop.wait()
    sub.disconnect()
    sub.loop_stop()
    out.put((lat, time.process_time() - cpu))


class _Timed(MQTTBridge):
    """The real bridge, noting when each observation's batch was committed and adding the
    rows it committed to ``committed``, shared with the driving process."""

    committed: Any = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self.latencies: list[float] = []

    def _write(self, protocol: str, items: list[Observation | Rejected]) -> None:
        before = self.stats.stored
        super()._write(protocol, items)
        now = time.time()
        self.latencies += [now - o.time.timestamp() for o in items if isinstance(o, Observation)]
        with self.committed.get_lock():
            self.committed.value += self.stats.stored - before


def _bridge(
    url: str, port: int, k: int, flush: float, got: Any, ready: Any, stop: Any, out: Any
) -> None:
    from geodata.db import make_engine

    bridge = _Timed(make_engine(url), "127.0.0.1", port, instance=f"bench-{k}", flush_seconds=flush)
    bridge.committed = got
    thread = threading.Thread(target=bridge.run, daemon=True)
    thread.start()
    bridge.subscribed.wait(20)
    cpu = time.process_time()
    ready.release()
    stop.wait()
    bridge.request_stop()
    thread.join(30)
    out.put((bridge.latencies, time.process_time() - cpu))


@dataclass
class Result:
    seconds: float
    latencies: list[float]
    #: CPU seconds of the consumer processes (all their threads; not the broker's nor
    #: PostgreSQL's): per message, a figure the machine's other load inflates far less
    cpu: float = 0.0

    def cpu_us(self, n: int) -> float:
        return self.cpu / n * 1e6

    def rate(self, n: int) -> float:
        return n / self.seconds

    def pct(self, q: int) -> float:
        return statistics.quantiles(self.latencies, n=100)[q - 1] * 1000


def _drive(
    consumers: list[Any],
    ready: Any,
    stop: Any,
    out: Any,
    done: Any,
    port: int,
    n: int,
    publishers: int,
    rate: float,
    run: int,
    root: str = "twin",
) -> Result:
    """Start the consumers, publish, wait until ``done()``; the elapsed time and latencies."""
    for c in consumers:
        c.start()
    for _ in consumers:
        assert ready.acquire(timeout=60), "a consumer did not subscribe"
    go, connected = MP.Event(), MP.Semaphore(0)
    share = [n // publishers + (k < n % publishers) for k in range(publishers)]
    pubs = [
        MP.Process(
            target=_publisher,
            args=(port, k, share[k], rate / publishers, connected, go, run, root),
        )
        for k in range(publishers)
    ]
    for p in pubs:
        p.start()
    for _ in pubs:
        assert connected.acquire(timeout=60), "a publisher did not connect"
    t0 = time.perf_counter()
    go.set()
    while not done():
        time.sleep(0.02)
    elapsed = time.perf_counter() - t0
    for p in pubs:
        p.join(60)
    stop.set()
    latencies: list[float] = []
    cpu = 0.0
    for _ in consumers:
        lat, spent = out.get(timeout=60)
        latencies += lat
        cpu += spent
    for c in consumers:
        c.join(30)
    return Result(elapsed, latencies, cpu)


def raw(port: int, n: int, publishers: int, consumers: int, run: int, *, rate: float = 0) -> Result:
    ctx = (MP.Semaphore(0), MP.Event(), MP.Queue())
    got = MP.Value("q", 0)
    subs = [
        MP.Process(target=_subscriber, args=(port, k, *ctx[:2], got, ctx[2]))
        for k in range(consumers)
    ]
    return _drive(subs, *ctx, lambda: got.value >= n, port, n, publishers, rate, run, PEER_ROOT)


def twin(
    engine: Engine,
    port: int,
    n: int,
    publishers: int,
    consumers: int,
    run: int,
    *,
    rate: float = 0,
    flush: float = 0.05,
) -> Result:
    url = engine.url.render_as_string(hide_password=False)
    with engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM observations")).scalar_one()
    got = MP.Value("q", 0)  # rows the bridges committed (not a count(*) poll: it would load
    ctx = (MP.Semaphore(0), MP.Event(), MP.Queue())  # the database it measures)
    bridges = [
        MP.Process(target=_bridge, args=(url, port, k, flush, got, *ctx)) for k in range(consumers)
    ]
    result = _drive(bridges, *ctx, lambda: got.value >= n, port, n, publishers, rate, run)
    with engine.connect() as conn:
        after = conn.execute(text("SELECT count(*) FROM observations")).scalar_one()
    assert after - before == n, f"{after - before} rows stored for {n} messages"
    return result


def run(
    engine: Engine,
    work: Path,
    port: int,
    n: int,
    *,
    publishers: int = 2,
    bridges: int = 2,
    paced: float = 5000,
    paced_seconds: float = 10,
    flushes: tuple[float, ...] = (0.25, 0.1, 0.05),
) -> None:
    """Both paths on one broker under ``work``; prints the tables."""
    broker = EmbeddedMosquitto(work / "mqtt", port)
    broker.start()
    try:
        r_raw = raw(port, n, publishers, bridges, 0)
        r_twin = twin(engine, port, n, publishers, bridges, 1)
        paced_runs = []
        m = int(paced * paced_seconds)
        for i, f in enumerate(flushes if paced else ()):
            # the peer at the same rate just before: the broker's own latency on the
            # machine as loaded at that moment
            r_peer = raw(port, m, publishers, bridges, 100 + i, rate=paced)
            r = twin(engine, port, m, publishers, bridges, 2 + i, rate=paced, flush=f)
            paced_runs.append((f, r_peer, r))
    finally:
        broker.stop()
    table = Table(
        "path (flood)", "messages/s", "ratio to raw", "p50 ms", "p99 ms", "consumer CPU µs/msg"
    )
    for name, r in (("raw publish->subscribe (peer)", r_raw), ("publish->committed", r_twin)):
        table.add_row(
            name,
            f"{r.rate(n):,.0f}",
            f"{r_raw.seconds / r.seconds:.2f}",
            f"{r.pct(50):.1f}",
            f"{r.pct(99):.1f}",
            f"{r.cpu_us(n):.0f}",
        )
    console.print(
        f"{n} QoS 1 messages, {publishers} publisher and {bridges} consumer processes "
        f"(shared subscription), {publishers * DEVICES_PER_PUBLISHER} devices"
    )
    console.print(table)
    if paced_runs:
        table = Table(
            "batch timeout s",
            "offered/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "raw p50 ms (peer)",
            "raw p99 ms (peer)",
        )
        for f, r_peer, r in paced_runs:
            table.add_row(
                f"{f:g}",
                f"{paced:,.0f}",
                f"{r.pct(50):.1f}",
                f"{r.pct(99):.1f}",
                f"{max(r.latencies) * 1000:.1f}",
                f"{r_peer.pct(50):.1f}",
                f"{r_peer.pct(99):.1f}",
            )
        console.print(
            f"paced: {paced:,.0f} messages/s for {paced_seconds:g} s, publish->committed, "
            "beside raw publish->subscribe at the same rate just before"
        )
        console.print(table)


def main() -> None:
    import argparse

    from bench.access import free_port, private_postgis

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--publishers", type=int, default=2)
    parser.add_argument("--bridges", type=int, default=2)
    parser.add_argument("--paced", type=float, default=5000, help="0: no paced run")
    parser.add_argument("--paced-seconds", type=float, default=10)
    parser.add_argument("--flush", default="0.25,0.1,0.05", help="batch timeouts to try")
    args = parser.parse_args()
    with private_postgis("mqtt") as db:
        run(
            db.engine,
            db.work,
            free_port(),
            args.messages,
            publishers=args.publishers,
            bridges=args.bridges,
            paced=args.paced,
            paced_seconds=args.paced_seconds,
            flushes=tuple(float(f) for f in args.flush.split(",")),
        )


if __name__ == "__main__":
    main()
