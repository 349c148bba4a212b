"""Benchmark: a device's latest values and a day of 5-minute buckets over 10 million stored
observations, beside the peer: the same questions asked of a plain table (no partitions, one
btree on device, metric, time) holding the same rows.

The twin's figures go through the functions the routes call (``/api/devices/{id}/latest``:
``get_device`` then ``history.latest``; ``/history``: ``get_device`` then
``history.history``), the peer's through raw SQL (latest: one ``ORDER BY at DESC LIMIT 1``
per metric; history: the same ``date_bin`` query). Rows are synthetic, generated in the
database with ``generate_series``: ``--devices`` thermometers, one reading each every
``--step`` seconds, back from now over as many days as ``--rows`` needs (so the span crosses
monthly partitions). Each figure is the median and p95 of ``--queries`` random devices, after
one warm-up pass. A private PostGIS cluster (temp dir, TWIN_PG_PORT or a free port) is
started and removed.

    .venv/bin/python bench/live_queries.py [--rows 10000000] [--devices 1000] [--step 30]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import Connection, Engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.access import private_postgis  # noqa: E402
from geodata.access import Principal  # noqa: E402
from sensors_bridge import history as hist  # noqa: E402
from sensors_bridge.partitions import ensure_months, existing  # noqa: E402
from sensors_bridge.registry import get_device  # noqa: E402

console = Console(width=150)
ADMIN = Principal("bench", "admin")
CHUNK_DEVICES = 50  # one INSERT per this many devices: progress, and a bounded transaction


def generate(engine: Engine, rows: int, devices: int, step: int, now: datetime) -> datetime:
    """``rows`` observations (synthetic) in ``observations`` and the same in ``peer_obs``;
    latest_state filled as the writer would. Returns the first time stored."""
    per = rows // devices
    start = now - timedelta(seconds=per * step)
    with engine.begin() as conn:
        ensure_months(conn, _months(start, now), existing(conn))
        conn.execute(
            text(
                "INSERT INTO devices (id, protocol, type, unit) SELECT 'd' || g, 'http', "
                "'thermometer', 'Cel' FROM generate_series(0, :n) g"
            ),
            {"n": devices - 1},
        )
    t0 = time.perf_counter()
    for lo in range(0, devices, CHUNK_DEVICES):
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO observations (device_id, metric, at, message_id, value, unit, "
                    "quality, received_at) "
                    "SELECT 'd' || d, 'temperature', t, '', 15 + 10 * sin(i / 120.0 + d), 'Cel', "
                    "'good', t FROM generate_series(CAST(:lo AS int), CAST(:hi AS int)) d, "
                    "generate_series(0, CAST(:per AS int) - 1) i, "
                    "LATERAL (SELECT CAST(:s AS timestamptz) + "
                    "make_interval(secs => i * CAST(:st AS int)) AS t) x"
                ),
                {
                    "s": start,
                    "st": step,
                    "lo": lo,
                    "hi": min(lo + CHUNK_DEVICES, devices) - 1,
                    "per": per,
                },
            )
        done = min(lo + CHUNK_DEVICES, devices) * per
        console.print(f"  {done:,} rows in {time.perf_counter() - t0:.0f} s", end="\r")
    console.print()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO latest_state (device_id, metric, at, value, unit, quality, "
                "received_at) SELECT DISTINCT ON (device_id, metric) device_id, metric, at, "
                "value, unit, quality, received_at FROM observations "
                "ORDER BY device_id, metric, at DESC"
            )
        )
        conn.execute(
            text("CREATE TABLE peer_obs AS SELECT device_id, metric, at, value FROM observations")
        )
        conn.execute(text("CREATE INDEX ON peer_obs (device_id, metric, at)"))
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    return start


def _months(a: datetime, b: datetime) -> list[datetime]:
    out, t = [], a
    while t <= b:
        out.append(t)
        t += timedelta(days=27)
    return [*out, b]


def timed(
    engine: Engine, queries: int, devices: int, ask: Callable[[Connection, str], object]
) -> list[float]:
    """Milliseconds per question for ``queries`` random devices, each on a fresh checkout."""
    rng = random.Random(7)
    ids = [f"d{rng.randrange(devices)}" for _ in range(queries)]
    with engine.connect() as conn:  # warm-up: the first pass reads from disk
        for i in ids:
            ask(conn, i)
    out = []
    for i in ids:
        with engine.connect() as conn:
            t0 = time.perf_counter()
            ask(conn, i)
            out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--step", type=int, default=30, help="seconds between a device's readings")
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    with private_postgis("live") as db:
        engine = db.engine
        now = datetime.now(UTC).replace(microsecond=0)
        t0 = time.perf_counter()
        generate(engine, args.rows, args.devices, args.step, now)
        console.print(
            f"generated {args.rows:,} rows (and the peer's) in {time.perf_counter() - t0:.0f} s"
        )
        day = hist.Span(now - timedelta(days=1), now, timedelta(minutes=5))

        def twin_latest(conn: Connection, i: str) -> object:
            get_device(conn, ADMIN, i)
            rows = hist.latest(conn, i)
            assert rows, i
            return rows

        def twin_history(conn: Connection, i: str) -> object:
            get_device(conn, ADMIN, i)
            rows = hist.history(conn, i, "temperature", day)
            assert rows, i
            return rows

        def peer_latest(conn: Connection, i: str) -> object:
            metrics = (
                conn.execute(
                    text("SELECT DISTINCT metric FROM peer_obs WHERE device_id = :i"), {"i": i}
                )
                .scalars()
                .all()
            )
            return [
                conn.execute(
                    text(
                        "SELECT value, at FROM peer_obs WHERE device_id = :i AND metric = :m "
                        "ORDER BY at DESC LIMIT 1"
                    ),
                    {"i": i, "m": m},
                ).one()
                for m in metrics
            ]

        def peer_history(conn: Connection, i: str) -> object:
            return conn.execute(
                text(
                    "SELECT date_bin(:b, at, TIMESTAMPTZ '1970-01-01 00:00Z') AS bucket, "
                    "min(value), avg(value), max(value), count(*) FROM peer_obs "
                    "WHERE device_id = :i AND metric = 'temperature' AND at >= :a AND at < :z "
                    "GROUP BY 1 ORDER BY 1"
                ),
                {"b": day.bucket, "i": i, "a": day.start, "z": day.end},
            ).all()

        table = Table(
            "question",
            "twin p50 ms",
            "twin p95 ms",
            "peer p50 ms",
            "peer p95 ms",
            "ratio (p50 peer/twin)",
        )
        for name, mine, theirs in (
            ("latest values of a device", twin_latest, peer_latest),
            ("a day of 5-minute buckets", twin_history, peer_history),
        ):
            a = timed(engine, args.queries, args.devices, mine)
            b = timed(engine, args.queries, args.devices, theirs)
            table.add_row(
                name,
                f"{statistics.median(a):.2f}",
                f"{_p95(a):.2f}",
                f"{statistics.median(b):.2f}",
                f"{_p95(b):.2f}",
                f"{statistics.median(b) / statistics.median(a):.2f}",
            )
        console.print(
            f"{args.rows:,} observations of {args.devices} devices (one every {args.step} s), "
            f"{len(existing_parts(engine))} partitions; peer: one plain table, same rows"
        )
        console.print(table)


def existing_parts(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return existing(conn)


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18]


if __name__ == "__main__":
    main()
