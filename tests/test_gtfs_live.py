"""A stop's next departure as its live state: ``twin gtfs rt`` stores, through the batch
writer, the next departure of every stop whose next departure changed, and only those; the
stored state is what ``GET /api/stops/{id}/next`` answers. Real FeedMessages
(:mod:`tests.gtfs_data`) on the synthetic feed, in the real database."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from sensors_bridge.gtfs.live import DELAY, DEPARTURE, record_next_departures
from sensors_bridge.store import BatchWriter
from tests.gtfs_data import message, trip_update, write_feed
from tests.test_gtfs_realtime import client, hms, runner
from tests.test_gtfs_realtime import record as _rt
from twin.cli import app

__all__ = ["client", "runner"]  # fixtures used here


def _state(engine: Engine) -> dict[str, tuple[int, str, int | None]]:
    """stop -> (next departure, its quality, its delay when timed alike)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT d.device_id, d.value, d.quality, "
                "CASE WHEN l.at = d.at THEN l.value END FROM latest_state d "
                "LEFT JOIN latest_state l ON l.device_id = d.device_id AND l.metric = :delay "
                "WHERE d.metric = :dep"
            ),
            {"dep": DEPARTURE, "delay": DELAY},
        )
        return {
            r[0].removeprefix("gtfs-syn-"): (int(r[1]), r[2], None if r[3] is None else int(r[3]))
            for r in rows
        }


def _rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM observations WHERE metric IN (:a, :b)"),
                {"a": DEPARTURE, "b": DELAY},
            ).scalar_one()
        )


def _api(client: TestClient, stop: str, at: int) -> dict[str, Any]:
    got = client.get(f"/api/stops/{stop}/next", params={"feed": "syn", "at": at, "limit": 1})
    assert got.status_code == 200, got.text
    first: dict[str, Any] = got.json()[0]
    return first


def test_next_departures_are_stored_when_they_change(
    runner: CliRunner, client: TestClient, engine: Engine, tmp_path: Path
) -> None:
    writer = BatchWriter(engine, "gtfs")
    first = record_next_departures(engine, "syn", writer, at=hms(7, 50))
    assert (first.stops, first.changed, first.accepted) == (4, 4, 4)  # no delays known yet
    assert _state(engine) == {
        "S1": (hms(8, 0), "uncertain", None),  # timetable only: scheduled, not "on time"
        "S2": (hms(8, 10), "uncertain", None),
        "S3": (hms(8, 20), "uncertain", None),
        "S4": (hms(8, 30), "uncertain", None),
    }
    again = record_next_departures(engine, "syn", writer, at=hms(7, 50) + 30)
    assert (again.changed, again.accepted, _rows(engine)) == (0, 0, 4)  # nothing repeated

    # T1 runs 2 minutes late from S2 on (the delay propagates downstream, never upstream)
    data = message(hms(7, 51), trip_update("T1", {"stop_sequence": 2, "departure": {"delay": 120}}))
    (tmp_path / "rt.pb").write_bytes(data)
    from sensors_bridge.gtfs.realtime import record

    record(engine, "syn", str(tmp_path / "rt.pb"), data)
    moved = record_next_departures(engine, "syn", writer, at=hms(7, 52))
    assert (moved.changed, moved.accepted) == (3, 6)  # S2..S4, departure and delay each
    state = _state(engine)
    assert state["S1"] == (hms(8, 0), "uncertain", None)
    assert state["S2"] == (hms(8, 12), "good", 120)
    assert state["S4"] == (hms(8, 32), "good", 120)
    for stop in ("S1", "S2", "S3", "S4"):  # the state is the API's first departure
        api = _api(client, stop, hms(7, 52))
        assert (api["time"], api["delay"]) == (state[stop][0], state[stop][2])

    # at 08:11 T1 is due at S2 at 08:12 though the timetable said 08:10: still S2's next bus
    # (a delayed trip's earlier calls are read, not cut at `at` by their schedule)
    late = record_next_departures(engine, "syn", writer, at=hms(8, 11))
    assert _state(engine)["S2"] == (hms(8, 12), "good", 120)
    assert late.changed == 1  # S1: T1 left at 08:00, T3 at 09:00 is next
    assert _api(client, "S2", hms(8, 11))["time"] == hms(8, 12)

    # T1 has left S1 and S2: their next buses are T3's, by the timetable; S2's old delay is
    # no longer its next bus's
    later = record_next_departures(engine, "syn", writer, at=hms(8, 13))
    assert later.changed == 1
    state = _state(engine)
    assert state["S1"] == (hms(9, 0), "uncertain", None)
    assert state["S2"] == (hms(9, 10), "uncertain", None)
    assert state["S3"] == (hms(8, 22), "good", 120)
    assert _rows(engine) == 4 + 6 + 1 + 1


def test_the_poller_stores_them_and_says_so(
    runner: CliRunner, engine: Engine, tmp_path: Path
) -> None:
    """``twin gtfs rt --once`` polls at the real now (the feed runs every day of 2026): the
    first poll stores every stop's next bus, the next stores only what changed since."""
    out = _rt(runner, tmp_path / "rt.pb", message(hms(7, 51)))
    assert "syn: next departures of 4 stops, 4 changed (4 observations)" in out
    assert set(_state(engine)) == {"S1", "S2", "S3", "S4"}
    out = _rt(runner, tmp_path / "rt.pb", message(hms(7, 52)))
    said = re.search(r"(\d+) changed \((\d+) observations\)", out)
    assert said is not None, out
    assert _rows(engine) == 4 + int(said[2])  # 0, unless a bus left between the two polls
    with engine.connect() as conn:
        unit = conn.execute(text("SELECT unit FROM metrics WHERE name = :n"), {"n": DEPARTURE})
        assert unit.scalar_one() == "s"


def test_a_moved_stop_has_a_location_history(
    runner: CliRunner, engine: Engine, tmp_path: Path
) -> None:
    """Re-importing the feed keeps one history row per stop; a stop that moved gets a second
    (the trigger on ``devices`` sees the import's upsert like any other write)."""
    from tests.gtfs_data import FILES

    same = runner.invoke(
        app, ["gtfs", "import", str(write_feed(tmp_path / "g.zip")), "--feed", "syn"]
    )
    assert same.exit_code == 0, same.output
    moved_stops = FILES["stops.txt"].replace(
        "S1,Rautatientori,60.1707,", "S1,Rautatientori,60.1717,"
    )
    path = write_feed(tmp_path / "h.zip", stops_txt=moved_stops)
    moved = runner.invoke(app, ["gtfs", "import", str(path), "--feed", "syn"])
    assert moved.exit_code == 0, moved.output
    with engine.connect() as conn:
        counts = dict(
            conn.execute(text("SELECT device_id, count(*) FROM device_locations GROUP BY 1")).all()
        )
    assert counts == {"gtfs-syn-S1": 2, "gtfs-syn-S2": 1, "gtfs-syn-S3": 1, "gtfs-syn-S4": 1}
