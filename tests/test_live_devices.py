"""The device registry through the real CLI and the API: binding checked against the layer,
import, quarantine and adoption, latest values and bucketed history (JSON and CSV)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from geodata.working_crs import set_working_crs
from sensors_bridge.model import Observation
from sensors_bridge.store import BatchWriter
from twin.accounts import create_user
from twin.app import create_app
from twin.cli import app as cli
from twin.settings import Settings

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


@pytest.fixture
def twin(settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("TWIN_DATABASE_URL", settings.database_url or "")
    monkeypatch.setenv("TWIN_DATA_DIR", str(settings.data_dir))
    with engine.begin() as conn:
        set_working_crs(conn, 3067)
        conn.execute(
            text(
                "INSERT INTO furniture (id, source, source_id, kind, geom) VALUES "
                "(7, 'osm', 'n7', 'parking_space', ST_SetSRID(ST_MakePoint(385000, 6672000, 0),"
                " 3067)), (8, 'osm', 'n8', 'camera', ST_SetSRID(ST_MakePoint(385010, 6672000,"
                " 0), 3067))"
            )
        )
    return CliRunner()


def run(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    got = runner.invoke(cli, list(args))
    return got.exit_code, got.stdout, got.stderr


def test_add_checks_the_bound_feature_against_its_layer(twin: CliRunner, engine: Engine) -> None:
    code, _, err = run(
        twin,
        "devices",
        "add",
        "bay-7",
        "--protocol",
        "mqtt",
        "--type",
        "parking_sensor",
        "--feature",
        "furniture:7",
    )
    assert code == 0, err
    with engine.connect() as conn:
        x, layer = conn.execute(text("SELECT ST_X(geom), layer FROM devices")).one()
    assert (x, layer) == (385000, "furniture")
    code, _, err = run(
        twin,
        "devices",
        "add",
        "bay-9",
        "--protocol",
        "mqtt",
        "--type",
        "p",
        "--feature",
        "furniture:9",
    )
    assert code == 1 and "layer 'furniture' has no feature 9" in err
    code, _, err = run(
        twin, "devices", "add", "cam", "--protocol", "mqtt", "--type", "p", "--feature", "cameras:7"
    )  # a parking space is no camera
    assert code == 1 and "no feature 7" in err
    code, _, err = run(twin, "devices", "add", "x", "--protocol", "zigbee", "--type", "p")
    assert code == 1 and "unknown protocol 'zigbee'" in err and "Traceback" not in err
    code, _, err = run(twin, "devices", "add", "bay-7", "--protocol", "mqtt", "--type", "p")
    assert code == 1 and "registered already" in err


def test_import_csv_and_geojson(twin: CliRunner, tmp_path: Path, engine: Engine) -> None:
    csv_file = tmp_path / "d.csv"
    csv_file.write_text(
        "id,protocol,external_id,type,visibility\n"
        "g1,chirpstack,0102030405060708,gauge,public\nc1,tts,70b3d57ed005b89a,co2,agent\n"
    )
    assert run(twin, "devices", "import", str(csv_file))[0] == 0
    geo = tmp_path / "d.geojson"
    geo.write_text(
        '{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": null, '
        '"properties": {"id": "l1", "protocol": "mqtt", "type": "lamp", "external_id": null,'
        ' "visibility": "public", "feature": "cameras:8"}}]}'
    )
    code, _, err = run(twin, "devices", "import", str(geo))
    assert code == 0, err
    bad = tmp_path / "bad.csv"
    bad.write_text("id,type\nz,lamp\n")
    code, _, err = run(twin, "devices", "import", str(bad))
    assert code == 1 and "lacks protocol, external_id, visibility" in err
    with engine.connect() as conn:
        ids = conn.execute(text("SELECT id, external_id FROM devices ORDER BY id")).all()
    assert ids == [("c1", "70B3D57ED005B89A"), ("g1", "0102030405060708"), ("l1", None)]


def test_import_keeps_attrs_and_refuses_bad_ones(
    twin: CliRunner, tmp_path: Path, engine: Engine
) -> None:
    """A flood gauge's zero altitude travels with it: an ``attrs`` JSON cell (CSV) or object."""
    csv_file = tmp_path / "d.csv"
    csv_file.write_text(
        "id,protocol,external_id,type,visibility,attrs\n"
        'gauge-1,mqtt,,flood_gauge,public,"{""zero_altitude_m"": -0.25}"\n'
    )
    assert run(twin, "devices", "import", str(csv_file))[0] == 0
    geo = tmp_path / "d.geojson"
    geo.write_text(
        '{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": null, '
        '"properties": {"id": "g2", "protocol": "mqtt", "type": "flood_gauge", '
        '"visibility": "public", "attrs": {"zero_altitude_m": 1.5, "datum": "N2000"}}}]}'
    )
    assert run(twin, "devices", "import", str(geo))[0] == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("id,protocol,external_id,type,visibility,attrs\ng3,mqtt,,gauge,public,[1]\n")
    code, _, err = run(twin, "devices", "import", str(bad))
    assert code == 1 and "record 1: attrs must be a JSON object" in err
    with engine.connect() as conn:
        got = conn.execute(text("SELECT id, attrs FROM devices ORDER BY id")).all()
    assert dict(got) == {
        "gauge-1": {"zero_altitude_m": -0.25},
        "g2": {"zero_altitude_m": 1.5, "datum": "N2000"},
    }


