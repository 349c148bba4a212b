"""``twin broker start|stop``: the embedded Mosquitto outlives the command, is persistent and
localhost only, and is stopped by its pid file; a bad TWIN_MQTT_URL is one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port
from twin.services.postgres import port_open

TWIN = str(Path(sys.executable).with_name("twin"))


def _twin(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TWIN, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )


def test_broker_start_outlives_the_command_and_stop_ends_it(tmp_path: Path) -> None:
    port = free_port()
    env = {"TWIN_DATA_DIR": str(tmp_path), "TWIN_MQTT_PORT": str(port)}
    started = _twin("broker", "start", env=env)
    try:
        assert started.returncode == 0, started.stderr
        assert port_open(port)  # the command returned and the broker still answers
        conf = (tmp_path / "mqtt" / "mosquitto.conf").read_text()
        assert f"listener {port} 127.0.0.1" in conf and "persistence true" in conf
        assert "max_queued_messages 1000000" in conf
        again = _twin("broker", "start", env=env)
        assert again.returncode == 0 and "already answers" in again.stdout
    finally:
        stopped = _twin("broker", "stop", env=env)
    assert stopped.returncode == 0 and "broker stopped" in stopped.stdout
    assert not port_open(port)
    assert not (tmp_path / "mqtt" / "mosquitto.pid").exists()
    none = _twin("broker", "stop", env=env)
    assert none.returncode == 0 and "no broker" in none.stdout


def test_a_bad_broker_url_is_refused_in_one_line(tmp_path: Path) -> None:
    env = {"TWIN_DATA_DIR": str(tmp_path), "TWIN_MQTT_URL": "http://h:99999"}
    got = _twin("bridge", env=env)
    assert got.returncode == 1
    assert "TWIN_MQTT_URL must look like mqtt://host:1883" in got.stderr
    assert "Traceback" not in got.stderr


def test_the_default_broker_is_the_embedded_one_never_a_guess_at_1883(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Machines of this kind run a system Mosquitto on 1883: it must not be taken for ours."""
    from twin.services.mosquitto import EmbeddedMosquitto, broker_url
    from twin.settings import Settings

    monkeypatch.delenv("TWIN_MQTT_URL", raising=False)
    monkeypatch.delenv("TWIN_MQTT_PORT", raising=False)

    s = Settings(data_dir=tmp_path, _env_file=None)
    assert broker_url(s.mqtt_url, EmbeddedMosquitto.of(s)) == ("mqtt://127.0.0.1:18830", True)
    assert s.mqtt_address == ("127.0.0.1", 18830) and s.mqtt_login == (None, None)
    given = Settings(data_dir=tmp_path, mqtt_url="mqtt://bridge:pw@broker:1884", _env_file=None)
    assert given.mqtt_address == ("broker", 1884) and given.mqtt_login == ("bridge", "pw")
