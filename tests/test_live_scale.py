"""Scale-out through the broker: two ``twin bridge`` processes (one shared subscription) and
``twin serve --workers 2`` (two processes, each its own hub on ``twin/live/#``). Clients on
both workers end with the last value of every device exactly as it was published."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as mqtt
import psutil
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine, text

from sensors_bridge.registry import DeviceSpec, add_devices
from tests.chaos_support import bridge_process
from tests.conftest import free_port
from tests.live_support import T0, open_ws, recv, send
from twin.live.publish import rfc3339
from twin.services.mosquitto import EmbeddedMosquitto
from twin.settings import Settings

DEVICES = [f"s-{i:02d}" for i in range(40)]
VALUES = 25  # per device


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.fixture
def cluster(
    settings: Settings, engine: Engine, mqtt_broker: EmbeddedMosquitto
) -> Iterator[tuple[str, list[int]]]:
    add_devices(engine, [DeviceSpec(d, "mqtt", "gauge") for d in DEVICES])
    env = {
        "TWIN_DATABASE_URL": settings.database_url or "",
        "TWIN_DATA_DIR": str(settings.data_dir),
        "TWIN_MQTT_URL": f"mqtt://127.0.0.1:{mqtt_broker.port}",
        "TWIN_LIVE_DEVICES_SECONDS": "1",
    }
    port = free_port()
    twin = Path(sys.executable).with_name("twin")
    procs = [bridge_process(env, "scale-a"), bridge_process(env, "scale-b")]
    server = subprocess.Popen(
        [str(twin), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    procs.append(server)
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while time.monotonic() < deadline:
            assert server.poll() is None, server.stderr.read() if server.stderr else b""
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                    workers = [c.pid for c in psutil.Process(server.pid).children(recursive=True)]
                    workers = [p for p in workers if _is_worker(p)]
                    if len(workers) == 2:
                        break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        assert len(workers) == 2, f"twin serve --workers 2 started {workers}"
        yield f"ws://127.0.0.1:{port}/ws/live", workers
    finally:
        for proc in procs:
            _stop(proc)


def _is_worker(pid: int) -> bool:
    try:
        line = " ".join(psutil.Process(pid).cmdline())
        return "spawn_main" in line and "resource_tracker" not in line
    except psutil.Error:
        return False


def _holder(workers: list[int], client_port: int) -> int | None:
    """Which worker process holds the server side of a client's connection."""
    for pid in workers:
        for c in psutil.Process(pid).net_connections(kind="tcp"):
            if c.raddr and c.raddr.port == client_port:
                return pid
    return None


def test_every_client_on_every_worker_sees_the_last_values(
    cluster: tuple[str, list[int]], engine: Engine, mqtt_broker: EmbeddedMosquitto
) -> None:
    url, workers = cluster
    clients: list[Any] = []
    held: dict[int, int] = {}
    with ExitStack() as stack:
        # the second worker may still be starting its loop when the first accepts: keep
        # connecting, a little apart, until both hold clients (up to 64 clients or 30 s)
        deadline = time.monotonic() + 30
        while len(set(held.values())) < 2 or len(clients) < 4:
            if len(clients) >= 64 or time.monotonic() > deadline:
                break
            if len(clients) >= 4:
                time.sleep(0.25)
            ws = stack.enter_context(open_ws(url))
            send(ws, {"subscribe": {}})
            assert recv(ws)["type"] == "snapshot"
            port = ws.socket.getsockname()[1]
            pid = _holder(workers, port)
            assert pid is not None
            held[len(clients)] = pid
            clients.append(ws)
        assert set(held.values()) == set(workers), "every client landed on one worker"

        expected = _publish(mqtt_broker.port)
        results: list[dict[str, tuple[float, str]]] = [{} for _ in clients]

        def follow(k: int) -> None:
            state = results[k]
            deadline = time.monotonic() + 90
            while state != expected and time.monotonic() < deadline:
                try:
                    doc = recv(clients[k], 2)
                except TimeoutError:
                    continue
                if doc["type"] in ("delta", "snapshot"):
                    for i in doc["items"]:
                        state[i["device_id"]] = (i["value"], i["at"])

        threads = [threading.Thread(target=follow, args=(k,)) for k in range(len(clients))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for k, state in enumerate(results):
            wrong = {d: (state.get(d), v) for d, v in expected.items() if state.get(d) != v}
            assert not wrong, f"client {k} on worker {held[k]}: {dict(list(wrong.items())[:5])}"
        with engine.connect() as conn:  # and each observation was stored once
            n = conn.execute(text("SELECT count(*) FROM observations")).scalar_one()
        assert n == len(DEVICES) * VALUES


def _publish(port: int) -> dict[str, tuple[float, str]]:
    """Every device's values in time order, interleaved; the last of each, as clients get it."""
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.max_inflight_messages_set(500)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    expected: dict[str, tuple[float, str]] = {}
    now = T0.replace(year=2026) - timedelta(days=1)
    try:
        for j in range(VALUES):
            for k, d in enumerate(DEVICES):
                at = now + timedelta(seconds=j, milliseconds=k)
                value = round(k * 1.5 + j * 0.25, 3)
                body = orjson.dumps({"value": value, "at": at.isoformat()})
                info = pub.publish(f"twin/{d}/level", body, qos=1)
                expected[d] = (value, rfc3339(at))
        info.wait_for_publish(30)
    finally:
        pub.loop_stop()
        pub.disconnect()
    return expected