def test_quarantine_list_and_adopt(twin: CliRunner, engine: Engine) -> None:
    BatchWriter(engine, "chirpstack").write(
        [Observation("AABB", "level", 1.5, T0, protocol="chirpstack", external=True)]
    )
    code, listed, _ = run(twin, "devices", "list", "--quarantined", "--json")
    got = [json.loads(line) for line in listed.splitlines()]
    assert code == 0 and [(d["id"], d["status"]) for d in got] == [
        ("chirpstack-AABB", "quarantined")
    ]
    assert (
        run(
            twin, "devices", "adopt", "chirpstack-AABB", "--type", "gauge", "--visibility", "public"
        )[0]
        == 0
    )
    code, listed, _ = run(twin, "devices", "list", "--quarantined", "--json")
    assert code == 0 and listed == ""
    assert "chirpstack-AABB" in run(twin, "devices", "list", "--json")[1]
    code, _, err = run(twin, "devices", "adopt", "chirpstack-AABB")
    assert code == 1 and "no quarantined device" in err
    with engine.connect() as conn:  # the adoption is audited, the refused one is not
        logged = conn.execute(text("SELECT target FROM audit_log WHERE kind = 'device'")).all()
    assert [r[0] for r in logged] == ["chirpstack-AABB"]


@pytest.fixture
def api(twin: CliRunner, settings: Settings, engine: Engine) -> Iterator[TestClient]:
    run(
        twin,
        "devices",
        "add",
        "bay-7",
        "--protocol",
        "http",
        "--type",
        "parking_sensor",
        "--feature",
        "furniture:7",
    )
    code, _, err = run(
        twin,
        "devices",
        "add",
        "cam-8",
        "--protocol",
        "http",
        "--type",
        "counter",
        "--feature",
        "cameras:8",
    )  # public itself, but bound to the agent-only cameras
    assert code == 0, err
    writer = BatchWriter(engine, "http")
    values = [
        Observation("bay-7", "occupied", float(i % 2), T0 + timedelta(minutes=i)) for i in range(12)
    ]
    writer.write([*values, Observation("ghost", "x", 1.0, T0)], now=T0 + timedelta(hours=1))
    with TestClient(create_app(settings, engine=engine)) as client:
        yield client


