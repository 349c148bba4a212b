"""A small GTFS feed written by the tests: SYNTHETIC (made up here, no real agency's data).

One route of four stops in central Helsinki (coordinates near the demo district, so the twin
infers its usual working CRS), Europe/Helsinki time, every day of 2026:

- T1 calls at S1 08:00, S2 08:10, S3 08:20, S4 08:30 (``H:MM:SS`` without a leading zero for
  the first: ``8:00:00``);
- T2 calls at S1 23:50, S2 24:10, S3 25:20, S4 25:30 (past midnight: the next calendar day);
- T3 is T1 an hour later, but not on 2026-06-15 (calendar_dates removes it).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

ATTRIBUTION = "synthetic test feed (no real agency)"

FILES: dict[str, str] = {
    "agency.txt": "agency_id,agency_name,agency_url,agency_timezone\n"
    "SYN,Synthetic Transit,https://example.org,Europe/Helsinki\n",
    "stops.txt": "stop_id,stop_name,stop_lat,stop_lon,location_type\n"
    "S1,Rautatientori,60.1707,24.9440,0\n"
    "S2,Kaivopuisto,60.1680,24.9500,\n"
    "S3,Kamppi,60.1690,24.9320,0\n"
    "S4,Hakaniemi,60.1790,24.9510,0\n"
    "ST,Central station,60.1710,24.9410,1\n",
    "routes.txt": "route_id,agency_id,route_short_name,route_long_name,route_type\n"
    "R1,SYN,1,Loop,3\n",
    "trips.txt": "route_id,service_id,trip_id,trip_headsign,direction_id\n"
    "R1,DAILY,T1,Hakaniemi,0\nR1,DAILY,T2,Hakaniemi,0\nR1,DAILY,T3,Hakaniemi,0\n",
    "stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
    "T1,8:00:00,8:00:00,S1,1\nT1,08:10:00,08:10:00,S2,2\n"
    "T1,08:20:00,08:20:00,S3,3\nT1,08:30:00,08:30:00,S4,4\n"
    "T2,23:50:00,23:50:00,S1,1\nT2,24:10:00,24:10:00,S2,2\n"
    "T2,25:20:00,25:20:00,S3,3\nT2,25:30:00,25:30:00,S4,4\n"
    "T3,09:00:00,09:00:00,S1,1\nT3,09:10:00,09:10:00,S2,2\n"
    "T3,09:20:00,09:20:00,S3,3\nT3,09:30:00,09:30:00,S4,4\n",
    "calendar.txt": "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,"
    "start_date,end_date\nDAILY,1,1,1,1,1,1,1,20260101,20261231\n",
    "calendar_dates.txt": "service_id,date,exception_type\n",
}


def cli_runner(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A runner of ``twin`` on the test's database, away from any stray .env."""
    monkeypatch.setenv("TWIN_DATABASE_URL", db_url)
    monkeypatch.setenv("TWIN_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("TWIN_CRS", raising=False)
    monkeypatch.setenv("COLUMNS", "500")  # rich wraps at the terminal width
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def write_feed(path: Path, **changes: str) -> Path:
    """The feed as a zip at ``path``; ``changes`` replace whole files (``stops_txt=...``)."""
    files = {**FILES, **{k.replace("_txt", ".txt"): v for k, v in changes.items()}}
    with zipfile.ZipFile(path, "w") as z:
        for name, body in files.items():
            z.writestr(name, body)
    return path


def message(timestamp: int, *entities: object) -> bytes:
    """A serialized GTFS-realtime FeedMessage (full dataset) of ``entities``, each a
    ``TripUpdate`` or ``VehiclePosition``."""
    from google.transit import gtfs_realtime_pb2 as rt

    msg = rt.FeedMessage()
    msg.header.gtfs_realtime_version = "2.0"
    msg.header.timestamp = timestamp
    for i, e in enumerate(entities):
        entity = msg.entity.add(id=f"e{i}")
        if isinstance(e, rt.TripUpdate):
            entity.trip_update.CopyFrom(e)
        else:
            assert isinstance(e, rt.VehiclePosition)
            entity.vehicle.CopyFrom(e)
    return msg.SerializeToString()


def trip_update(trip_id: str, *stops: dict[str, object], **trip: object) -> object:
    """A TripUpdate of ``trip_id``; each stop a dict of StopTimeUpdate fields, where
    ``arrival``/``departure`` are dicts of StopTimeEvent fields (``time``, ``delay``)."""
    from google.transit import gtfs_realtime_pb2 as rt

    tu = rt.TripUpdate()
    tu.trip.trip_id = trip_id
    for key, value in trip.items():
        if key == "delay":
            tu.delay = int(value)  # type: ignore[call-overload]
        elif key == "relationship":
            tu.trip.schedule_relationship = rt.TripDescriptor.ScheduleRelationship.Value(str(value))
        else:
            setattr(tu.trip, key, value)
    for fields in stops:
        stu = tu.stop_time_update.add()
        for key, value in fields.items():
            if key in ("arrival", "departure"):
                assert isinstance(value, dict)
                for k, v in value.items():
                    setattr(getattr(stu, key), k, v)
            elif key == "relationship":
                stu.schedule_relationship = rt.TripUpdate.StopTimeUpdate.ScheduleRelationship.Value(
                    str(value)
                )
            else:
                setattr(stu, key, value)
    return tu
