"""Benchmark: the live path, MQTT publish -> stored -> ``/ws/live`` delivered, beside the
peer: raw Mosquitto publish -> subscribe (paho subscribers that only count), same broker,
same publishers, in one run.

The twin's side is the real thing in separate processes: ``--bridges`` bridges (the batch
writer with its live publisher, shared subscription), one app worker (uvicorn, its hub on
``twin/live/#``) and ``--clients`` WebSocket clients subscribed to every device. A flood
measures throughput: messages from the first publish until every client holds every device's
last value (peer: until the last message is received); ``--paced RATE`` then publishes at
RATE messages/s. Latency is a delivered item's receipt time minus its observation time (the
publish time the payload carries): p50 and p99 (deltas are coalesced to one per device per
200 ms, so the twin delivers fewer, fresher items than it receives).

``--soak SECONDS`` instead runs 500 WebSocket clients (``--soak-clients``), 50 of them slow
(``--soak-slow``: each reads one message every 5 s and reconnects when the server drops it),
with observations paced at ``--soak-rate``, and prints the app worker's RSS over time.

    .venv/bin/python bench/live.py [--messages 100000] [--publishers 2] [--bridges 2]
        [--clients 2] [--paced 5000] [--paced-seconds 10]
    .venv/bin/python bench/live.py --soak 600 [--soak-rate 2000]
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import psutil
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
# the project's packages first (bench/tiles.py must not shadow the tiles package), then the
# benches this one reuses
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from access import free_port  # noqa: E402
from mqtt_ingest import DEVICES_PER_PUBLISHER, MP, _publisher, console, raw  # noqa: E402

from twin.services.mosquitto import EmbeddedMosquitto  # noqa: E402


class CPU:
    """CPU seconds of processes (and their children): a figure the machine's other load
    inflates far less than elapsed time, and which says what bounds the path."""

    def __init__(self, **pids: list[int]) -> None:
        self.pids = pids

    def read(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, roots in self.pids.items():
            total = 0.0
            for pid in roots:
                with contextlib.suppress(psutil.Error):
                    root = psutil.Process(pid)
                    for p in [root, *root.children(recursive=True)]:
                        with contextlib.suppress(psutil.Error):
                            t = p.cpu_times()
                            total += t.user + t.system
            out[name] = total
        return out

    def spent(self, before: dict[str, float]) -> dict[str, float]:
        return {k: v - before[k] for k, v in self.read().items()}


def _postmaster(work: Path) -> int:
    return int((work / "pg" / "data" / "postmaster.pid").read_text().split()[0])


def _settings(url: str, port: int, work: str) -> Any:
    from twin.settings import Settings

    return Settings(
        database_url=url, mqtt_url=f"mqtt://127.0.0.1:{port}", data_dir=work, _env_file=None
    )


def _bridge(url: str, port: int, work: str, k: int, ready: Any, stop: Any) -> None:
    """The real ``twin bridge`` with the registry's listeners (the live publisher)."""
    from geodata.db import make_engine
    from sensors_bridge.mqtt_bridge import MQTTBridge
    from twin.listeners import close_all, listeners_for

    engine = make_engine(url)
    listeners = listeners_for(_settings(url, port, work), engine)
    bridge = MQTTBridge(engine, "127.0.0.1", port, instance=f"live-{k}", listeners=listeners)
    thread = threading.Thread(target=bridge.run, daemon=True)
    thread.start()
    bridge.subscribed.wait(20)
    ready.release()
    stop.wait()
    bridge.request_stop()
    thread.join(30)
    close_all(listeners)


def _app(url: str, port: int, work: str, http: int, ready: Any, stop: Any) -> None:
    """One app worker on a real uvicorn (what ``twin serve`` runs)."""
    import uvicorn

    from twin.app import create_app

    app = create_app(_settings(url, port, work))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=http, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not (server.started and app.state.live.feed and app.state.live.feed.subscribed.is_set()):
        assert time.monotonic() < deadline, "the app worker did not start"
        time.sleep(0.05)
    ready.release()
    stop.wait()
    server.should_exit = True
    thread.join(30)


def _at(item: dict[str, Any]) -> float:
    return datetime.fromisoformat(item["at"]).timestamp()


