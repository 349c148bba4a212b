"""``twin gtfs import`` against the real embedded PostGIS, on a synthetic feed."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from sensors_bridge.gtfs.feed import read_feed
from sensors_bridge.gtfs.times import parse_time, service_day_origin, zone
from tests.gtfs_data import FILES, cli_runner, write_feed
from twin.cli import app


@pytest.fixture
def runner(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    return cli_runner(db_url, tmp_path, monkeypatch)


def test_times_past_midnight_and_without_leading_zero() -> None:
    assert parse_time("8:05:09") == 8 * 3600 + 5 * 60 + 9
    assert parse_time("25:30:00") == 25 * 3600 + 1800
    for bad in ("8:5:00", "08:60:00", "noon", ""):
        with pytest.raises(ValueError):
            parse_time(bad)


def test_service_day_origin_is_noon_minus_twelve_hours_on_clock_change_days() -> None:
    from datetime import date

    tz = zone("Europe/Helsinki")
    # 2026-03-29: clocks go forward at 03:00; noon is UTC+3, so the origin is 23:00 the day
    # before in local winter time, i.e. 21:00 UTC on the 28th
    assert service_day_origin(date(2026, 3, 29), tz) == 1774731600  # 2026-03-28T21:00Z
    assert service_day_origin(date(2026, 3, 30), tz) == 1774818000  # 2026-03-29T21:00Z


def test_import_keeps_stops_trips_and_calendars(
    runner: CliRunner, engine: Engine, tmp_path: Path
) -> None:
    feed = write_feed(tmp_path / "syn.zip")
    result = runner.invoke(app, ["gtfs", "import", str(feed), "--feed", "syn"])
    assert result.exit_code == 0, result.output
    assert "4 stops as bus_stop furniture" in result.stdout
    assert "1 stations, entrances and nodes" in result.stdout
    with engine.connect() as conn:
        stops = conn.execute(
            text(
                "SELECT source_id, kind, name, ST_SRID(geom) FROM furniture "
                "WHERE source = 'gtfs:syn' ORDER BY source_id"
            )
        ).all()
        srid = conn.execute(text("SELECT value FROM twin_meta WHERE key = 'crs'")).scalar()
        times = conn.execute(
            text(
                "SELECT trip_id, stop_sequence, arrival, departure FROM gtfs_stop_times "
                "WHERE feed = 'syn' AND trip_id = 'T2' ORDER BY stop_sequence"
            )
        ).all()
        tz = conn.execute(text("SELECT timezone FROM gtfs_feeds WHERE name = 'syn'")).scalar()
        audited = conn.execute(
            text("SELECT target, detail->>'source' FROM audit_log WHERE kind = 'import'")
        ).all()
    assert [(s[0], s[1], s[2]) for s in stops] == [
        ("S1", "bus_stop", "Rautatientori"),
        ("S2", "bus_stop", "Kaivopuisto"),
        ("S3", "bus_stop", "Kamppi"),
        ("S4", "bus_stop", "Hakaniemi"),
    ]
    assert {s[3] for s in stops} == {int(srid)}  # reprojected to the working CRS
    assert times[1][2] == 24 * 3600 + 600 and times[3][3] == 25 * 3600 + 1800
    assert tz == "Europe/Helsinki"
    assert audited == [("syn.zip", "gtfs:syn")]

    # a re-import without S4 (and its stop times) removes it; nothing is doubled
    smaller = write_feed(
        tmp_path / "smaller.zip",
        stops_txt="\n".join(FILES["stops.txt"].splitlines()[:4]) + "\n",
        stop_times_txt="".join(
            line + "\n" for line in FILES["stop_times.txt"].splitlines() if ",S4," not in line
        ),
    )
    again = runner.invoke(app, ["gtfs", "import", str(smaller), "--feed", "syn"])
    assert again.exit_code == 0, again.output
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM furniture WHERE source = 'gtfs:syn'")).scalar()
            == 3
        )
        assert (
            conn.execute(text("SELECT count(*) FROM gtfs_stop_times WHERE feed = 'syn'")).scalar()
            == 9
        )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {
                "stop_times_txt": FILES["stop_times.txt"].replace(
                    "08:20:00,08:20:00", "8:2:00,8:2:00"
                )
            },
            "syn.zip: stop_times.txt line 4: arrival_time '8:2:00'",
        ),
        (
            {"stop_times_txt": FILES["stop_times.txt"] + "T9,10:00:00,10:00:00,S1,1\n"},
            "syn.zip: stop_times.txt line 14: trip_id 'T9' is not in trips.txt",
        ),
        (
            {"stops_txt": FILES["stops.txt"].replace("60.1680", "160.1680")},
            "syn.zip: stops.txt line 3: stop_lat '160.1680'",
        ),
        (
            {"agency_txt": FILES["agency.txt"].replace("Europe/Helsinki", "Mars/Olympus")},
            "unknown time zone 'Mars/Olympus'",
        ),
        (
            {"trips_txt": FILES["trips.txt"] + "R1,DAILY,T1,Again,0\n"},
            "syn.zip: trips.txt line 5: trip_id 'T1' appears twice",
        ),
    ],
)
def test_bad_feeds_are_refused_whole_with_file_and_line(
    runner: CliRunner, engine: Engine, tmp_path: Path, changes: dict[str, str], message: str
) -> None:
    good = runner.invoke(
        app, ["gtfs", "import", str(write_feed(tmp_path / "ok.zip")), "--feed", "syn"]
    )
    assert good.exit_code == 0, good.output
    bad = write_feed(tmp_path / "syn.zip", **changes)
    result = runner.invoke(app, ["gtfs", "import", str(bad), "--feed", "syn"])
    assert result.exit_code == 1
    assert message in result.stderr.replace("\n", "")
    assert "Traceback" not in result.output
    with engine.connect() as conn:  # the previous import is intact
        assert conn.execute(text("SELECT count(*) FROM gtfs_stop_times")).scalar() == 12
        assert (
            conn.execute(text("SELECT count(*) FROM furniture WHERE source = 'gtfs:syn'")).scalar()
            == 4
        )


def test_read_feed_refuses_a_non_zip(tmp_path: Path) -> None:
    path = tmp_path / "feed.zip"
    path.write_text("not a zip")
    from geodata.errors import ImportFailed

    with pytest.raises(ImportFailed, match=r"feed\.zip: not a GTFS zip"):
        read_feed(path)


def test_each_stop_is_a_gtfs_device_bound_to_its_bus_stop(
    runner: CliRunner, engine: Engine, tmp_path: Path
) -> None:
    """The one object referential: stop, furniture feature and device meet on one feature."""
    feed = write_feed(tmp_path / "syn.zip")
    result = runner.invoke(app, ["gtfs", "import", str(feed), "--feed", "syn"])
    assert result.exit_code == 0, result.output
    assert "4 stop devices" in result.stdout
    query = text(
        "SELECT d.id, d.protocol, d.type, d.external_id, d.layer, f.kind, f.source_id, "
        "ST_Equals(d.geom, f.geom) AS same_place, d.attrs->>'name' AS name "
        "FROM devices d JOIN furniture f ON f.id = d.feature_id ORDER BY d.id"
    )
    with engine.connect() as conn:
        devices = conn.execute(query).all()
    assert [(d.id, d.protocol, d.type, d.external_id, d.layer) for d in devices] == [
        (f"gtfs-syn-S{i}", "gtfs", "bus_stop", f"syn:S{i}", "furniture") for i in range(1, 5)
    ]
    assert all(d.kind == "bus_stop" and d.same_place for d in devices)
    assert [d.source_id for d in devices] == ["S1", "S2", "S3", "S4"]
    assert devices[0].name == "Rautatientori"

    # the registry knows them (a bus stop device is public like its stop)
    listed = runner.invoke(app, ["devices", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.count('"protocol": "gtfs"') == 4

    # a re-import without S4 removes its device; the others keep their ids and bindings
    smaller = write_feed(
        tmp_path / "smaller.zip",
        stops_txt="\n".join(FILES["stops.txt"].splitlines()[:4]) + "\n",
        stop_times_txt="".join(
            line + "\n" for line in FILES["stop_times.txt"].splitlines() if ",S4," not in line
        ),
    )
    assert runner.invoke(app, ["gtfs", "import", str(smaller), "--feed", "syn"]).exit_code == 0
    # a second feed with the same stop ids has devices of its own
    assert runner.invoke(app, ["gtfs", "import", str(feed), "--feed", "other"]).exit_code == 0
    with engine.connect() as conn:
        after = conn.execute(query).all()
    assert [d.id for d in after] == [
        *(f"gtfs-other-S{i}" for i in range(1, 5)),
        *(f"gtfs-syn-S{i}" for i in range(1, 4)),
    ]
