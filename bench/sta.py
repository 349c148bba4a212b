"""Benchmark: SensorThings pages of a Datastream's Observations over a large table, beside the
peer: the same rows read by the plain SQL a hand-written endpoint would run (same ORDER BY,
LIMIT and OFFSET on ``observations``, no views, no visibility filter, no JSON, no HTTP).

The twin's figure goes through the real app (FastAPI's TestClient in process): the views,
the role filter, the $filter translation, paging links and JSON. Rows: ``--rows``
observations (synthetic: 20 devices x 2 metrics, one a minute, spread over monthly
partitions), written with one INSERT ... SELECT. Each figure is the median of ``--repeat``
requests. A private PostGIS cluster (temp dir, TWIN_PG_PORT or a free port) is started and
removed.

    .venv/bin/python bench/sta.py [--rows 1000000] [--repeat 15]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from rich.console import Console
from rich.table import Table
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.access import private_postgis  # noqa: E402
from geodata.db import make_engine  # noqa: E402
from sensors_bridge.partitions import ensure_month, month_start, next_month  # noqa: E402
from twin.app import create_app  # noqa: E402
from twin.settings import Settings  # noqa: E402

console = Console()
DEVICES, METRICS = 20, ("temperature", "humidity")
START = datetime(2026, 1, 1, tzinfo=UTC)


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm the caches and the plan
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def seed(url: str, rows: int) -> None:
    engine = make_engine(url)
    per_stream = rows // (DEVICES * len(METRICS))
    end = START + timedelta(minutes=per_stream)
    with engine.begin() as conn:
        month = month_start(START)
        while month <= end:
            ensure_month(conn, month)
            month = next_month(month)
        conn.execute(
            text(
                "INSERT INTO devices (id, protocol, type) "
                "SELECT 'd' || i, 'http', 'sensor' FROM generate_series(0, :n - 1) i"
            ),
            {"n": DEVICES},
        )
        for metric in METRICS:
            conn.execute(
                text(
                    "INSERT INTO observations (device_id, metric, at, value) "
                    "SELECT 'd' || d, :m, :t0 + make_interval(mins => i), (i % 40) - 10 "
                    "FROM generate_series(0, :n - 1) d, generate_series(0, :k - 1) i"
                ),
                {"m": metric, "t0": START, "n": DEVICES, "k": per_stream},
            )
            conn.execute(
                text(
                    "INSERT INTO latest_state (device_id, metric, at, value) "
                    "SELECT 'd' || d, :m, :end, 0 FROM generate_series(0, :n - 1) d"
                ),
                {"m": metric, "end": end, "n": DEVICES},
            )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE observations"))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with private_postgis("sta") as db:
        work, url = db.work, db.url
        t0 = time.perf_counter()
        seed(url, args.rows)
        console.print(f"{args.rows:,} observations seeded in {time.perf_counter() - t0:.1f} s")
        engine = db.engine
        settings = Settings(database_url=url, data_dir=work / "var", _env_file=None)
        with engine.connect() as conn:
            ds = conn.execute(
                text("SELECT sta_id FROM latest_state WHERE device_id = 'd7' AND metric = :m"),
                {"m": METRICS[0]},
            ).scalar_one()
        peer_sql = text(
            "SELECT sta_id, at, value, quality FROM observations WHERE device_id = 'd7' "
            "AND metric = :m ORDER BY at DESC, sta_id DESC LIMIT 101 OFFSET :o"
        )
        cases = [
            ("newest page ($top=100)", "", 0),
            ("page at $skip=10000", "&$skip=10000", 10000),
            ("filtered page (result gt 20)", "&$filter=result gt 20", None),
        ]
        # the page a client reaches by following @iot.nextLink 100 times: the keyset token
        # of the 10,000th row, beside the peer's OFFSET 10000 (what $skip paging costs)
        with TestClient(create_app(settings, engine=engine)) as client:
            first = f"/sta/v1.1/Datastreams({ds})/Observations?$top=10000&$select=id"
            token_link = client.get(first).json()["@iot.nextLink"].split("/sta/v1.1", 1)[1]
        token_link = token_link.replace("$select=id&", "").replace("$top=10000", "$top=100")
        cases.append(("keyset page after 10,000 ($skiptoken)", token_link, 10000))
        # the same newest page as links only: what $ref saves over whole entities
        cases.append(("newest page as $ref", f"/Datastreams({ds})/Observations/$ref?$top=100", 0))
        table = Table("work", "twin /sta (ms)", "peer SQL (ms)", "ratio")
        with TestClient(create_app(settings, engine=engine)) as client, engine.connect() as conn:
            for label, extra, offset in cases:
                path = f"/sta/v1.1/Datastreams({ds})/Observations?$top=100{extra}"
                if extra.startswith("/"):
                    path = f"/sta/v1.1{extra}"
                assert client.get(path).status_code == 200
                ours = median_ms(lambda p=path: client.get(p).json(), args.repeat)
                if offset is None:
                    sql = text(
                        "SELECT sta_id, at, value FROM observations WHERE device_id = 'd7' "
                        "AND metric = :m AND value > 20 ORDER BY at DESC, sta_id DESC LIMIT 101"
                    )
                    peer = median_ms(
                        lambda s=sql: conn.execute(s, {"m": METRICS[0]}).all(), args.repeat
                    )
                else:
                    peer = median_ms(
                        lambda o=offset: conn.execute(peer_sql, {"m": METRICS[0], "o": o}).all(),
                        args.repeat,
                    )
                table.add_row(label, f"{ours:.1f}", f"{peer:.1f}", f"{ours / peer:.1f}")
            count = f"/sta/v1.1/Datastreams({ds})/Observations?$top=1&$count=true"
            ours = median_ms(lambda: client.get(count).json(), args.repeat)
            sql = text("SELECT count(*) FROM observations WHERE device_id = 'd7' AND metric = :m")
            peer = median_ms(lambda: conn.execute(sql, {"m": METRICS[0]}).scalar(), args.repeat)
            table.add_row(
                "$count=true of one Datastream", f"{ours:.1f}", f"{peer:.1f}", f"{ours / peer:.1f}"
            )
        console.print(table)
        engine.dispose()


if __name__ == "__main__":
    main()
