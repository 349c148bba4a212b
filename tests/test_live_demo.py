"""``twin demo --live`` (``make demo``): the bridge and the simulator as the child processes a
user would run, against the real Mosquitto and PostGIS; observations arrive while they run,
and stopping ends them cleanly, within seconds, with their summaries in their logs."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, text

from sensors_bridge.registry import DeviceSpec, add_devices
from tests.test_mqtt_bridge import broker, wait_for
from twin.live_demo import LiveDemo
from twin.services.mosquitto import EmbeddedMosquitto
from twin.settings import Settings

__all__ = ["broker"]


def test_the_live_demo_runs_bridge_and_simulator_until_stopped(
    engine: Engine, db_url: str, broker: EmbeddedMosquitto, tmp_path: Path
) -> None:
    add_devices(
        engine,
        [  # SYNTHETIC devices
            DeviceSpec("lamp-1", "mqtt", "lamp", attrs={"simulate": "lamp"}),
            DeviceSpec("gauge-1", "mqtt", "flood_gauge", attrs={"simulate": "flood_gauge"}),
        ],
    )
    settings = Settings(
        database_url=db_url, data_dir=tmp_path / "var", mqtt_port=broker.port, _env_file=None
    )
    live = LiveDemo(settings, rate=40, protocols="mqtt")
    assert "gtfs-rt" not in live.commands()  # no buses asked for, no poller
    live.start()
    try:

        def stored() -> int:
            with engine.connect() as conn:
                return int(conn.execute(text("SELECT count(*) FROM observations")).scalar_one())

        wait_for(lambda: stored() >= 20, timeout=60)
        assert live.running() == {"bridge": True, "simulate": True}
    finally:
        codes = live.stop()
    assert codes == {"bridge": 0, "simulate": 0}
    assert "stored" in (live.log_dir / "bridge.log").read_text()
    assert "mqtt:" in (live.log_dir / "simulate.log").read_text()
    with engine.connect() as conn:
        metrics = conn.execute(text("SELECT DISTINCT metric FROM latest_state ORDER BY 1")).all()
    assert [m[0] for m in metrics] == ["power", "stage_m"]
