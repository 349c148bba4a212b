"""Topic mappings and the network servers' MQTT uplinks, through the real bridge, Mosquitto
and PostGIS: a The Things Stack or ChirpStack uplink published on its MQTT topic is decoded by
the same adapter as its HTTP route, stored once, and the HTTP route then finds it a duplicate
(same device, metrics, times and message ids); a configured layout ``city/{device}/{metric}``
replaces the default one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from geodata.errors import ConfigError, InputError
from sensors_bridge.registry import DeviceSpec, add_devices
from sensors_bridge.topics import DEFAULT_ROUTES, parse_routes, route_for
from tests.lorawan_examples import CHIRPSTACK_JOIN, CHIRPSTACK_UP, TTS_UPLINK, with_object
from tests.test_lorawan_http import client, post, token
from tests.test_mqtt_bridge import Running, broker, publish, wait_for
from twin.services.mosquitto import EmbeddedMosquitto
from twin.settings import get_settings

__all__ = ["broker", "client", "token"]  # fixtures used here

TTS_TOPIC = "v3/app1@ttn/devices/dev1/up"
CS_TOPIC = "application/17c82e96-be03-4f38-aef3-f83d48582d97/device/0101010101010101/event/up"
CS_UP = with_object(CHIRPSTACK_UP, {"co2": 612, "temperature": 21.5})


@pytest.mark.parametrize(
    ("entries", "problem"),
    [
        ("city/{device}", "must hold {device_id} and {metric} once each"),
        ("city/{device}/{metric}=kafka", "unknown adapter 'kafka'"),
        ("v3/+/devices/+/up", "no adapter named"),
        ("v3/{device}/up=tts", "names its device itself: give a plain MQTT filter"),
        ("a/#/b=tts", "# may only be the last level"),
        ("a/b+/c=chirpstack", "+ and # must each be a whole level"),
        ("$share/g/a/#=tts", "not a $ system or $share topic"),
        ("a/+/{device}/{metric}", "wildcards are not allowed"),
        ("x/{device}/{metric}, x/{device}/{metric}=mqtt", "x/+/+ is mapped twice"),
        (" , ", "no topic mapping given"),
    ],
)
def test_bad_mappings_are_refused_naming_the_entry(entries: str, problem: str) -> None:
    with pytest.raises(InputError) as got:
        parse_routes(entries)
    assert problem in str(got.value)


def test_a_bad_mapping_is_refused_when_the_settings_are_read() -> None:
    with pytest.raises(ConfigError) as got:
        get_settings(mqtt_topics="city/{device}=mqtt", _env_file=None)
    assert "TWIN_MQTT_TOPICS" in str(got.value) and "{metric}" in str(got.value)


def test_first_matching_mapping_decodes_the_message() -> None:
    routes = parse_routes("city/{device}/{metric},\nv3/+/devices/+/up=tts\nlora/#=chirpstack")
    assert [r.entry for r in routes] == [
        "city/{device}/{metric}=mqtt",
        "v3/+/devices/+/up=tts",
        "lora/#=chirpstack",
    ]
    assert [r.filter for r in DEFAULT_ROUTES] == [
        "twin/+/+",
        "v3/+/devices/+/up",
        "application/+/device/+/event/up",
    ]
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    route = route_for(routes, "city/lamp-7/power")
    assert route is not None and route.protocol == "mqtt"
    (obs,) = route.decode("city/lamp-7/power", b"40", now).items
    assert (getattr(obs, "device", None), getattr(obs, "metric", None)) == ("lamp-7", "power")
    assert route_for(routes, "twin/lamp-7/power") is None
    lora = route_for(routes, "lora/x/event/join")
    assert lora is not None and lora.decode("lora/x/event/join", CHIRPSTACK_JOIN, now).event == (
        "join"
    )


@pytest.fixture
def bridge(engine: Engine, broker: EmbeddedMosquitto) -> Iterator[Running]:
    r = Running(engine, broker, "topics")
    yield r
    r.stop()


def rows(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


OBSERVATIONS = (
    "SELECT o.device_id, d.protocol, o.metric, o.value, o.message_id, o.at::text "
    "FROM observations o JOIN devices d ON d.id = o.device_id ORDER BY 1, 3"
)


def test_tts_and_chirpstack_over_mqtt_are_stored_once_as_over_http(
    engine: Engine, broker: EmbeddedMosquitto, bridge: Running, client: TestClient, token: str
) -> None:
    add_devices(engine, [DeviceSpec("co2-school-1", "chirpstack", "co2", "0101010101010101")])
    # each uplink twice (a network server's retry, a redelivery): stored once
    sent = [(TTS_TOPIC, TTS_UPLINK), (CS_TOPIC, CS_UP)] * 2
    assert publish(broker, sent) == 4
    wait_for(lambda: bridge.bridge.stats.stored + bridge.bridge.stats.duplicate >= 2 * 6)
    by_mqtt = rows(engine, OBSERVATIONS)
    assert [(r[0], r[1], r[2]) for r in by_mqtt] == [
        ("co2-school-1", "chirpstack", "co2"),
        ("co2-school-1", "chirpstack", "rssi"),
        ("co2-school-1", "chirpstack", "snr"),
        ("co2-school-1", "chirpstack", "temperature"),
        ("tts-0004A30B001C0530", "tts", "luminosity"),
        ("tts-0004A30B001C0530", "tts", "temperature"),
    ]
    assert bridge.bridge.stats.stored == 6 and bridge.bridge.stats.duplicate == 6
    # the HTTP routes decode the same uplinks to the same keys: all duplicates, nothing new
    tts = post(client, token, "/api/ingest/tts", TTS_UPLINK).json()
    cs = post(client, token, "/api/ingest/chirpstack?event=up", CS_UP).json()
    assert (tts["accepted"], tts["duplicate"], cs["accepted"], cs["duplicate"]) == (0, 2, 0, 4)
    assert rows(engine, OBSERVATIONS) == by_mqtt
    counted = rows(
        engine,
        "SELECT adapter, outcome, n FROM ingest_counts WHERE outcome IN ('accepted', "
        "'duplicate') ORDER BY 1, 2",
    )
    assert counted == [
        ("chirpstack", "accepted", 4),
        ("chirpstack", "duplicate", 8),
        ("tts", "accepted", 2),
        ("tts", "duplicate", 4),
    ]


def test_a_bad_uplink_over_mqtt_is_the_same_dead_letter_as_over_http(
    engine: Engine, broker: EmbeddedMosquitto, bridge: Running, client: TestClient, token: str
) -> None:
    bad = TTS_UPLINK.replace(b'"dev_eui" : "0004A30B001C0530"', b'"dev_eui" : "nope"')
    assert publish(broker, [(TTS_TOPIC, bad), (CS_TOPIC, b"\x00\xff not protobuf")]) == 2
    wait_for(lambda: bridge.bridge.stats.rejected == 2)
    assert post(client, token, "/api/ingest/tts", bad).status_code == 422
    letters = rows(engine, "SELECT adapter, reason, raw FROM dead_letters ORDER BY id")
    assert [(a, r) for a, r, _ in letters] == [
        ("tts", "missing_field"),
        ("chirpstack", "malformed_protobuf"),
        ("tts", "missing_field"),
    ]
    assert bytes(letters[0][2]) == bytes(letters[2][2]) == bad
    assert bridge.thread.is_alive()


def test_a_configured_layout_replaces_the_default_one(
    engine: Engine, broker: EmbeddedMosquitto
) -> None:
    running = Running(engine, broker, "city", parse_routes("city/{device}/{metric}=mqtt"))
    worker = running.bridge
    try:
        at = '"at": "2026-11-30T10:00:00Z"'
        msgs = [
            ("city/lamp-7/power", b'{"value": 40, %s}' % at.encode()),
            ("twin/lamp-7/power", b"41"),  # not a topic of this twin any more
            ("city/gauge-1/stage_m", b'{"value": 0.42, %s}' % at.encode()),
        ]
        assert publish(broker, msgs) == 3
        wait_for(lambda: worker.stats.stored == 2)
        publish(broker, [("city/lamp-7/power", b'{"value": 40, %s}' % at.encode())])
        wait_for(lambda: worker.stats.duplicate == 1)
    finally:
        running.stop()
    assert rows(engine, "SELECT device_id, metric, value FROM observations ORDER BY 1") == [
        ("gauge-1", "stage_m", 0.42),
        ("lamp-7", "power", 40.0),
    ]
