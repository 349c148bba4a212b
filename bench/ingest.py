"""Benchmark: observations stored per second by the batch writer and by POST /api/ingest,
beside the peer: raw PostgreSQL COPY of the same rows into a plain table (no partitions, no
idempotency key, no latest_state, no validation), in the same process on the same cluster.

The writer's figure counts committed rows (observations and latest_state) after each batch's
transaction; the HTTP figure goes through the real app (FastAPI's TestClient in process,
with an integration token) in JSON-array bodies of ``--batch`` observations; "a no-op
listener" is the writer with one listener that does nothing (what the live layer's hook
costs by itself). Each rate is the best of ``--repeat`` runs on fresh device/time keys;
beside it, the median CPU per observation of this process and of the whole cluster (on a
shared machine the CPU moves far less than the clock). A private PostGIS cluster
(bench.access.private_postgis) is started and removed.

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
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table
from sqlalchemy import Connection, Engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.access import PrivatePostGIS, cluster_cpu, free_port, private_postgis  # noqa: E402
from sensors_bridge.listeners import BatchListener, Stored  # noqa: E402
from sensors_bridge.model import Observation  # noqa: E402
from sensors_bridge.store import BatchWriter  # noqa: E402
from twin.services.postgres import EmbeddedPostgres  # noqa: E402

console = Console(width=130)
DEVICES = 200


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


class NoOp:
    """A listener that does nothing: what hanging the live layer on the writer costs by
    itself (the merge returns the stored rows, two calls per batch)."""

    name = "no-op"

    def in_transaction(self, conn: Connection, stored: Sequence[Stored], now: datetime) -> None:
        pass

    def after_commit(self, stored: Sequence[Stored]) -> None:
        pass

    def close(self) -> None:
        pass


def writer(
    engine: Engine,
    rows: list[tuple[str, str, datetime, float]],
    batch: int,
    listeners: Sequence[BatchListener] = (),
) -> float:
    w = BatchWriter(engine, "bench", listeners)
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


@dataclass
class Figure:
    """A path's best time of its runs, and its CPU per observation (this process and the
    whole cluster), median of the runs: on a shared machine the CPU moves far less than
    the clock."""

    seconds: float
    client_us: float
    server_us: float


def measure(pg: EmbeddedPostgres, repeat: int, n: int, run: Callable[[int], float]) -> Figure:
    times, client, server = [], [], []
    for k in range(repeat):
        c0, s0 = time.process_time(), cluster_cpu(pg)
        times.append(run(k))
        client.append((time.process_time() - c0) / n * 1e6)
        server.append((cluster_cpu(pg) - s0) / n * 1e6)
    return Figure(min(times), statistics.median(client), statistics.median(server))


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
    with private_postgis("ingest") as db:
        engine = db.engine
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
        n, b, r = args.rows, args.batch, args.repeat
        runs = iter(range(10_000))

        def fresh() -> list[tuple[str, str, datetime, float]]:
            return rows_for(next(runs), n, now)

        figures = {
            "raw COPY (peer)": measure(db.pg, r, n, lambda k: peer(engine, fresh(), b)),
            "batch writer": measure(db.pg, r, n, lambda k: writer(engine, fresh(), b)),
            "batch writer, a no-op listener": measure(
                db.pg, r, n, lambda k: writer(engine, fresh(), b, [NoOp()])
            ),
            "POST /api/ingest": _http_run(db, r, n, b, fresh),
        }
        t_peer = figures["raw COPY (peer)"].seconds
        table = Table(
            "path", "observations/s", "ratio to raw COPY", "CPU µs/obs here", "CPU µs/obs cluster"
        )
        for name, f in figures.items():
            table.add_row(
                name,
                f"{n / f.seconds:,.0f}",
                f"{t_peer / f.seconds:.2f}",
                f"{f.client_us:.1f}",
                f"{f.server_us:.1f}",
            )
        console.print(f"{n} observations, batches of {b}, best of {r}")
        console.print(table)
        if args.rules:
            _rules_run(engine, db.work, args.repeat, n, b, now, runs)
        if args.mqtt:
            from mqtt_ingest import run as mqtt_run

            mqtt_run(engine, db.work, free_port(), args.mqtt)


def _http_run(
    db: PrivatePostGIS,
    repeat: int,
    n: int,
    b: int,
    fresh: Callable[[], list[tuple[str, str, datetime, float]]],
) -> Figure:
    from fastapi.testclient import TestClient

    from twin.accounts import create_user
    from twin.app import create_app
    from twin.settings import Settings

    settings = Settings(
        database_url=db.url,
        data_dir=db.work / "var",
        max_body_bytes=64 * 1024 * 1024,
        # the throughput is what is measured: the per-token limits (5,000/s by default)
        # would answer 429 long before the route's ceiling
        ingest_requests_per_token="1000000/second",
        ingest_observations_per_token="100000000/second",
        _env_file=None,
    )
    token = create_user(db.engine, "bench", "citizen", kind="integration")
    with TestClient(create_app(settings, engine=db.engine)) as client:
        return measure(db.pg, repeat, n, lambda k: http(client, token, fresh(), b))


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

        return min(run(k) for k in range(repeat))

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
