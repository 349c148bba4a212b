"""``twin simulate``: its pure profiles and schedule, its messages read back by the twin's own
adapters, and a short run through the real Mosquitto, the bridge, a real uvicorn and PostGIS
that stores exactly what it sent, per protocol, and nothing more when replayed.

The devices, stops and bus lines here are SYNTHETIC (made up by the tests).
"""

from __future__ import annotations

import threading
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from geodata.errors import InputError
from sensors_bridge.chirpstack import ChirpStackAdapter
from sensors_bridge.gtfs.feed import read_feed
from sensors_bridge.gtfs.realtime import parse, record
from sensors_bridge.gtfs.store import import_feed
from sensors_bridge.http_json import JSONAdapter
from sensors_bridge.model import Observation
from sensors_bridge.mqtt import MQTTAdapter
from sensors_bridge.registry import DeviceSpec, add_devices
from sensors_bridge.simulate.buses import Line, Lines, Stop, feed_files, feed_message
from sensors_bridge.simulate.demo import simulated_devices
from sensors_bridge.simulate.messages import SimDevice, message
from sensors_bridge.simulate.profiles import ZONE, Scenario, value
from sensors_bridge.simulate.publish import HTTPPublisher, MQTTPublisher
from sensors_bridge.simulate.run import Simulation, parse_protocols, schedule
from sensors_bridge.tts import TTSAdapter
from tests.conftest import free_port
from tests.deploy_support import wait_port
from tests.test_mqtt_bridge import Running, broker, wait_for
from twin.accounts import create_user
from twin.app import create_app
from twin.cli import app
from twin.services.mosquitto import EmbeddedMosquitto
from twin.settings import Settings

__all__ = ["broker"]

DEVICES = [
    SimDevice("lamp-1", "mqtt", "lamp"),
    SimDevice("gauge-1", "mqtt", "flood_gauge", attrs={"zero_altitude_m": -0.25}),
    SimDevice("air-1", "http", "air_quality"),
    SimDevice("bay-1", "tts", "parking", "70B3D57ED0000001"),
    SimDevice("bay-2", "tts", "parking", "70B3D57ED0000002"),
    SimDevice("co2-1", "chirpstack", "co2", "A840410000000001"),
]
SPECS = [
    DeviceSpec(d.id, d.protocol, d.kind, d.external_id, attrs={"simulate": d.kind, **d.attrs})
    for d in DEVICES
]


def local(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=ZONE)


def test_profiles_follow_the_day_and_the_seed() -> None:
    s = Scenario(seed=1)
    tuesday = (2026, 12, 1)

    def v(kind: str, metric: str, at: datetime, device: str = "x", sc: Scenario = s) -> float:
        return value(kind, metric, device, at, sc)

    # the same seed gives the same value; another seed other noise
    at = local(*tuesday, 9, 20)
    assert v("co2", "co2", at) == v("co2", "co2", at)
    assert v("co2", "co2", at) != v("co2", "co2", at, sc=Scenario(seed=2))
    # lamps: off at noon in June, on at 20:00 in December, dimmed after midnight
    assert v("lamp", "power", local(2026, 6, 15, 12)) == 0
    assert 35 <= v("lamp", "power", local(*tuesday, 20)) <= 37
    assert 17 <= v("lamp", "power", local(*tuesday, 2)) <= 19
    # CO2: outdoor air on Sunday, a stuffy room late in a lesson on Tuesday
    assert 400 <= v("co2", "co2", local(2026, 12, 6, 10, 40)) <= 440
    assert v("co2", "co2", local(*tuesday, 10, 40)) > 1000
    assert v("co2", "co2", local(*tuesday, 10, 59)) < 700  # windows open at the break
    # parking: more bays taken at noon on a working day than at four in the morning
    bays = [f"bay-{i}" for i in range(200)]
    noon = sum(v("parking", "occupied", local(*tuesday, 12), b) for b in bays)
    night = sum(v("parking", "occupied", local(*tuesday, 4), b) for b in bays)
    assert noon > night + 40
    # air quality: the morning traffic peak
    assert (
        v("air_quality", "no2", local(*tuesday, 8))
        > v("air_quality", "no2", local(*tuesday, 3)) + 15
    )
    # the flood gauge: the sea's level until the storm, then more than a metre higher
    storm = Scenario(seed=1, storm_start=local(*tuesday, 14))
    before = v("flood_gauge", "stage_m", local(*tuesday, 13), sc=storm)
    after = v("flood_gauge", "stage_m", local(*tuesday, 17), sc=storm)
    assert 0.2 < before < 0.5 and after > before + 1.0