async def _follow(url: str, expected: dict[str, float], ready: Any, done: Any, out: Any) -> None:
    import websockets

    lat: list[float] = []
    items = 0
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send('{"subscribe": {}}')
        orjson.loads(await ws.recv())  # the snapshot (of earlier runs' values)
        cpu = time.process_time()
        ready.release()
        missing = set(expected)
        async for raw_msg in ws:
            now = time.time()
            doc = orjson.loads(raw_msg)
            if doc["type"] not in ("delta", "snapshot"):
                continue
            for item in doc["items"]:
                items += 1
                if doc["type"] == "delta":
                    lat.append(now - _at(item))
                if expected.get(item["device_id"]) == item["value"]:
                    missing.discard(item["device_id"])
            if not missing:
                with done.get_lock():
                    done.value = max(done.value, now)
                break
    out.put((lat, items, time.process_time() - cpu))


def _client(url: str, expected: dict[str, float], ready: Any, done: Any, out: Any) -> None:
    asyncio.run(_follow(url, expected, ready, done, out))


def _expected(n: int, publishers: int, run: int) -> dict[str, float]:
    """Each device's last value: publisher k sends value i to device i % 100."""
    share = [n // publishers + (k < n % publishers) for k in range(publishers)]
    out: dict[str, float] = {}
    for k, m in enumerate(share):
        for i in range(max(0, m - DEVICES_PER_PUBLISHER), m):
            out[f"r{run}p{k}d{i % DEVICES_PER_PUBLISHER}"] = float(i)
    return out


def _register(url: str, publishers: int, runs: list[int]) -> None:
    from geodata.db import make_engine
    from sensors_bridge.registry import DeviceSpec, add_devices

    engine = make_engine(url)
    specs = [
        DeviceSpec(f"r{r}p{k}d{d}", "mqtt", "bench")
        for r in runs
        for k in range(publishers)
        for d in range(DEVICES_PER_PUBLISHER)
    ]
    add_devices(engine, specs)
    engine.dispose()


def twin_run(
    ws_url: str, port: int, n: int, publishers: int, clients: int, run: int, rate: float
) -> tuple[float, list[float], int, float]:
    """(seconds until every client holds every last value, latencies, items delivered,
    the clients' CPU seconds)."""
    expected = _expected(n, publishers, run)
    ready, done, out = MP.Semaphore(0), MP.Value("d", 0.0), MP.Queue()
    procs = [
        MP.Process(target=_client, args=(ws_url, expected, ready, done, out))
        for _ in range(clients)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        assert ready.acquire(timeout=60), "a WebSocket client did not subscribe"
    go, connected = MP.Event(), MP.Semaphore(0)
    share = [n // publishers + (k < n % publishers) for k in range(publishers)]
    pubs = [
        MP.Process(
            target=_publisher,
            args=(port, k, share[k], rate / publishers, connected, go, run, "twin"),
        )
        for k in range(publishers)
    ]
    for p in pubs:
        p.start()
    for _ in pubs:
        assert connected.acquire(timeout=60), "a publisher did not connect"
    t0 = time.time()
    go.set()
    lat: list[float] = []
    items = 0
    cpu = 0.0
    for _ in procs:
        got, k, spent = out.get(timeout=600)
        lat += got
        items += k
        cpu += spent
    for p in [*pubs, *procs]:
        p.join(60)
    return done.value - t0, lat, items, cpu


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000 if len(values) > 1 else float("nan")


def bench(url: str, work: Path, args: Any) -> None:
    port, http = free_port(), free_port()
    broker = EmbeddedMosquitto(work / "mqtt", port)
    broker.start()
    stop, ready = MP.Event(), MP.Semaphore(0)
    procs: list[Any] = []
    assert broker.proc is not None
    cpu_raw = CPU(broker=[broker.proc.pid])
    try:
        before = cpu_raw.read()
        r_raw = raw(port, args.messages, args.publishers, args.bridges, 0)
        raw_cpu = {**cpu_raw.spent(before), "consumers": r_raw.cpu}
        _register(url, args.publishers, [1, 2])
        procs.append(MP.Process(target=_app, args=(url, port, str(work), http, ready, stop)))
        procs += [
            MP.Process(target=_bridge, args=(url, port, str(work), k, ready, stop))
            for k in range(args.bridges)
        ]
        for p in procs:
            p.start()
        for _ in procs:
            assert ready.acquire(timeout=120), "the app or a bridge did not start"
        ws_url = f"ws://127.0.0.1:{http}/ws/live"
        cpu_twin = CPU(
            broker=[broker.proc.pid],
            postgres=[_postmaster(work)],
            bridges=[p.pid for p in procs[1:]],
            app=[procs[0].pid],
        )
        before = cpu_twin.read()
        flood = twin_run(ws_url, port, args.messages, args.publishers, args.clients, 1, 0)
        twin_cpu = {**cpu_twin.spent(before), "clients": flood[3]}
        paced = None
        if args.paced:
            n = int(args.paced * args.paced_seconds)
            paced = twin_run(ws_url, port, n, args.publishers, args.clients, 2, args.paced)
    finally:
        stop.set()
        for p in procs:
            p.join(60)
        broker.stop()
    n = args.messages
    table = Table("path (flood)", "observations/s", "ratio to raw", "p50 ms", "p99 ms", "items")
    table.add_row(
        "raw publish->subscribe (peer)",
        f"{r_raw.rate(n):,.0f}",
        "1.00",
        f"{r_raw.pct(50):.1f}",
        f"{r_raw.pct(99):.1f}",
        f"{n:,}",
    )
    seconds, lat, items, _ = flood
    table.add_row(
        "publish->stored->WebSocket",
        f"{n / seconds:,.0f}",
        f"{r_raw.seconds / seconds:.2f}",
        f"{pct(lat, 50):.1f}",
        f"{pct(lat, 99):.1f}",
        f"{items:,}",
    )
    console.print(
        f"{n:,} QoS 1 observations, {args.publishers} publishers, {args.bridges} bridges, 1 app "
        f"worker, {args.clients} WebSocket clients, {args.publishers * DEVICES_PER_PUBLISHER} "
        "devices"
    )
    console.print(table)
    table = Table("CPU µs per observation (flood)", *raw_cpu, *twin_cpu, "total")
    us = {k: v / n * 1e6 for k, v in raw_cpu.items()}
    table.add_row(
        "raw (peer)",
        *(f"{v:.0f}" for v in us.values()),
        *[""] * len(twin_cpu),
        f"{sum(us.values()):.0f}",
    )
    us = {k: v / n * 1e6 for k, v in twin_cpu.items()}
    table.add_row(
        "twin", *[""] * len(raw_cpu), *(f"{v:.0f}" for v in us.values()), f"{sum(us.values()):.0f}"
    )
    console.print(table)
    total = sum(us.values())
    console.print(
        f"the twin's path costs {total:.0f} µs of CPU per observation: at most "
        f"{2e6 / total:,.0f} observations/s on 2 idle cores"
    )
    if paced is not None:
        seconds, lat, items, _ = paced
        table = Table("offered/s", "seconds", "p50 ms", "p99 ms", "max ms", "items delivered")
        table.add_row(
            f"{args.paced:,.0f}",
            f"{seconds:.1f}",
            f"{pct(lat, 50):.1f}",
            f"{pct(lat, 99):.1f}",
            f"{max(lat) * 1000:.1f}",
            f"{items:,}",
        )
        console.print("paced, publish->stored->WebSocket-delivered")
        console.print(table)


def main() -> None:
    import argparse

    from access import private_postgis

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--publishers", type=int, default=2)
    parser.add_argument("--bridges", type=int, default=2)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--paced", type=float, default=5000, help="0: no paced run")
    parser.add_argument("--paced-seconds", type=float, default=10)
    parser.add_argument("--soak", type=float, default=0, help="seconds of RSS soak instead")
    parser.add_argument("--soak-rate", type=float, default=2000)
    parser.add_argument("--soak-clients", type=int, default=500)
    parser.add_argument("--soak-slow", type=int, default=50)
    parser.add_argument("--soak-every", type=float, default=30, help="seconds between samples")
    args = parser.parse_args()
    with private_postgis("live") as db:
        db.engine.dispose()  # the bench's processes make their own
        if args.soak:
            from live_soak import soak

            soak(db.url, db.work, args)
        else:
            bench(db.url, db.work, args)


if __name__ == "__main__":
    main()
