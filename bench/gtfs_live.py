"""Benchmark: every stop's next departure as live state, one GTFS-realtime poll's work,
beside the peer: the same answer asked stop by stop of ``GET /api/stops/{id}/next?limit=1``
(what a map would have to do to show each stop's next bus without the stored state).

The twin's figure is :func:`sensors_bridge.gtfs.live.record_next_departures`: the realtime
parsed once, each stop's next departure, the comparison with ``latest_state`` and the batch
writer's transaction; once when every stop changed (a poll after a timetable import), once
when nothing did (the usual poll: no rows), once after a realtime message delaying the running
trips. The feed is synthetic, written here: ``--lines`` lines of 25 stops in Helsinki, a trip
every 10 minutes each way from 05:00 to 23:00. A private PostGIS cluster (temp dir,
TWIN_PG_PORT or a free port) is started and removed.

    .venv/bin/python bench/gtfs_live.py [--lines 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import zipfile
from collections.abc import Callable
from datetime import date
from pathlib import Path

from fastapi.testclient import TestClient
from google.transit import gtfs_realtime_pb2 as rt
from rich.console import Console
from rich.table import Table
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.access import private_postgis  # noqa: E402
from sensors_bridge.gtfs.live import record_next_departures  # noqa: E402
from sensors_bridge.gtfs.realtime import record  # noqa: E402
from sensors_bridge.gtfs.store import import_feed  # noqa: E402
from sensors_bridge.gtfs.times import service_day_origin, zone  # noqa: E402
from sensors_bridge.store import BatchWriter  # noqa: E402
from twin.app import create_app  # noqa: E402
from twin.settings import Settings  # noqa: E402

console = Console()
STOPS_PER_LINE = 25
DAY = date(2026, 6, 16)
NOON = service_day_origin(DAY, zone("Europe/Helsinki")) + 12 * 3600


def median_s(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def hms(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def write_feed(path: Path, lines: int) -> list[str]:
    """The synthetic feed; the ids of the trips running at noon."""
    stops = ["stop_id,stop_name,stop_lat,stop_lon"]
    trips = ["route_id,service_id,trip_id"]
    times = ["trip_id,arrival_time,departure_time,stop_id,stop_sequence"]
    running = []
    for line in range(lines):
        for k in range(STOPS_PER_LINE):
            lat, lon = 60.15 + line * 0.002, 24.90 + k * 0.002
            stops.append(f"L{line}S{k},Stop {line}/{k},{lat:.5f},{lon:.5f}")
        for direction in (0, 1):
            for n, start in enumerate(range(5 * 3600, 23 * 3600, 600)):
                trip = f"L{line}D{direction}T{n}"
                trips.append(f"R{line},DAILY,{trip}")
                order = range(STOPS_PER_LINE) if direction == 0 else reversed(range(25))
                for seq, k in enumerate(order, 1):
                    t = start + (seq - 1) * 90
                    times.append(f"{trip},{hms(t)},{hms(t)},L{line}S{k},{seq}")
                if start <= 12 * 3600 <= start + STOPS_PER_LINE * 90:
                    running.append(trip)
    files = {
        "agency.txt": "agency_id,agency_name,agency_url,agency_timezone\n"
        "B,Synthetic bench buses (not a real agency),https://example.org,Europe/Helsinki\n",
        "stops.txt": "\n".join(stops) + "\n",
        "routes.txt": "route_id,agency_id,route_short_name,route_type\n"
        + "".join(f"R{i},B,{i},3\n" for i in range(lines)),
        "trips.txt": "\n".join(trips) + "\n",
        "stop_times.txt": "\n".join(times) + "\n",
        "calendar.txt": "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,"
        "start_date,end_date\nDAILY,1,1,1,1,1,1,1,20260101,20261231\n",
    }
    with zipfile.ZipFile(path, "w") as z:
        for name, body in files.items():
            z.writestr(name, body)
    return running


def delays(trips: list[str], at: int) -> bytes:
    msg = rt.FeedMessage()
    msg.header.gtfs_realtime_version = "2.0"
    msg.header.timestamp = at
    for i, trip in enumerate(trips):
        entity = msg.entity.add(id=f"e{i}")
        entity.trip_update.trip.trip_id = trip
        stu = entity.trip_update.stop_time_update.add()
        stu.stop_sequence = 1
        stu.departure.delay = 60 + i % 5 * 30
    return msg.SerializeToString()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with private_postgis("gtfs-live") as db:
        url, engine, work = db.url, db.engine, db.work
        running = write_feed(work / "feed.zip", args.lines)
        import_feed(engine, work / "feed.zip", feed="bench")
        settings = Settings(database_url=url, data_dir=work / "var", _env_file=None)
        writer = BatchWriter(engine, "gtfs")
        with engine.connect() as conn:
            stops = [
                r[0]
                for r in conn.execute(
                    text("SELECT attrs->>'stop_id' FROM devices WHERE protocol = 'gtfs'")
                )
            ]
        table = Table("work", "twin (s)", "peer: GET per stop (s)", "ratio", "rows written")
        at = NOON - 600
        with TestClient(create_app(settings, engine=engine)) as client:

            def peer(when: int) -> None:
                for stop in stops:
                    got = client.get(
                        f"/api/stops/{stop}/next",
                        params={"feed": "bench", "at": when, "limit": 1},
                    )
                    assert got.status_code == 200, got.text

            t0 = time.perf_counter()
            first = record_next_departures(engine, "bench", writer, at=at)
            ours = time.perf_counter() - t0
            theirs = median_s(lambda: peer(at), args.repeat)
            table.add_row(
                f"first poll, {len(stops)} stops all new",
                f"{ours:.2f}",
                f"{theirs:.2f}",
                f"{ours / theirs:.2f}",
                str(first.accepted),
            )
            same: list[int] = []

            def unchanged() -> None:
                same.append(record_next_departures(engine, "bench", writer, at=at).accepted)

            ours = median_s(unchanged, args.repeat)
            table.add_row(
                "a poll that changes nothing",
                f"{ours:.2f}",
                f"{theirs:.2f}",
                f"{ours / theirs:.2f}",
                str(max(same)),
            )
            data = delays(running, NOON)
            record(engine, "bench", "bench-rt", data)
            t0 = time.perf_counter()
            moved = record_next_departures(engine, "bench", writer, at=NOON + 1)
            ours = time.perf_counter() - t0
            theirs = median_s(lambda: peer(NOON + 1), args.repeat)
            table.add_row(
                f"10 min later, {len(running)} running trips delayed",
                f"{ours:.2f}",
                f"{theirs:.2f}",
                f"{ours / theirs:.2f}",
                f"{moved.accepted} ({moved.changed} stops)",
            )
        console.print(table)


if __name__ == "__main__":
    main()
