"""``bench/live.py --soak SECONDS``: the app worker's RSS over time with 500 WebSocket clients,
50 of them slow (each reads one message every 5 s and comes back when the server drops it),
while observations are paced through a real bridge. Kept apart from bench/live.py only to keep
each file short; run it through that script.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import psutil
from live import _app, _bridge, _register, free_port
from mqtt_ingest import MP, _publisher, console
from rich.table import Table

from twin.services.mosquitto import EmbeddedMosquitto


async def _readers(url: str, n: int, ready: Any, stop: Any, out: Any) -> None:
    import websockets

    count = [0]

    async def one() -> None:
        async with websockets.connect(url, max_size=None) as ws:
            await ws.send('{"subscribe": {}}')
            await ws.recv()
            ready.release()
            while not stop.is_set():
                try:
                    await asyncio.wait_for(ws.recv(), 1)
                    count[0] += 1
                except TimeoutError:
                    pass

    await asyncio.gather(*(one() for _ in range(n)))
    out.put(("readers", count[0], 0))


async def _slow(url: str, n: int, ready: Any, stop: Any, out: Any) -> None:
    import websockets
    from websockets.exceptions import ConnectionClosed

    stats = {"messages": 0, "dropped": 0}

    async def one(first: bool) -> None:
        while not stop.is_set():
            try:
                async with websockets.connect(
                    url, max_size=None, max_queue=1, ping_interval=None
                ) as ws:
                    await ws.send('{"subscribe": {}}')
                    if first:
                        ready.release()
                        first = False
                    while not stop.is_set():
                        await asyncio.sleep(5)  # deliberately slow: one message per 5 s
                        await ws.recv()
                        stats["messages"] += 1
            except (ConnectionClosed, OSError):
                stats["dropped"] += 1  # the server gave up on it: come back, slow again

    await asyncio.gather(*(one(True) for _ in range(n)))
    out.put(("slow", stats["messages"], stats["dropped"]))


def _clients_proc(kind: str, url: str, n: int, ready: Any, stop: Any, out: Any) -> None:
    fn = _readers if kind == "readers" else _slow
    asyncio.run(fn(url, n, ready, stop, out))


def soak(url: str, work: Path, args: Any) -> None:
    port, http = free_port(), free_port()
    broker = EmbeddedMosquitto(work / "mqtt", port)
    broker.start()
    stop, ready = MP.Event(), MP.Semaphore(0)
    cstop, out = MP.Event(), MP.Queue()
    procs: list[Any] = []
    clients: list[Any] = []
    samples: list[tuple[float, float]] = []
    try:
        _register(url, args.publishers, [9])
        app = MP.Process(target=_app, args=(url, port, str(work), http, ready, stop))
        procs = [app, MP.Process(target=_bridge, args=(url, port, str(work), 0, ready, stop))]
        for p in procs:
            p.start()
        for _ in procs:
            assert ready.acquire(timeout=120), "the app or the bridge did not start"
        ws_url = f"ws://127.0.0.1:{http}/ws/live"
        readers = args.soak_clients - args.soak_slow
        halves = [readers // 2, readers - readers // 2]
        clients = [
            MP.Process(target=_clients_proc, args=("readers", ws_url, h, ready, cstop, out))
            for h in halves
        ]
        clients.append(
            MP.Process(
                target=_clients_proc, args=("slow", ws_url, args.soak_slow, ready, cstop, out)
            )
        )
        for p in clients:
            p.start()
        for _ in range(args.soak_clients):
            assert ready.acquire(timeout=300), "a soak client did not subscribe"
        n = int(args.soak_rate * args.soak)
        go, connected = MP.Event(), MP.Semaphore(0)
        share = [n // args.publishers + (k < n % args.publishers) for k in range(args.publishers)]
        pubs = [
            MP.Process(
                target=_publisher,
                args=(
                    port,
                    k,
                    share[k],
                    args.soak_rate / args.publishers,
                    connected,
                    go,
                    9,
                    "twin",
                ),
            )
            for k in range(args.publishers)
        ]
        for p in pubs:
            p.start()
        for _ in pubs:
            assert connected.acquire(timeout=60)
        worker = psutil.Process(app.pid)
        t0 = time.monotonic()
        go.set()
        samples.append((0.0, worker.memory_info().rss / 2**20))
        while any(p.is_alive() for p in pubs):
            time.sleep(min(args.soak_every, 1.0))
            t = time.monotonic() - t0
            if t - samples[-1][0] >= args.soak_every:
                samples.append((t, worker.memory_info().rss / 2**20))
                console.print(f"  {t:6.0f} s  app worker RSS {samples[-1][1]:.1f} MB")
        samples.append((time.monotonic() - t0, worker.memory_info().rss / 2**20))
        cstop.set()
        results = [out.get(timeout=120) for _ in clients]
    finally:
        cstop.set()
        for p in clients:
            p.join(60)
        stop.set()
        for p in procs:
            p.join(60)
        broker.stop()
    table = Table("seconds", "app worker RSS MB")
    for t, mb in samples:
        table.add_row(f"{t:.0f}", f"{mb:.1f}")
    console.print(
        f"soak: {args.soak_clients} WebSocket clients ({args.soak_slow} slow), "
        f"{args.soak_rate:,.0f} observations/s for {args.soak:g} s"
    )
    console.print(table)
    for kind, messages, dropped in results:
        console.print(f"  {kind}: {messages:,} messages read, {dropped} dropped by the server")
