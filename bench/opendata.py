"""Benchmark: an open aggregate of a month of observations against a plain SQL GROUP BY.

The work: N parking sensors (synthetic, random positions over 2 km × 2 km of Helsinki's
EPSG:3067) reporting 0/1 every 15 minutes for 30 days, aggregated per hour and 250 m cell,
groups under k = 5 devices left out. The peer is the one SQL statement anyone would write
(``GROUP BY date_bin, cell HAVING count(DISTINCT device) >= 5``, fetched, written as CSV).
Ours is what the download route does: release the closed windows (per-device means first,
then groups, suppression, optional OpenDP noise, stored once in ``live_releases``), then
stream the CSV from the releases; and a second download, which only streams. Python heap
peaks are traced with tracemalloc (a separate run from the timing). A private PostGIS
cluster (temp dir, free port) is started and removed.

    .venv/bin/python bench/opendata.py [--devices 200] [--days 30] [--epsilon 1.0]
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.access import peak_mb, private_postgis  # noqa: E402
from geodata.access import ANONYMOUS  # noqa: E402
from geodata.working_crs import set_working_crs  # noqa: E402
from sensors_bridge.opendata import export as live_export  # noqa: E402
from sensors_bridge.opendata.release import Declaration, declare, release_closed  # noqa: E402
from sensors_bridge.partitions import ensure_months, existing, month_start  # noqa: E402

console = Console()
X0, Y0 = 385_000.0, 6_672_000.0
STEP = timedelta(minutes=15)

PEER = """
SELECT date_bin('1 hour', o.at, TIMESTAMPTZ '1970-01-01 00:00Z') AS ws,
       floor(ST_X(d.geom) / 250)::bigint AS cx, floor(ST_Y(d.geom) / 250)::bigint AS cy,
       count(DISTINCT o.device_id) AS devices, avg(o.value) AS mean
FROM observations o JOIN devices d ON d.id = o.device_id
WHERE o.metric = 'occupied' AND d.type = 'parking_sensor' AND o.at < :z
GROUP BY 1, 2, 3 HAVING count(DISTINCT o.device_id) >= 5 ORDER BY 1, 2, 3
"""


def seed(engine: Engine, devices: int, days: int, now: datetime) -> int:
    rng = random.Random(14)
    start = (now - timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    with engine.begin() as conn:
        set_working_crs(conn, 3067)
        for i in range(devices):
            conn.execute(
                text(
                    "INSERT INTO devices (id, protocol, type, visibility, geom) VALUES (:i, "
                    "'http', 'parking_sensor', :v, ST_SetSRID(ST_MakePoint(:x, :y, 0), 3067))"
                ),
                {
                    "i": f"p{i:05d}",
                    "v": "agent" if i % 3 == 0 else "public",
                    "x": X0 + rng.uniform(0, 2000),
                    "y": Y0 + rng.uniform(0, 2000),
                },
            )
        months, m = [], month_start(start)
        while m <= now:
            months.append(m)
            m = (m + timedelta(days=32)).replace(day=1)
        ensure_months(conn, months, existing(conn))
    n = 0
    raw: Any = engine.raw_connection()
    try:
        with (
            raw.cursor() as cur,
            cur.copy("COPY observations (device_id, metric, at, value) FROM STDIN") as copy,
        ):
            t = start
            while t < now:
                for i in range(devices):
                    copy.write_row((f"p{i:05d}", "occupied", t, float(rng.random() < 0.6)))
                    n += 1
                t += STEP
        raw.commit()
    finally:
        raw.close()
    return n


def peer(engine: Engine, until: datetime) -> int:
    with engine.connect() as conn:
        rows = conn.execute(text(PEER), {"z": until}).all()
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return len(buf.getvalue())


def ours(engine: Engine, dataset_id: int, now: datetime) -> int:
    release_closed(engine, dataset_id, now=now)
    with engine.connect() as conn:
        plan = live_export.plan(conn, ANONYMOUS, dataset_id, "csv")
    return sum(len(c) for c in live_export.csv_chunks(engine, plan))


def reset(engine: Engine, dataset_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM live_releases WHERE dataset_id = :d"), {"d": dataset_id})
        conn.execute(
            text("UPDATE live_aggregates SET released_until = NULL WHERE dataset_id = :d"),
            {"d": dataset_id},
        )


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--epsilon", type=float, default=None, help="also noise (OpenDP)")
    args = parser.parse_args()
    with private_postgis("opendata") as db:
        engine = db.engine
        now = datetime.now(UTC)
        console.print(f"seeding {args.devices} devices × {args.days} days every 15 min ...")
        n = seed(engine, args.devices, args.days, now)
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        d = Declaration(
            name="bench",
            device_type="parking_sensor",
            metric="occupied",
            window="1h",
            cell_m=250,
            k=5,
            model="OnStreetParking",
            epsilon=args.epsilon,
            bounds=(0.0, 1.0),
        )
        dataset_id = declare(engine, d, min_k=5)
        with engine.connect() as conn:
            until = release_spec_until(conn, dataset_id, now)
        table = Table("work", "peer (s)", "ours (s)", "ratio", "peer heap MB", "ours heap MB")
        t_peer = min(timed(lambda: peer(engine, until)) for _ in range(3))
        m_peer = peak_mb(lambda: peer(engine, until))
        firsts = []
        for _ in range(3):
            reset(engine, dataset_id)
            firsts.append(timed(lambda: ours(engine, dataset_id, now)))
        reset(engine, dataset_id)
        m_first = peak_mb(lambda: ours(engine, dataset_id, now))
        t_again = min(timed(lambda: ours(engine, dataset_id, now)) for _ in range(3))
        m_again = peak_mb(lambda: ours(engine, dataset_id, now))
        with engine.connect() as conn:
            groups = conn.execute(text("SELECT count(*) FROM live_releases")).scalar_one()
        console.print(f"{n:,} observations; {groups:,} groups published")
        for label, t, m in (
            ("first download (release + CSV)", min(firsts), m_first),
            ("later download (CSV of releases)", t_again, m_again),
        ):
            table.add_row(
                label, f"{t_peer:.2f}", f"{t:.2f}", f"{t / t_peer:.2f}", f"{m_peer:.1f}", f"{m:.1f}"
            )
        console.print(table)


def release_spec_until(conn: Any, dataset_id: int, now: datetime) -> datetime:
    from sensors_bridge.opendata.release import get_spec

    return get_spec(conn, dataset_id).closed_until(now)


if __name__ == "__main__":
    main()