def test_the_schedule_gives_each_protocol_its_share_exactly() -> None:
    sends = list(schedule(DEVICES, ["mqtt", "http", "tts", "chirpstack"], rate=30, duration=4))
    per: dict[str, int] = {}
    for s in sends:
        per[s.device.protocol] = per.get(s.device.protocol, 0) + s.observations
    assert sum(per.values()) == 120
    assert per == {"mqtt": 30, "http": 30, "tts": 30, "chirpstack": 30}  # co2 uplinks give 3
    offsets = [s.offset for s in sends]
    assert offsets == sorted(offsets) and offsets[-1] < 4
    # each device's messages have their own number, so their own time and message id
    seen = {(s.device.id, s.n) for s in sends}
    assert len(seen) == len(sends)
    with pytest.raises(InputError, match="unknown kafka"):
        parse_protocols("mqtt,kafka")
    # GTFS takes no share of the rate (the help says why): the same sends with it
    with_gtfs = list(schedule(DEVICES, ["mqtt", "http", "tts", "chirpstack", "gtfs"], 30, 4))
    assert with_gtfs == sends


def test_the_help_says_why_gtfs_is_not_in_the_rate() -> None:
    shown = CliRunner().invoke(app, ["simulate", "--help"], env={"COLUMNS": "500"})
    assert shown.exit_code == 0
    assert "GTFS is not counted" in " ".join(shown.stdout.split())


def test_messages_are_read_by_the_twins_own_adapters() -> None:
    at = datetime(2026, 12, 1, 10, 0, 0, 250000, tzinfo=UTC)
    s = Scenario(seed=3)
    got: dict[str, list[Observation]] = {}
    for device in DEVICES:
        for m in message(device, at, 7, s):
            if m.protocol == "mqtt":
                assert m.topic is not None
                items = MQTTAdapter().decode(m.body, received=at, topic=m.topic)
            elif m.protocol == "http":
                items = JSONAdapter().decode(m.body, received=at)
            elif m.protocol == "tts":
                items = TTSAdapter().decode(m.body, received=at)
            else:
                items = ChirpStackAdapter().decode(m.body, received=at)
            obs = [i for i in items if isinstance(i, Observation)]
            assert len(obs) == m.observations, items
            got.setdefault(device.id, []).extend(obs)
    assert {o.metric for o in got["air-1"]} == {"pm2_5", "no2"}
    (bay,) = got["bay-1"]
    assert (bay.device, bay.external, bay.time) == ("70B3D57ED0000001", True, at)
    assert bay.value == value("parking", "occupied", "bay-1", at, s)
    assert bay.message_id is not None and bay.message_id.startswith("as:up:")
    assert {o.metric for o in got["co2-1"]} == {"co2", "rssi", "snr"}
    assert got["gauge-1"][0].time == at and got["gauge-1"][0].unit == "m"
    # the same message again has the same id: a resend is a duplicate
    assert message(DEVICES[3], at, 7, s)[0].body == message(DEVICES[3], at, 7, s)[0].body


def small_lines() -> Lines:
    """Three SYNTHETIC stops near Helsinki's market square, one line."""
    stops = {
        "A": Stop("A", "Kauppatori, laituri 1", 24.9525, 60.1675, 0, 0),
        "B": Stop("B", "Esplanadi", 24.9460, 60.1675, 0, 0),
        "C": Stop("C", "Erottaja", 24.9420, 60.1660, 0, 0),
    }
    legs = [[(24.9525, 60.1675), (24.9460, 60.1675)], [(24.9460, 60.1675), (24.9420, 60.1660)]]
    return Lines([Line("D1", ["A", "B", "C"], legs, [80, 60])], stops, seed=4)


def test_bus_feed_is_a_valid_gtfs_feed_and_its_buses_are_on_their_legs(tmp_path: Path) -> None:
    lines = small_lines()
    zip_path = tmp_path / "demo.zip"
    with zipfile.ZipFile(zip_path, "w") as z:
        for name, content in feed_files(lines, date(2026, 12, 1)).items():
            z.writestr(name, content)
    feed = read_feed(zip_path)  # the importer's own checks
    assert len(feed.trips) == 2 * len(range(5 * 3600, 23 * 3600 + 48 * 60 + 1, 720))
    assert feed.stops[0].name == "Kauppatori, laituri 1"  # a comma in a name survives
    seen = 0
    for second in range(0, 720, 30):  # a headway's worth of FeedMessages
        at = local(2026, 12, 1, 12) + timedelta(seconds=second)
        msg = parse(feed_message(lines, at).SerializeToString(), "sim")
        vehicles = [e.vehicle for e in msg.entity if e.HasField("vehicle")]
        updates = [e.trip_update for e in msg.entity if e.HasField("trip_update")]
        assert len(vehicles) == len(updates)
        seen += len(vehicles)
        for v in vehicles:
            assert 24.9419 <= v.position.longitude <= 24.9526
            assert 60.1659 <= v.position.latitude <= 60.1676
            assert v.trip.trip_id.startswith("D1-") and v.stop_id in ("B", "C", "A")
    assert seen > 4
    assert not feed_message(lines, local(2026, 12, 1, 3)).entity  # no bus at 3 in the night


