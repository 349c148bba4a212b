"""docker/mosquitto: the machine's real Mosquitto runs the config, password file and ACL that
the container's entrypoint writes from its environment, on free ports, and real MQTT clients
check what a deployment promises: no anonymous access, devices confined to their own topics,
the bridge and app to theirs, a TLS listener that answers with the generated certificate,
and messages queued for an absent bridge that outlive a restart of the broker.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from tests.conftest import free_port
from tests.deploy_support import start
from twin.services.mosquitto import find_mosquitto

ENTRYPOINT = Path(__file__).resolve().parent.parent / "docker" / "mosquitto" / "entrypoint.sh"
PASSWORDS = {"bridge": "bridge-secret", "app": "app-secret", "bus-1": "pw-1", "bus-2": "pw-2"}
WAIT = 10  # seconds: only a guard against a hung broker, never what a test decides on


@dataclass
class Broker:
    plain: int
    tls: int
    root: Path

    @property
    def cert(self) -> Path:
        return self.root / "tls" / "tls.crt"


def _env(root: Path, plain: int, tls: int, devices: str) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{os.environ.get('PATH', '')}:/usr/sbin:/usr/bin",  # mosquitto_passwd, mosquitto
        "TWIN_MQTT_CONF_DIR": str(root / "conf"),
        "TWIN_MQTT_PLAIN_BIND": "127.0.0.1",
        "TWIN_MQTT_PLAIN_PORT": str(plain),
        "TWIN_MQTT_TLS_PORT": str(tls),
        "TWIN_MQTT_TLS_CERT": str(root / "tls" / "tls.crt"),
        "TWIN_MQTT_TLS_KEY": str(root / "tls" / "tls.key"),
        "TWIN_MQTT_BRIDGE_PASSWORD": PASSWORDS["bridge"],
        "TWIN_MQTT_APP_PASSWORD": PASSWORDS["app"],
        "TWIN_MQTT_DEVICES": devices,
    }


def _traversable(path: Path) -> None:
    """Mosquitto started as root drops to its own user: let it reach the test's folder."""
    for p in [path, *path.parents]:
        mode = p.stat().st_mode
        if not mode & 0o001:
            os.chmod(p, mode | 0o001)


def _start_broker(root: Path, plain: int, tls: int) -> subprocess.Popen[bytes]:
    env = _env(root, plain, tls, "bus-1:pw-1,\n bus-2:pw-2")
    conf = root / "conf" / "mosquitto.conf"
    return start(["sh", str(ENTRYPOINT), find_mosquitto(), "-c", str(conf)], env, plain, tls)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    assert shutil.which("mosquitto_passwd"), "mosquitto_passwd missing: run `make setup`"
    root = tmp_path_factory.mktemp("mqtt-deploy")
    _traversable(root)
    plain, tls = free_port(), free_port()
    proc = _start_broker(root, plain, tls)
    yield Broker(plain, tls, root)
    proc.terminate()
    proc.wait(timeout=10)


