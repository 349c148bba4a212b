"""Shared by the live hub's tests: a seeded registry, a real uvicorn in a thread, a client.

The world: public parking bays (furniture layer), an agent-only camera (cameras layer), a
confidential bay, an unbound public device (no location), and a quarantined one that must
never appear. The expected views per role are written out by hand in the tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import uvicorn
from sqlalchemy import Engine, text
from websockets.sync.client import ClientConnection, connect

from geodata.working_crs import set_working_crs
from sensors_bridge.model import Observation
from sensors_bridge.registry import DeviceSpec, add_devices
from sensors_bridge.store import BatchWriter
from tests.conftest import free_port
from twin.accounts import create_user
from twin.app import create_app
from twin.listeners import listeners_for
from twin.settings import Settings

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
X0, Y0 = 385_000.0, 6_672_000.0
#: device id -> who may see it (a visibility); the quarantined one is nobody's
DEVICES = {
    "bay-1": "public",
    "bay-2": "public",
    "cam-1": "agent",
    "bay-conf": "confidential",
    "free-1": "public",
}
QUARANTINED = "quar-1"
PRINCIPALS = ["anonymous", "citizen", "agent", "planner", "operator", "admin"]


def seed(engine: Engine) -> dict[str, str]:
    """The world above; a token per role (anonymous: none)."""
    with engine.begin() as conn:
        set_working_crs(conn, 3067)
        conn.execute(
            text(
                "INSERT INTO furniture (id, source, source_id, kind, geom) VALUES "
                "(1, 'osm', 'n1', 'parking_space', ST_SetSRID(ST_MakePoint(:x, :y, 0), 3067)),"
                "(2, 'osm', 'n2', 'parking_space', ST_SetSRID(ST_MakePoint(:x + 2000, :y, 0), "
                "3067)), (3, 'osm', 'n3', 'camera', ST_SetSRID(ST_MakePoint(:x + 10, :y, 0), "
                "3067)), (4, 'osm', 'n4', 'parking_space', ST_SetSRID(ST_MakePoint(:x + 20, :y,"
                " 0), 3067))"
            ),
            {"x": X0, "y": Y0},
        )
    add_devices(
        engine,
        [
            DeviceSpec("bay-1", "mqtt", "parking_sensor", feature="furniture:1"),
            DeviceSpec("bay-2", "mqtt", "parking_sensor", feature="furniture:2"),
            DeviceSpec("cam-1", "mqtt", "camera_counter", feature="cameras:3"),
            DeviceSpec(
                "bay-conf",
                "mqtt",
                "parking_sensor",
                visibility="confidential",
                feature="furniture:4",
            ),
            DeviceSpec("free-1", "http", "air_quality"),
        ],
    )
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO devices (id, protocol, type, status, visibility) "
                "VALUES (:i, 'mqtt', 'unknown', 'quarantined', 'confidential')"
            ),
            {"i": QUARANTINED},
        )
    return {r: create_user(engine, f"live-{r}", r) for r in PRINCIPALS if r != "anonymous"}


def sees(principal: str) -> set[str]:
    """By hand: which of DEVICES a principal sees."""
    allowed = {
        "anonymous": {"public"},
        "citizen": {"public"},
        "agent": {"public", "agent"},
        "planner": {"public", "agent"},
        "operator": {"public", "agent"},
        "admin": {"public", "agent", "confidential"},
    }[principal]
    return {d for d, v in DEVICES.items() if v in allowed}


def live_settings(settings: Settings, broker_port: int, **extra: Any) -> Settings:
    return settings.model_copy(
        update={"mqtt_url": f"mqtt://127.0.0.1:{broker_port}", "live_devices_seconds": 0.5, **extra}
    )


class Writer:
    """Stores observations as the bridge and the ingest routes do: the live publisher hears."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.listeners = listeners_for(settings, engine)
        self.writer = BatchWriter(engine, "mqtt", self.listeners)

    def store(self, *obs: tuple[str, str, float, datetime]) -> None:
        result = self.writer.write(
            [Observation(d, m, v, at, protocol="mqtt") for d, m, v, at in obs],
            now=T0 + timedelta(hours=1),
        )
        assert not result.rejected, result.rejected

    def close(self) -> None:
        for listener in self.listeners:
            listener.close()


@contextmanager
def serve(settings: Settings, engine: Engine) -> Iterator[tuple[str, Any]]:
    """A real uvicorn on a free port in a thread; (ws base URL, the app)."""
    app = create_app(settings, engine=engine)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        assert thread.is_alive(), "uvicorn stopped"
        time.sleep(0.02)
    try:
        yield f"ws://127.0.0.1:{port}/ws/live", app
    finally:
        server.should_exit = True
        thread.join(15)


def wait_subscribed(app: Any, timeout: float = 15) -> None:
    """Until this worker's hub hears the broker (what is published before may be missed by
    the feed, never by the snapshot)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        feed = app.state.live.feed
        if feed is not None and feed.subscribed.is_set():
            return
        time.sleep(0.02)
    raise AssertionError("the hub never subscribed to the broker")


def open_ws(url: str, token: str | None = None, **kw: Any) -> ClientConnection:
    return connect(url + (f"?token={token}" if token else ""), open_timeout=10, **kw)


def send(ws: ClientConnection, doc: dict[str, Any]) -> None:
    ws.send(orjson.dumps(doc).decode())


def recv(ws: ClientConnection, timeout: float = 30) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads(ws.recv(timeout=timeout))
    return doc


def until(
    ws: ClientConnection, pred: Callable[[dict[str, Any]], bool], timeout: float = 30
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Messages until one matches ``pred``: (that one, all of them)."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no matching message in {timeout} s; got {seen[-5:]}"
        doc = recv(ws, left)
        seen.append(doc)
        if pred(doc):
            return doc, seen


def snapshot_of(ws: ClientConnection, sub: dict[str, Any]) -> dict[str, Any]:
    send(ws, {"subscribe": sub})
    doc, _ = until(ws, lambda d: d["type"] in ("snapshot", "error"))
    return doc


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)
