"""``POST /api/ingest/tts`` and ``/api/ingest/chirpstack`` end to end: the documentation's
example messages through the real app, an integration token from the real CLI and the
embedded PostGIS; unknown DevEUIs quarantined, redeliveries stored once, refusals kept."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from sensors_bridge import deadletters
from sensors_bridge.registry import DeviceSpec, add_devices
from tests.lorawan_examples import (
    CHIRPSTACK_JOIN,
    CHIRPSTACK_UP,
    TTS_JOIN,
    TTS_UPLINK,
    as_protobuf,
    with_object,
)
from twin.app import create_app
from twin.cli import app as cli
from twin.settings import Settings

PROTOBUF = "application/octet-stream"


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


@pytest.fixture
def token(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TWIN_DATABASE_URL", settings.database_url or "")
    monkeypatch.setenv("TWIN_DATA_DIR", str(settings.data_dir))
    got = CliRunner().invoke(cli, ["tokens", "add", "--integration", "lorawan"])
    assert got.exit_code == 0, got.output
    return got.stdout.strip().splitlines()[-1]


def post(c: TestClient, token: str, url: str, body: bytes, ctype: str = "application/json") -> Any:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": ctype}
    return c.post(url, content=body, headers=headers)


def rows(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def test_tts_uplink_quarantines_an_unknown_dev_eui_and_stores_once(
    client: TestClient, token: str, engine: Engine
) -> None:
    r = post(client, token, "/api/ingest/tts", TTS_UPLINK)
    assert r.status_code == 200, r.text
    assert (r.json()["accepted"], r.json()["quarantined"]) == (2, ["tts-0004A30B001C0530"])
    again = post(client, token, "/api/ingest/tts", TTS_UPLINK)  # a webhook retry
    assert (again.status_code, again.json()["accepted"], again.json()["duplicate"]) == (200, 0, 2)
    assert rows(engine, "SELECT id, protocol, external_id, status FROM devices") == [
        ("tts-0004A30B001C0530", "tts", "0004A30B001C0530", "quarantined")
    ]
    stored = rows(engine, "SELECT metric, value, message_id, at::text FROM observations ORDER BY 1")
    assert stored == [
        ("luminosity", 0.64, "as:up:01E0WZGT6Y7657CPFPE5WEYDSQ", "2020-02-12 15:15:45.789585+00"),
        ("temperature", 1.0, "as:up:01E0WZGT6Y7657CPFPE5WEYDSQ", "2020-02-12 15:15:45.789585+00"),
    ]


def test_events_without_observations_are_counted(
    client: TestClient, token: str, engine: Engine
) -> None:
    joined = post(client, token, "/api/ingest/tts", TTS_JOIN)
    assert (joined.status_code, joined.json()["event"]) == (200, "join")
    url = "/api/ingest/chirpstack?event=join"
    assert post(client, token, url, CHIRPSTACK_JOIN).status_code == 200
    assert post(client, token, url, CHIRPSTACK_JOIN).status_code == 200
    with engine.connect() as conn:
        counted = dict(
            conn.execute(text("SELECT adapter || ' ' || outcome, n FROM ingest_counts")).all()
        )
        assert conn.execute(text("SELECT count(*) FROM observations")).scalar_one() == 0
        stats = deadletters.stats(conn)["adapters"]
    assert counted == {"tts event:join": 1, "chirpstack event:join": 2}
    assert stats["chirpstack"]["events"] == {"join": 2} and stats["tts"]["events"] == {"join": 1}


def test_chirpstack_without_object_keeps_link_metrics_and_dead_letters_the_rest(
    client: TestClient, token: str, engine: Engine
) -> None:
    r = post(client, token, "/api/ingest/chirpstack?event=up", CHIRPSTACK_UP)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 2
    assert [x["reason"] for x in r.json()["rejected"]] == ["no_decoded_payload"]
    assert rows(engine, "SELECT metric, value, unit FROM observations ORDER BY 1") == [
        ("rssi", -36.0, "dB[mW]"),
        ("snr", 10.5, "dB"),
    ]
    assert rows(engine, "SELECT adapter, reason FROM dead_letters") == [
        ("chirpstack", "no_decoded_payload")
    ]


def test_chirpstack_protobuf_and_json_are_one_message_for_a_registered_device(
    client: TestClient, token: str, engine: Engine
) -> None:
    # registered with the DevEUI as ChirpStack spells it (lower case): matched all the same
    eui = "a840410001810fde"  # with letters, so that its case matters
    add_devices(engine, [DeviceSpec("air-1", "chirpstack", "air", eui)])
    obj = {"temperature": 21.5, "humidity": 40}
    body = with_object(CHIRPSTACK_UP, obj, deviceInfo={"devEui": eui})
    binary = post(client, token, "/api/ingest/chirpstack?event=up", as_protobuf(body), PROTOBUF)
    assert binary.status_code == 200, binary.text
    assert (binary.json()["accepted"], binary.json()["quarantined"]) == (4, [])
    # the same deduplicationId in the other encoding: every observation a duplicate
    same = post(client, token, "/api/ingest/chirpstack?event=up", body)
    assert (same.json()["accepted"], same.json()["duplicate"]) == (0, 4)
    assert rows(engine, "SELECT device_id, metric, value FROM latest_state ORDER BY 2") == [
        ("air-1", "humidity", 40.0),
        ("air-1", "rssi", -36.0),
        ("air-1", "snr", 10.5),
        ("air-1", "temperature", 21.5),
    ]


@pytest.mark.parametrize(
    ("url", "body", "ctype", "reason"),
    [
        ("/api/ingest/tts", b'{"end_device_ids": ', "application/json", "malformed_json"),
        (
            "/api/ingest/chirpstack?event=up",
            b'{"deviceInfo": [',
            "application/json",
            "malformed_json",
        ),
        ("/api/ingest/chirpstack?event=up", b"\xff\xff\xff\xff", PROTOBUF, "malformed_protobuf"),
    ],
)
def test_malformed_bodies_are_400_and_dead_letters(
    client: TestClient, token: str, engine: Engine, url: str, body: bytes, ctype: str, reason: str
) -> None:
    r = post(client, token, url, body, ctype)
    assert r.status_code == 400, r.text
    assert [x["reason"] for x in r.json()["rejected"]] == [reason]
    adapter = url.split("/")[3].split("?")[0]
    assert rows(engine, "SELECT adapter, reason, raw FROM dead_letters") == [
        (adapter, reason, body)
    ]


def test_readable_but_unusable_uplinks_are_422(client: TestClient, token: str) -> None:
    doc = orjson.loads(TTS_UPLINK)
    del doc["end_device_ids"]["dev_eui"]  # an ABP device TTS knows no DevEUI of
    r = post(client, token, "/api/ingest/tts", orjson.dumps(doc))
    assert r.status_code == 422
    assert [x["reason"] for x in r.json()["rejected"]] == ["missing_field"]
    unknown = post(client, token, "/api/ingest/chirpstack?event=bogus", CHIRPSTACK_UP)
    assert unknown.status_code == 400 and "event" in unknown.text  # the app's query refusal


def test_the_routes_need_a_token(client: TestClient) -> None:
    assert client.post("/api/ingest/tts", content=TTS_UPLINK).status_code == 401
    url = "/api/ingest/chirpstack?event=up"
    assert client.post(url, content=CHIRPSTACK_UP).status_code == 401


def test_a_lorawan_device_is_registered_by_its_dev_eui(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWIN_DATABASE_URL", settings.database_url or "")
    monkeypatch.setenv("TWIN_DATA_DIR", str(settings.data_dir))
    args = ["devices", "add", "air-2", "--protocol", "tts", "--type", "air", "--external-id"]
    got = CliRunner().invoke(cli, [*args, "dev1"])
    assert got.exit_code != 0 and "Traceback" not in got.output
    assert "no DevEUI" in got.output and len(got.output.strip().splitlines()) == 1
    assert CliRunner().invoke(cli, [*args, "0004a30b001c0530"]).exit_code == 0
