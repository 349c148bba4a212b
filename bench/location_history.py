"""Benchmark: what the location-history trigger on ``devices`` (migration 0011) costs the
writes that do not move a device, beside the peer: the same ``UPDATE`` with the trigger
disabled. The batch writer moves ``devices.last_seen`` forward for every device of each
batch, so this is the trigger's price on the ingest path.

``--devices`` located devices; each figure the median of ``--repeat`` updates of all of them,
the trigger enabled and disabled in turn, ``VACUUM`` before each. A private PostGIS cluster
(temp dir, TWIN_PG_PORT or a free port) is started and removed.

    .venv/bin/python bench/location_history.py [--devices 10000] [--repeat 12]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.access import private_postgis

console = Console()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=12)
    args = parser.parse_args()
    with private_postgis("history") as db:
        engine = db.engine
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO devices (id, protocol, type, geom) SELECT 'd' || i, 'http', "
                    "'sensor', ST_MakePoint(i, i, 0) FROM generate_series(1, :n) i"
                ),
                {"n": args.devices},
            )
        times: dict[str, list[float]] = {"ENABLE": [], "DISABLE": []}
        for _ in range(args.repeat):
            for state, bucket in times.items():
                with engine.begin() as conn:
                    conn.execute(
                        text(f"ALTER TABLE devices {state} TRIGGER device_location_history")
                    )
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.execute(text("VACUUM devices"))
                with engine.begin() as conn:
                    t0 = time.perf_counter()
                    conn.execute(text("UPDATE devices SET last_seen = now()"))
                    bucket.append(time.perf_counter() - t0)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT count(*) FROM device_locations")).scalar_one()
        assert rows == args.devices, "an update that moves nothing added history"
        ours, peer = (statistics.median(times[k]) * 1000 for k in ("ENABLE", "DISABLE"))
        table = Table("work", "with trigger (ms)", "peer: without (ms)", "ratio")
        table.add_row(
            f"UPDATE last_seen of {args.devices:,} devices",
            f"{ours:.1f}",
            f"{peer:.1f}",
            f"{ours / peer:.2f}",
        )
        console.print(table)


if __name__ == "__main__":
    main()