@pytest.fixture
def server(settings: Settings, engine: Engine) -> Iterator[str]:
    """The twin served by a real uvicorn on a free port."""
    port = free_port()
    config = uvicorn.Config(create_app(settings, engine), host="127.0.0.1", port=port)
    config.log_level = "error"
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    wait_port(port)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def per_protocol(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT d.protocol, count(*) FROM observations o JOIN devices d "
                "ON d.id = o.device_id GROUP BY 1"
            )
        )
        return {r[0]: int(r[1]) for r in rows}


def test_a_short_run_through_bridge_and_server_stores_exactly_what_it_sent(
    engine: Engine, broker: EmbeddedMosquitto, server: str, tmp_path: Path
) -> None:
    add_devices(engine, SPECS)
    with engine.connect() as conn:
        devices = simulated_devices(conn)
    assert [d.id for d in devices] == sorted(d.id for d in DEVICES)
    lines = small_lines()
    zip_path = tmp_path / "demo.zip"
    with zipfile.ZipFile(zip_path, "w") as z:
        for name, content in feed_files(lines, date.today()).items():
            z.writestr(name, content)
    import_feed(engine, zip_path, feed="demo-bus")
    token = create_user(engine, "simulator", "citizen", kind="integration")
    bridge = Running(engine, broker, "sim")
    rt_file = tmp_path / "rt.pb"
    now = datetime.now(UTC)
    # a run at noon local time, so buses are on the road whenever the test runs; in the past,
    # so it is sent at once (a replay), every message carrying its own time
    noon = datetime.combine(now.astimezone(ZONE).date(), datetime.min.time(), ZONE) + timedelta(
        hours=12
    )
    start = noon if noon < now - timedelta(minutes=30) else noon - timedelta(days=1)
    while not feed_message(lines, start + timedelta(seconds=3)).entity:  # a bus on the road
        start += timedelta(seconds=30)

    def run(lorawan_via: str) -> Any:
        sim = Simulation(
            devices,
            ["mqtt", "http", "tts", "chirpstack", "gtfs"],
            rate=40,
            duration=3,
            scenario=Scenario(seed=5),
            mqtt=MQTTPublisher("127.0.0.1", broker.port),
            http=HTTPPublisher(server, token),
            lorawan_via=lorawan_via,
            lines=lines,
            gtfs_file=rt_file,
            start=start,
        )
        return sim.run()

    try:
        report = run("mqtt")
        assert not report.failed
        assert dict(report.observations) == {"mqtt": 30, "http": 30, "tts": 30, "chirpstack": 30}
        wait_for(lambda: per_protocol(engine).get("mqtt", 0) >= 30)
        wait_for(lambda: sum(per_protocol(engine).values()) >= 120)
        assert per_protocol(engine) == dict(report.observations)
        # the same run again, LoRaWAN over the HTTP routes this time: all duplicates
        again = run("http")
        assert dict(again.observations) == dict(report.observations)
        wait_for(lambda: bridge.bridge.stats.duplicate >= 30)
    finally:
        bridge.stop()
    assert per_protocol(engine) == dict(report.observations)
    with engine.connect() as conn:
        counts = dict(
            conn.execute(
                text(
                    "SELECT adapter, n FROM ingest_counts WHERE outcome = 'duplicate' "
                    "AND adapter IN ('tts', 'chirpstack')"
                )
            ).all()
        )
        letters = conn.execute(text("SELECT count(*) FROM dead_letters")).scalar_one()
    assert counts == {"tts": 30, "chirpstack": 30} and letters == 0
    # the buses: the last FeedMessage, read by what `twin gtfs rt` runs, gives their positions
    assert report.feed_messages == 4
    recorded = record(engine, "demo-bus", str(rt_file), rt_file.read_bytes())
    last = feed_message(lines, start + timedelta(seconds=3))
    assert recorded.vehicles == sum(1 for e in last.entity if e.HasField("vehicle")) > 0
    assert recorded.unknown_trips == 0


def test_the_command_refuses_what_it_cannot_simulate(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, broker: EmbeddedMosquitto
) -> None:
    from tests.gtfs_data import cli_runner

    runner: CliRunner = cli_runner(db_url, tmp_path, monkeypatch)
    monkeypatch.setenv("TWIN_MQTT_PORT", str(broker.port))
    bad = runner.invoke(app, ["simulate", "--protocols", "mqtt,smoke-signals"])
    assert bad.exit_code == 1 and "unknown smoke-signals" in bad.stderr
    empty = runner.invoke(app, ["simulate", "--protocols", "tts", "--duration", "1"])
    assert empty.exit_code == 1
    assert "no registered device to simulate for tts: load the demo" in empty.stderr
    from geodata.db import make_engine
    from sensors_bridge.registry import add_devices as add

    eng = make_engine(db_url)
    add(eng, SPECS[:1])
    eng.dispose()
    ok = runner.invoke(app, ["simulate", "--protocols", "mqtt", "--rate", "10", "--duration", "1"])
    assert ok.exit_code == 0, ok.output
    assert "mqtt: 10 observations in 10 messages" in ok.stdout