def test_latest_and_history(api: TestClient) -> None:
    latest = api.get("/api/devices/bay-7/latest").json()["latest"]
    assert [(m["metric"], m["value"]) for m in latest] == [("occupied", 1.0)]
    params = {
        "metric": "occupied",
        "from": T0.isoformat(),
        "to": (T0 + timedelta(hours=1)).isoformat(),
        "bucket": "5m",
    }
    got = api.get("/api/devices/bay-7/history", params=params).json()["buckets"]
    assert [(b["count"], b["min"], b["max"]) for b in got] == [(5, 0, 1), (5, 0, 1), (2, 0, 1)]
    assert got[0]["avg"] == pytest.approx(0.4)
    csv_text = api.get("/api/devices/bay-7/history", params={**params, "format": "csv"}).text
    assert csv_text.splitlines()[0] == "bucket,min,avg,max,count"
    assert len(csv_text.splitlines()) == 4
    bad = api.get("/api/devices/bay-7/history", params={**params, "bucket": "0m"})
    assert bad.status_code == 400 and "bucket" in bad.json()["description"]


def test_devices_are_role_filtered(api: TestClient, engine: Engine) -> None:
    admin = {"Authorization": f"Bearer {create_user(engine, 'a', 'admin')}"}
    agent = {"Authorization": f"Bearer {create_user(engine, 'g', 'agent')}"}
    ids = lambda h: [d["id"] for d in api.get("/api/devices", headers=h).json()["devices"]]  # noqa: E731
    assert ids({}) == ["bay-7"]
    assert ids(agent) == ["bay-7", "cam-8"]
    assert ids(admin) == ["bay-7", "cam-8", "ghost"]
    quarantined = api.get("/api/devices", params={"status": "quarantined"}, headers=admin)
    assert [d["id"] for d in quarantined.json()["devices"]] == ["ghost"]
    assert api.get("/api/devices", params={"status": "quarantined"}).json()["devices"] == []
    assert api.get("/api/devices/ghost").status_code == 404
    assert api.get("/api/devices/ghost/latest", headers=agent).status_code == 404
    assert api.get("/api/devices/ghost/latest", headers=admin).status_code == 200
    assert api.get("/api/devices/cam-8").status_code == 404
    assert api.get("/api/devices/cam-8", headers=agent).json()["visibility"] == "agent"


def test_quarantine_hides_even_a_public_device(api: TestClient, engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE devices SET visibility = 'public' WHERE id = 'ghost'"))
    operator = {"Authorization": f"Bearer {create_user(engine, 'o', 'operator')}"}
    for headers in ({}, operator):
        listed = api.get("/api/devices", headers=headers).json()["devices"]
        assert "ghost" not in [d["id"] for d in listed]
        assert api.get("/api/devices/ghost", headers=headers).status_code == 404


def test_adopt_over_http_is_for_admins(api: TestClient, engine: Engine) -> None:
    """The control tower's adopt button: admins only (quarantined devices are theirs to know
    of), the device active afterwards with its kept observations; a second adoption, a bad
    body or an unknown device answer with what is wrong."""
    admin = {"Authorization": f"Bearer {create_user(engine, 'a2', 'admin')}"}
    operator = {"Authorization": f"Bearer {create_user(engine, 'o2', 'operator')}"}
    assert api.post("/api/devices/ghost/adopt").status_code == 401
    refused = api.post("/api/devices/ghost/adopt", headers=operator)
    assert refused.status_code == 403 and "admin" in refused.json()["description"]
    bad = api.post("/api/devices/ghost/adopt?visibility=secret", headers=admin)
    assert bad.status_code == 400 and "secret" in bad.json()["description"]
    done = api.post("/api/devices/ghost/adopt?type=gauge&visibility=public", headers=admin)
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["type"], done.json()["visibility"]) == (
        "active",
        "gauge",
        "public",
    )
    assert api.get("/api/devices/ghost/latest").json()["latest"][0]["metric"] == "x"
    with engine.connect() as conn:
        logged = conn.execute(
            text("SELECT actor, target, detail FROM audit_log WHERE kind = 'device'")
        ).all()
    assert [tuple(r) for r in logged] == [
        ("a2", "ghost", {"change": "adopt", "type": "gauge", "visibility": "public"})
    ]
    again = api.post("/api/devices/ghost/adopt", headers=admin)
    assert again.status_code == 404 and "no quarantined device" in again.json()["description"]
    assert api.post("/api/devices/nobody/adopt", headers=admin).status_code == 404