@dataclass
class Session:
    """A connected MQTT v5 client that records what it receives and its acknowledgements."""

    client: mqtt.Client
    connected: ReasonCode | None = None
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    acks: dict[int, ReasonCode] = field(default_factory=dict)
    granted: dict[int, list[ReasonCode]] = field(default_factory=dict)
    event: threading.Condition = field(default_factory=threading.Condition)

    def wait(self, ready: Any) -> None:
        with self.event:
            assert self.event.wait_for(ready, timeout=WAIT), "the broker did not answer"

    def publish(self, topic: str, payload: str) -> ReasonCode:
        mid = self.client.publish(topic, payload, qos=1).mid
        self.wait(lambda: mid in self.acks)
        return self.acks[mid]

    def subscribe(self, topic: str) -> ReasonCode:
        _, mid = self.client.subscribe(topic, qos=1)
        assert mid is not None
        self.wait(lambda: mid in self.granted)
        return self.granted[mid][0]

    def received(self, topic: str) -> list[bytes]:
        with self.event:
            return [p for t, p in self.messages if t == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _connect(
    broker: Broker,
    user: str | None,
    password: str | None = None,
    *,
    tls: bool = False,
    client_id: str = "",
) -> Session:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    session = Session(client)

    def notify(update: Any) -> None:
        with session.event:
            update()
            session.event.notify_all()

    def on_connect(c: Any, u: Any, flags: Any, rc: ReasonCode, props: Any = None) -> None:
        notify(lambda: setattr(session, "connected", rc))

    def on_message(c: Any, u: Any, msg: mqtt.MQTTMessage) -> None:
        notify(lambda: session.messages.append((msg.topic, msg.payload)))

    def on_publish(c: Any, u: Any, mid: int, rc: ReasonCode, props: Properties) -> None:
        notify(lambda: session.acks.__setitem__(mid, rc))

    def on_subscribe(c: Any, u: Any, mid: int, rcs: list[ReasonCode], props: Any) -> None:
        notify(lambda: session.granted.__setitem__(mid, rcs))

    client.on_connect, client.on_message = on_connect, on_message
    client.on_publish, client.on_subscribe = on_publish, on_subscribe
    if user is not None:
        client.username_pw_set(user, password or PASSWORDS[user])
    if tls:
        client.tls_set_context(ssl.create_default_context(cafile=str(broker.cert)))
    kept = Properties(PacketTypes.CONNECT)  # a named client keeps its session for an hour
    kept.SessionExpiryInterval = 3600
    client.connect(
        "localhost" if tls else "127.0.0.1",
        broker.tls if tls else broker.plain,
        clean_start=not client_id,
        properties=kept if client_id else None,
    )
    client.loop_start()
    session.wait(lambda: session.connected is not None)
    return session


@pytest.fixture
def sessions(broker: Broker) -> Iterator[dict[str, Session]]:
    opened = {u: _connect(broker, u) for u in PASSWORDS}
    assert all(s.connected == 0 for s in opened.values())
    yield opened
    for s in opened.values():
        s.close()


def test_anonymous_and_wrong_passwords_are_refused(broker: Broker) -> None:
    for user, password in ((None, None), ("bus-1", "pw-2"), ("intruder", "x")):
        session = _connect(broker, user, password)
        assert session.connected is not None and session.connected.is_failure
        assert session.connected.getName() in ("Not authorized", "Bad user name or password")
        session.close()


def test_a_device_publishes_only_under_its_own_id(sessions: dict[str, Session]) -> None:
    bridge, bus1 = sessions["bridge"], sessions["bus-1"]
    assert not bridge.subscribe("$share/bridges/twin/#").is_failure
    assert bus1.publish("twin/bus-1/speed", "42") == 0
    for forged in ("twin/bus-2/speed", "cmd/bus-2/stop", "state/bus-2"):
        assert bus1.publish(forged, "0").getName() == "Not authorized"
    bridge.wait(lambda: bridge.messages)
    assert bridge.received("twin/bus-1/speed") == [b"42"]
    assert bus1.publish("twin/bus-1/speed", "43") == 0  # the ordered sentinel
    bridge.wait(lambda: len(bridge.messages) == 2)
    assert [t for t, _ in bridge.messages] == ["twin/bus-1/speed"] * 2


def test_live_state_goes_from_bridge_and_app_to_every_app_worker(
    sessions: dict[str, Session],
) -> None:
    bridge, app, bus1 = sessions["bridge"], sessions["app"], sessions["bus-1"]
    assert not app.subscribe("twin/live/#").is_failure  # plain: every worker hears all
    assert bridge.publish("twin/live/state/bus-1/speed", "{}") == 0
    assert app.publish("twin/live/state/bus-2/speed", "{}") == 0  # the app's ingest routes
    assert bus1.publish("twin/live/state/bus-1/speed", "0").getName() == "Not authorized"
    app.wait(lambda: len(app.messages) == 2)
    assert [t for t, _ in app.messages] == [
        "twin/live/state/bus-1/speed",
        "twin/live/state/bus-2/speed",
    ]


def test_the_app_commands_devices_which_read_only_their_own(
    sessions: dict[str, Session],
) -> None:
    app, bus1, bus2 = sessions["app"], sessions["bus-1"], sessions["bus-2"]
    # Mosquitto grants a wildcard and filters each message by the ACL when delivering it
    assert not bus2.subscribe("cmd/#").is_failure
    assert not bus1.subscribe("cmd/bus-1/#").is_failure
    assert app.publish("cmd/bus-1/dim", "30") == 0
    assert app.publish("twin/bus-1/speed", "1").getName() == "Not authorized"  # no forging
    bus1.wait(lambda: bus1.messages)
    assert bus1.received("cmd/bus-1/dim") == [b"30"]
    # sent after bus-1's command by the same client: bus-2 gets this one and only this one
    assert app.publish("cmd/bus-2/dim", "10") == 0
    bus2.wait(lambda: bus2.messages)
    assert bus2.messages == [("cmd/bus-2/dim", b"10")]
    assert bus1.received("cmd/bus-2/dim") == []


def test_a_queued_message_survives_a_broker_restart(tmp_path: Path) -> None:
    """The bridge acknowledges only after its batch is committed, so what the broker queued
    for it while it was away must outlive a restart of the broker (persistence on)."""
    _traversable(tmp_path)
    box = Broker(free_port(), free_port(), tmp_path)
    proc = _start_broker(tmp_path, box.plain, box.tls)
    try:
        bridge = _connect(box, "bridge", client_id="twin-bridge-a")
        assert not bridge.subscribe("$share/twin/twin/+/+").is_failure
        bridge.close()  # away, its session kept
        bus1 = _connect(box, "bus-1")
        assert bus1.publish("twin/bus-1/speed", "7") == 0  # the broker took charge of it
        bus1.close()
        proc.terminate()
        proc.wait(timeout=10)
        proc = _start_broker(tmp_path, box.plain, box.tls)
        back = _connect(box, "bridge", client_id="twin-bridge-a")
        back.wait(lambda: back.messages)
        assert back.received("twin/bus-1/speed") == [b"7"]
        back.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_tls_listener_answers_with_the_generated_certificate(broker: Broker) -> None:
    device = _connect(broker, "bus-1", tls=True)
    assert device.connected == 0
    assert not device.publish("twin/bus-1/level", "1.5").is_failure  # no subscriber: still ok
    device.close()
    anonymous = _connect(broker, None, tls=True)
    assert anonymous.connected is not None and anonymous.connected.is_failure
    anonymous.close()


@pytest.mark.parametrize(
    ("devices", "message"),
    [
        (
            "bus-1:pw,bridge:x",
            "TWIN_MQTT_DEVICES: 'bridge' is reserved for the twin's own account or topics",
        ),
        (
            "bus/1:pw",
            "TWIN_MQTT_DEVICES: device id 'bus/1' may use only letters, digits, '.', '_' and '-'",
        ),
        ("bus-1", "TWIN_MQTT_DEVICES: 'bus-1' has no password: write id:password"),
        (
            "live:pw",
            "TWIN_MQTT_DEVICES: 'live' is reserved for the twin's own account or topics",
        ),
    ],
)
def test_bad_device_lists_are_refused(tmp_path: Path, devices: str, message: str) -> None:
    env = _env(tmp_path, 1, 2, devices)
    proc = subprocess.run(["sh", str(ENTRYPOINT), "true"], env=env, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"entrypoint: {message}"]
    assert not (tmp_path / "conf" / "passwd").exists()


def test_missing_passwords_are_refused(tmp_path: Path) -> None:
    env = {k: v for k, v in _env(tmp_path, 1, 2, "").items() if k != "TWIN_MQTT_APP_PASSWORD"}
    proc = subprocess.run(["sh", str(ENTRYPOINT), "true"], env=env, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "entrypoint: set TWIN_MQTT_APP_PASSWORD (the app's password)"
