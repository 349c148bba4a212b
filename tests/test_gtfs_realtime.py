"""``twin gtfs rt`` and ``GET /api/stops/{stop_id}/next`` against the real embedded PostGIS,
on the synthetic feed of :mod:`tests.gtfs_data` and FeedMessages written here."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from google.transit import gtfs_realtime_pb2 as rt
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from sensors_bridge.gtfs.times import service_day_origin, zone
from tests.gtfs_data import cli_runner, message, trip_update, write_feed
from twin.app import create_app
from twin.cli import app
from twin.settings import Settings

DAY = service_day_origin(date(2026, 6, 16), zone("Europe/Helsinki"))  # a Tuesday
NEXT_DAY = service_day_origin(date(2026, 6, 17), zone("Europe/Helsinki"))


def hms(h: int, m: int) -> int:
    return DAY + h * 3600 + m * 60


@pytest.fixture
def runner(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    r = cli_runner(db_url, tmp_path, monkeypatch)
    result = r.invoke(app, ["gtfs", "import", str(write_feed(tmp_path / "f.zip")), "--feed", "syn"])
    assert result.exit_code == 0, result.output
    return r


@pytest.fixture
def client(runner: CliRunner, settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


def record(runner: CliRunner, path: Path, data: bytes) -> str:
    path.write_bytes(data)
    result = runner.invoke(app, ["gtfs", "rt", str(path), "--feed", "syn", "--once"])
    assert result.exit_code == 0, result.output
    return result.stdout


def vehicle(vid: str, lat: float, lon: float) -> rt.VehiclePosition:
    v = rt.VehiclePosition()
    v.vehicle.id, v.trip.trip_id = vid, "T1"
    v.position.latitude, v.position.longitude = lat, lon
    return v


def test_rt_keeps_state_and_a_corrupt_file_exits_with_one_line(
    runner: CliRunner, engine: Engine, tmp_path: Path
) -> None:
    data = message(
        hms(8, 0),
        trip_update("T1", {"stop_sequence": 2, "departure": {"delay": 60}}),
        trip_update("GHOST", {"stop_sequence": 1, "departure": {"delay": 5}}),
        vehicle("bus-7", 60.17, 24.94),
        vehicle("bus-8", 123.0, 24.94),
    )
    out = record(runner, tmp_path / "rt.pb", data)
    assert "2 trip updates, 1 vehicle positions" in out
    assert "1 vehicle positions off the globe" in out
    assert "1 trip updates of trips not in the timetable" in out
    corrupt = tmp_path / "corrupt.pb"
    corrupt.write_bytes(data[: len(data) // 2] + b"\xff\xff\xff")
    result = runner.invoke(app, ["gtfs", "rt", str(corrupt), "--feed", "syn", "--once"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "not a GTFS-realtime FeedMessage" in lines[0], result.stderr
    assert "previous state is kept" in lines[0]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM gtfs_rt_snapshots")).scalar() == 1
        pos = conn.execute(
            text("SELECT ST_X(geom), ST_Y(geom), ST_SRID(geom) FROM gtfs_vehicle_positions")
        ).one()
    # GTFS-realtime positions are float32
    assert pos[0] == pytest.approx(24.94, abs=1e-5) and pos[1] == pytest.approx(60.17, abs=1e-5)
    assert pos[2] == 4326


def test_next_departures_scheduled_realtime_added_and_replayed(
    runner: CliRunner, client: TestClient, tmp_path: Path
) -> None:
    # no realtime yet: the timetable, flagged scheduled (never "on time")
    got = client.get("/api/stops/S2/next", params={"feed": "syn", "at": hms(8, 0)})
    assert got.status_code == 200, got.text
    assert [(d["trip_id"], d["time"], d["delay"], d["status"]) for d in got.json()] == [
        ("T1", hms(8, 10), None, "scheduled"),
        ("T3", hms(9, 10), None, "scheduled"),
        ("T2", hms(24, 10), None, "scheduled"),  # 24:10 of the 16th is 00:10 on the 17th
    ]
    added = rt.TripUpdate()
    added.CopyFrom(
        trip_update(
            "EXTRA",
            {"stop_id": "S2", "departure": {"time": hms(8, 40)}},
            relationship="ADDED",
            route_id="R1",
        )
    )
    record(
        runner,
        tmp_path / "b.pb",  # the same source, polled twice
        message(
            hms(8, 1),
            trip_update("T1", {"stop_sequence": 1, "departure": {"delay": 300}}),
            trip_update("T3", relationship="CANCELED"),
            added,
            trip_update("GHOST", {"stop_id": "S2", "departure": {"delay": 60}}),
            trip_update("T1", relationship="DUPLICATED", start_date="20260616"),
        ),
    )
    later = message(
        hms(8, 12), trip_update("T1", {"stop_sequence": 2, "departure": {"delay": 900}})
    )
    record(runner, tmp_path / "b.pb", later)
    # at 08:05, the 08:01 message stands: T1 +300 s propagated from S1, T3 gone, EXTRA added
    iso = "2026-06-16T08:05:00+03:00"
    assert hms(8, 5) == 1781586300
    got = client.get("/api/stops/S2/next", params={"feed": "syn", "at": iso, "limit": 5})
    # what matches nothing is counted, never fatal
    assert got.headers["twin-unmatched"] == (
        "duplicated trips (not modelled)=1; trip updates of trips not in the timetable=1"
    )
    assert [
        (d["trip_id"], d["route_id"], d["time"], d["delay"], d["status"]) for d in got.json()
    ] == [
        ("T1", "R1", hms(8, 15), 300, "realtime"),
        ("EXTRA", "R1", hms(8, 40), None, "added"),
        ("T2", "R1", hms(24, 10), None, "scheduled"),
    ]
    # at 08:13 the source's later message replaces it (a full dataset: T3 runs again, EXTRA
    # is gone); limit is honoured
    got = client.get("/api/stops/S2/next", params={"feed": "syn", "at": hms(8, 13), "limit": 2})
    assert got.json() == [
        {"trip_id": "T1", "route_id": "R1", "time": hms(8, 25), "delay": 900, "status": "realtime"},
        {
            "trip_id": "T3",
            "route_id": "R1",
            "time": hms(9, 10),
            "delay": None,
            "status": "scheduled",
        },
    ]
    # past midnight, on the next calendar day, yesterday's T2 is still to come
    got = client.get("/api/stops/S3/next", params={"feed": "syn", "at": NEXT_DAY + 3600})
    assert got.json()[0]["trip_id"] == "T2" and got.json()[0]["time"] == hms(25, 20)


def test_rt_reads_a_url_and_refuses_an_unknown_feed_or_an_empty_message(
    runner: CliRunner, tmp_path: Path
) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    body = message(hms(8, 0), trip_update("T1", {"stop_sequence": 1, "departure": {"delay": 5}}))

    class Feed(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Feed)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/tripupdates.pb"
        ok = runner.invoke(app, ["gtfs", "rt", url, "--feed", "syn", "--once"])
        assert ok.exit_code == 0, ok.output
        assert f"{url}: 1 trip updates, 0 vehicle positions" in ok.stdout
        unknown = runner.invoke(app, ["gtfs", "rt", url, "--feed", "nope", "--once"])
        assert unknown.exit_code == 1 and "no GTFS feed 'nope'" in unknown.stderr
    finally:
        server.shutdown()
    empty = tmp_path / "empty.pb"
    empty.write_bytes(b"")
    refused = runner.invoke(app, ["gtfs", "rt", str(empty), "--feed", "syn", "--once"])
    assert refused.exit_code == 1 and "missing header" in refused.stderr


def test_next_departures_bad_input_answers_why(client: TestClient) -> None:
    bad = client.get("/api/stops/S2/next", params={"feed": "syn", "at": "yesterday"})
    assert bad.status_code == 400 and "epoch seconds or an ISO 8601" in bad.text
    naive = client.get("/api/stops/S2/next", params={"feed": "syn", "at": "2026-06-16T08:00:00"})
    assert naive.status_code == 400 and "no UTC offset" in naive.text
    assert client.get("/api/stops/NOPE/next", params={"feed": "syn"}).status_code == 404
    assert client.get("/api/stops/S2/next", params={"feed": "other"}).status_code == 404
    assert client.get("/api/stops/S2/next").status_code == 400  # feed= is required
    far = client.get("/api/stops/S2/next", params={"feed": "syn", "at": "0001-01-01T00:00Z"})
    assert far.status_code == 400 and "outside 1970 to 9998" in far.text
    assert client.get("/api/stops/S2/next", params={"feed": "syn", "limit": 0}).status_code == 400


def test_stops_of_an_agent_only_feed_are_closed_to_citizens(
    runner: CliRunner, client: TestClient, tmp_path: Path
) -> None:
    again = runner.invoke(
        app,
        ["gtfs", "import", str(tmp_path / "f.zip"), "--feed", "syn", "--visibility", "agent"],
    )
    assert again.exit_code == 0, again.output
    assert client.get("/api/stops/S2/next?feed=syn").status_code == 401
