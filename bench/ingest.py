"""Benchmark: observations stored per second by the batch writer and by POST /api/ingest,
beside the peer: raw PostgreSQL COPY of the same rows into a plain table (no partitions, no
idempotency key, no latest_state, no validation), in the same process on the same cluster.

The writer's figure counts committed rows (observations and latest_state) after each batch's
transaction; the HTTP figure goes through the real app (FastAPI's TestClient in process,
with an integration token) in JSON-array bodies of ``--batch`` observations. Each figure is
the best of ``--repeat`` runs on fresh device/time keys. A private PostGIS cluster (temp
dir, TWIN_PG_PORT or a free port) is started and removed.

    .venv/bin/python bench/ingest.py [--rows 50000] [--batch 1000] [--repeat 3] [--mqtt N]
                                     [--rules]

``--rules`` measures the rules' cost on the batch writer: the same CO2 rows of classroom
sensors stored by the writer alone, with the rules listener and no rule, and with the
shipped example rules (``twin rules examples``: every observation is evaluated by the
classroom CO2 rule), once with values between its clear and raise levels (no transition:
the cost of evaluation itself) and once crossing them (an alert opened and resolved every
28 readings of a sensor: the cost of alerts and their announcements), each as the ratio to
the writer alone.

``--mqtt N`` adds N MQTT messages through the bridge beside raw Mosquitto publish ->
subscribe (bench/mqtt_ingest.py).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geodata.db import make_engine, migrate  # noqa: E402
from sensors_bridge.model import Observation  # noqa: E402
from sensors_bridge.store import BatchWriter  # noqa: E402
from twin.services.postgres import EmbeddedPostgres  # noqa: E402

console = Console()
DEVICES = 200


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rows_for(run: int, n: int, now: datetime) -> list[tuple[str, str, datetime, float]]:
    """n distinct (device, metric, time, value) rows of the last hours; new keys per run."""
    start = now - timedelta(hours=12) + timedelta(seconds=(n // 100 + 1) * run)
    return [
        (f"d{i % DEVICES}", "temperature", start + timedelta(milliseconds=10 * i), 20 + i % 7)
        for i in range(n)
    ]


def peer(engine: Engine, rows: list[tuple[str, str, datetime, float]], batch: int) -> float:
    """Raw COPY into a plain table, one transaction per batch; seconds."""
    t0 = time.perf_counter()
    for i in range(0, len(rows), batch):
        with engine.begin() as conn:
            dbapi = conn.connection.driver_connection
            with (
                dbapi.cursor() as cur,
                cur.copy(  # type: ignore[union-attr]
                    "COPY peer_obs (device_id, metric, at, value) FROM STDIN"
                ) as copy,
            ):
                for r in rows[i : i + batch]:
                    copy.write_row(r)
    return time.perf_counter() - t0


def writer(engine: Engine, rows: list[tuple[str, str, datetime, float]], batch: int) -> float:
    w = BatchWriter(engine, "bench")
    obs = [Observation(d, m, v, at) for d, m, at, v in rows]
    t0 = time.perf_counter()
    for i in range(0, len(obs), batch):
        got = w.write(obs[i : i + batch])
        assert got.accepted == len(obs[i : i + batch]), got.as_dict()["rejected"][:3]
    return time.perf_counter() - t0


def http(
    client: object, token: str, rows: list[tuple[str, str, datetime, float]], batch: int
) -> float:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    bodies = [
        orjson.dumps(
            [
                {"device": d, "metric": m, "value": v, "at": at.isoformat()}
                for d, m, at, v in rows[i : i + batch]
            ]
        )
        for i in range(0, len(rows), batch)
    ]
    t0 = time.perf_counter()
    for body in bodies:
        r = client.post("/api/ingest", content=body, headers=headers)  # type: ignore[attr-defined]
        assert r.status_code == 200 and r.json()["accepted"] == batch, r.text[:300]
    return time.perf_counter() - t0


def best(repeat: int, run: Callable[[int], float]) -> float:
    return min(run(k) for k in range(repeat))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--mqtt", type=int, default=0, metavar="N", help="also N MQTT messages (mqtt_ingest.py)"
    )
    ap.add_argument("--rules", action="store_true", help="also the rules' cost on the writer")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="twin-bench-ingest-"))
    pg = EmbeddedPostgres(work / "pg", int(os.environ.get("TWIN_PG_PORT") or free_port()))
    pg.start()
    try:
        url = f"postgresql+psycopg://twin@127.0.0.1:{pg.port}/postgres"
        migrate(url)
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(
                text(
                    "CREATE TABLE peer_obs (device_id text, metric text, at timestamptz, "
                    "value double precision)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO devices (id, protocol, type) "
                    "SELECT 'd' || g, 'http', 'thermometer' FROM generate_series(0, :n) g"
                ),
                {"n": DEVICES - 1},
            )
        now = datetime.now(UTC)
        n, b = args.rows, args.batch
        runs = iter(range(10_000))
        t_peer = best(args.repeat, lambda k: peer(engine, rows_for(next(runs), n, now), b))
        t_writer = best(args.repeat, lambda k: writer(engine, rows_for(next(runs), n, now), b))
        t_http = _http_run(engine, work, args.repeat, n, b, now, runs)
        table = Table("path", "observations/s", "ratio to raw COPY")
        for name, t in (
            ("raw COPY (peer)", t_peer),
            ("batch writer", t_writer),
            ("POST /api/ingest", t_http),
        ):
            table.add_row(name, f"{n / t:,.0f}", f"{t_peer / t:.2f}")
        console.print(f"{n} observations, batches of {b}, best of {args.repeat}")
        console.print(table)
        if args.rules:
            _rules_run(engine, work, args.repeat, n, b, now, runs)
        if args.mqtt:
            from mqtt_ingest import run as mqtt_run

            mqtt_run(engine, work, free_port(), args.mqtt)
    finally:
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


def _http_run(
    engine: Engine, work: Path, repeat: int, n: int, b: int, now: datetime, runs: object
) -> float:
    from fastapi.testclient import TestClient

    from twin.accounts import create_user
    from twin.app import create_app
    from twin.settings import Settings

    settings = Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        data_dir=work / "var",
        max_body_bytes=64 * 1024 * 1024,
        # the throughput is what is measured: the per-token limits (5,000/s by default)
        # would answer 429 long before the route's ceiling
        ingest_requests_per_token="1000000/second",
        ingest_observations_per_token="100000000/second",
        _env_file=None,
    )
    token = create_user(engine, "bench", "citizen", kind="integration")
    with TestClient(create_app(settings, engine=engine)) as client:
        return best(repeat, lambda k: http(client, token, rows_for(next(runs), n, now), b))  # type: ignore[call-overload]


def co2_rows(
    run: int, n: int, now: datetime, *, quiet: bool = False
) -> list[tuple[str, str, datetime, float]]:
    """n CO2 readings of classroom sensors, one a second (each sensor every 200 s), later
    runs later in time (rules ignore what is older than they saw), crossing 1000 and 800 ppm
    often enough that the classroom rule's 10 minutes are met, opening and resolving alerts."""
    start = now - timedelta(seconds=(n + 600) * 13) + timedelta(seconds=(n + 600) * run)
    return [
        (
            f"r{i % DEVICES}",
            "co2",
            start + timedelta(seconds=i),
            # quiet: between the clear and raise levels, evaluated but never a transition
            900.0 + i % 7 if quiet else 600.0 + (i // 1400 % 4) * 200,
        )
        for i in range(n)
    ]


def _rules_run(
    engine: Engine, work: Path, repeat: int, n: int, b: int, now: datetime, runs: object
) -> None:
    import logging

    from twin.rules.examples import load_examples
    from twin.rules.listener import RulesListener
    from twin.settings import Settings

    logging.getLogger("twin.rules").setLevel(logging.CRITICAL)  # no broker here: alerts wait
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO devices (id, protocol, type) "
                "SELECT 'r' || g, 'http', 'co2' FROM generate_series(0, :n) g"
            ),
            {"n": DEVICES - 1},
        )
    settings = Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        data_dir=work / "var",
        mqtt_url=f"mqtt://127.0.0.1:{free_port()}",
        rules_sweep_seconds=3600,
        _env_file=None,
    )
    import itertools

    nxt = itertools.count().__next__  # this part's own runs, forward in time

    def timed(listeners: list[object], quiet: bool = False) -> float:
        def run(_k: int) -> float:
            w = BatchWriter(engine, "bench", listeners)  # type: ignore[arg-type]
            rows = co2_rows(nxt(), n, now, quiet=quiet)
            obs = [Observation(d, m, v, at) for d, m, at, v in rows]
            t0 = time.perf_counter()
            for i in range(0, len(obs), b):
                got = w.write(obs[i : i + b])
                assert got.accepted == len(obs[i : i + b]), got.as_dict()["rejected"][:3]
            return time.perf_counter() - t0

        return best(repeat, run)

    listener = RulesListener(settings, engine)
    try:
        alone = timed([])
        no_rules = timed([listener])
        load_examples(engine, "bench")
        quiet = timed([listener], quiet=True)
        with_rules = timed([listener])
    finally:
        listener.close()
    with engine.connect() as conn:
        opened = conn.execute(text("SELECT count(*) FROM alerts")).scalar_one()
    table = Table("batch writer, CO2 rows", "observations/s", "ratio to the writer alone")
    for name, t in (
        ("writer alone (peer)", alone),
        ("+ rules listener, no rule", no_rules),
        ("+ example rules, no transition", quiet),
        ("+ example rules, alerts opening", with_rules),
    ):
        table.add_row(name, f"{n / t:,.0f}", f"{alone / t:.2f}")
    console.print(f"rules: {opened} alerts opened over the runs")
    console.print(table)


if __name__ == "__main__":
    main()
