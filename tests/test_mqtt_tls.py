"""``twin bridge`` over TLS (mqtts://) against the real Mosquitto configured by
docker/mosquitto/entrypoint.sh (accounts, ACL, a generated self-signed certificate): the
bridge logs in with its own account, checks the broker's certificate against
TWIN_MQTT_CA_FILE and stores what a device published over TLS; a certificate it cannot trust
keeps it out (and alive, retrying).
"""

from __future__ import annotations

import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine, text

from geodata.errors import ConfigError
from sensors_bridge.mqtt_bridge import MQTTBridge
from tests import test_deploy_mqtt as deploy
from tests.chaos_support import bridge_process, wait_for
from tests.conftest import free_port
from twin.settings import Settings


@pytest.fixture
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[deploy.Broker]:
    """One per test: a bridge's persistent session stays a member of the shared
    subscription after its test, and would take its turn of the next test's messages."""
    root = tmp_path_factory.mktemp("mqtt-tls")
    deploy._traversable(root)
    box = deploy.Broker(free_port(), free_port(), root)
    proc = deploy._start_broker(root, box.plain, box.tls)
    yield box
    proc.terminate()
    proc.wait(timeout=10)


def _device_publishes(broker: deploy.Broker, values: list[int]) -> list[int]:
    """bus-1 publishes over TLS, QoS 1; the PUBACK reason codes."""
    codes: list[int] = []
    dev = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    dev.username_pw_set("bus-1", deploy.PASSWORDS["bus-1"])
    dev.tls_set_context(ssl.create_default_context(cafile=str(broker.cert)))
    dev.on_publish = lambda _c, _u, _m, rc, _p: codes.append(rc.value)
    dev.connect("localhost", broker.tls)
    dev.loop_start()
    for v in values:
        dev.publish(
            "twin/bus-1/speed", b'{"value": %d, "at": "2026-11-30T10:00:%02dZ"}' % (v, v), 1
        )
    wait_for(lambda: len(codes) == len(values), 20)
    dev.disconnect()
    dev.loop_stop()
    return codes


def _speeds(engine: Engine) -> list[float]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT value FROM observations WHERE device_id = 'bus-1'"))
        return sorted(r[0] for r in rows)


def test_the_bridge_stores_over_tls_with_its_own_account(
    engine: Engine, tls_broker: deploy.Broker
) -> None:
    bridge = MQTTBridge(
        engine,
        "localhost",
        tls_broker.tls,
        instance="tls",
        username="bridge",
        password=deploy.PASSWORDS["bridge"],
        tls=True,
        ca_file=tls_broker.cert,
    )
    thread = threading.Thread(target=bridge.run, daemon=True)
    thread.start()
    try:
        assert bridge.subscribed.wait(20), "the bridge did not subscribe over TLS"
        assert _device_publishes(tls_broker, [1, 2, 3]) == [0, 0, 0]
        wait_for(lambda: bridge.stats.stored == 3, 30)
    finally:
        bridge.request_stop()
        thread.join(20)
    assert _speeds(engine) == [1, 2, 3]
    names = subprocess.run(
        ["openssl", "x509", "-in", str(tls_broker.cert), "-noout", "-ext", "subjectAltName"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "DNS:mqtt" in names  # the compose bridge checks the broker by its service name


def test_an_untrusted_certificate_keeps_the_bridge_out_and_alive(
    engine: Engine, tls_broker: deploy.Broker, tmp_path: Path
) -> None:
    other = tmp_path / "other.crt"
    subprocess.run(
        [
            "sh",
            str(deploy.ENTRYPOINT.parent.parent / "selfsigned.sh"),
            str(other),
            str(tmp_path / "other.key"),
            "localhost",
        ],
        check=True,
        capture_output=True,
    )
    bridge = MQTTBridge(
        engine,
        "localhost",
        tls_broker.tls,
        instance="untrusting",
        username="bridge",
        password=deploy.PASSWORDS["bridge"],
        tls=True,
        ca_file=other,
    )
    thread = threading.Thread(target=bridge.run, daemon=True)
    thread.start()
    try:
        assert not bridge.subscribed.wait(3)  # the handshake is refused, again and again
        assert thread.is_alive()
    finally:
        bridge.request_stop()
        thread.join(20)
    assert not thread.is_alive()


def test_twin_bridge_reads_mqtts_url_and_ca_file(
    engine: Engine, tls_broker: deploy.Broker, db_url: str, tmp_path: Path
) -> None:
    """The command end to end: the password comes percent-decoded from the URL."""
    env = {
        "TWIN_DATABASE_URL": db_url,
        "TWIN_MQTT_URL": f"mqtts://bridge:{deploy.PASSWORDS['bridge']}@localhost:{tls_broker.tls}",
        "TWIN_MQTT_CA_FILE": str(tls_broker.cert),
        "TWIN_DATA_DIR": str(tmp_path / "var"),
    }
    proc = bridge_process(env, "tls-cli")
    try:
        deadline = time.monotonic() + 60
        k = 10
        while not _speeds(engine):  # until the bridge has subscribed, messages find nobody
            assert time.monotonic() < deadline and proc.poll() is None, "the bridge never ran"
            _device_publishes(tls_broker, [k])  # 0x10 "No matching subscribers" until then
            k += 1
            time.sleep(0.5)
        assert _device_publishes(tls_broker, [50]) == [0]
        wait_for(lambda: 50 in _speeds(engine), 30)
    finally:
        proc.terminate()
        proc.wait(20)
    assert proc.returncode == 0


def test_tls_settings_are_checked(tmp_path: Path) -> None:
    pem = tmp_path / "ca.pem"
    pem.write_text("not a certificate")
    s = Settings(
        data_dir=tmp_path,
        mqtt_url="mqtts://bridge:p%40ss%2Fw@broker",
        mqtt_ca_file=pem,
        _env_file=None,
    )
    assert s.mqtt_tls and s.mqtt_address == ("broker", 8883)
    assert s.mqtt_login == ("bridge", "p@ss/w")
    plain = Settings(
        data_dir=tmp_path,
        mqtt_url="mqtt://broker",
        mqtt_username="u",
        mqtt_password="pw",
        _env_file=None,
    )
    assert plain.mqtt_login == ("u", "pw") and plain.mqtt_address == ("broker", 1883)
    with pytest.raises(ValueError, match="TWIN_MQTT_CA_FILE is set but TWIN_MQTT_URL is not"):
        Settings(data_dir=tmp_path, mqtt_url="mqtt://broker", mqtt_ca_file=pem, _env_file=None)
    with pytest.raises(ValueError, match="TWIN_MQTT_CA_FILE: no file at"):
        Settings(
            data_dir=tmp_path, mqtt_url="mqtts://b", mqtt_ca_file=tmp_path / "x", _env_file=None
        )
    with pytest.raises(ConfigError, match="not a readable PEM certificate"):
        MQTTBridge(None, "broker", 8883, tls=True, ca_file=pem)  # type: ignore[arg-type]
