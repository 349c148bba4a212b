"""Open aggregates of live data end to end: declared with the real CLI, fed by the batch
writer, downloaded through the real app from the embedded PostGIS, for every principal.

The world: parking-space sensors in two 250 m cells (the rows are synthetic, made up here).
Cell A has six feeding sensors (public and agent-only) plus a confidential one and a
quarantined one that must never count; cell B has four, one under k = 5.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from geodata.vocab import ROLES
from sensors_bridge.model import Observation
from sensors_bridge.opendata.release import Declaration, declare, release_closed
from sensors_bridge.store import BatchWriter
from tests.test_tiles_support import helsinki
from tiles import synthetic
from twin.accounts import create_user
from twin.app import create_app
from twin.cli import app as cli
from twin.settings import Settings

__all__ = ["helsinki"]
CELL = 250.0
X0 = math.floor(synthetic.HELSINKI[0] / CELL) * CELL + 10
Y0 = math.floor(synthetic.HELSINKI[1] / CELL) * CELL + 10
PRINCIPALS = ["anonymous", *ROLES]
DOWNLOADS = {
    "public": set(PRINCIPALS),
    "agent": {"agent", "planner", "operator", "admin"},
}
HOUR = timedelta(hours=1)


def _clock() -> tuple[datetime, datetime, datetime]:
    """Now, and the starts of two closed windows; read when a test's world is made, not at
    collection (a run started late in an hour would otherwise see its open window close)."""
    now = datetime.now(UTC)
    w1 = now.replace(minute=0, second=0, microsecond=0) - 3 * HOUR
    return now, w1, w1 + HOUR


NOW, W1, W2 = _clock()
#: device -> (cell x offset, visibility, status, value in W1, value in W2)
SENSORS = {
    **{f"a-pub-{i}": (0, "public", "active", 1.0, float(i % 2)) for i in range(4)},
    **{f"a-agent-{i}": (0, "agent", "active", 0.0, 1.0) for i in range(2)},
    "a-secret": (0, "confidential", "active", 1.0, 1.0),
    "a-unvetted": (0, "public", "quarantined", 1.0, 1.0),
    **{f"b-pub-{i}": (300, "public", "active", 1.0, 1.0) for i in range(4)},
}


def _feed(engine: Engine, *observations: tuple[str, float, datetime]) -> None:
    batch = [Observation(device, "occupied", value, at) for device, value, at in observations]
    result = BatchWriter(engine, "http").write(batch)
    assert result.accepted == len(batch), result


def _sensor(conn: Any, device: str, dx: float, visibility: str, status: str) -> None:
    conn.execute(
        text(
            "INSERT INTO devices (id, protocol, type, visibility, status, geom) VALUES "
            "(:i, 'http', 'parking_sensor', :v, :s, ST_SetSRID(ST_MakePoint(:x, :y, 0), 3067))"
        ),
        {"i": device, "v": visibility, "s": status, "x": X0 + dx + len(device), "y": Y0},
    )


@pytest.fixture
def world(helsinki: Engine) -> Engine:
    global NOW, W1, W2
    NOW, W1, W2 = _clock()
    with helsinki.begin() as conn:
        for device, (dx, visibility, status, _, _) in SENSORS.items():
            _sensor(conn, device, dx, visibility, status)
    feed = []
    for device, (_, _, _, v1, v2) in SENSORS.items():
        feed += [
            (device, v1, W1 + timedelta(minutes=10)),
            (device, 1.0 - v1, W1 + timedelta(minutes=40)),  # each device's own mean first
            (device, v2, W2 + timedelta(minutes=30)),
            (device, 1.0, NOW.replace(minute=0, second=0, microsecond=0)),  # the open window
        ]
    _feed(helsinki, *feed)
    return helsinki


@pytest.fixture
def client(settings: Settings, world: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine=world)) as c:
        yield c


@pytest.fixture
def auth(world: Engine) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {"anonymous": {}}
    for role in ROLES:
        out[role] = {"Authorization": f"Bearer {create_user(world, f'u-{role}', role)}"}
    return out


def _cli(settings: Settings, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    monkeypatch.setenv("TWIN_DATABASE_URL", settings.database_url or "")
    monkeypatch.setenv("TWIN_DATA_DIR", str(settings.data_dir))
    return CliRunner().invoke(cli, ["opendata", "add", *args])


def _parking(engine: Engine, visibility: str = "public", **kw: Any) -> int:
    d = Declaration(
        name=f"parking-{visibility}",
        device_type="parking_sensor",
        metric="occupied",
        window="1h",
        cell_m=CELL,
        k=5,
        model="OnStreetParking",
        visibility=visibility,
        licence="CC-BY-4.0",
        attribution="City of Example",
        **kw,
    )
    return declare(engine, d, min_k=5)


def _csv(body: str) -> list[dict[str, str]]:
    return list(csv.DictReader(x for x in body.splitlines() if not x.startswith("#")))


def test_the_export_holds_groups_of_k_feeding_devices_and_no_device(
    client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    got = _cli(
        settings,
        monkeypatch,
        "parking",
        "--type",
        "parking_sensor",
        "--metric",
        "occupied",
        "--model",
        "OnStreetParking",
        "--licence",
        "CC-BY-4.0",
    )
    assert got.exit_code == 0, got.output
    dataset_id = int(got.stdout.strip().splitlines()[-1])
    r = client.get(f"/api/datasets/{dataset_id}/download?format=csv")
    assert r.status_code == 200, r.text
    assert "# licence: CC-BY-4.0" in r.text and "fewer than 5 devices" in r.text
    rows = _csv(r.text)
    # cell B (4 sensors) is suppressed in both windows; the open window is not published;
    # the confidential and the quarantined sensors never count
    assert [(row["window_start"][:13], row["devices"]) for row in rows] == [
        (W1.isoformat()[:13], "6"),
        (W2.isoformat()[:13], "6"),
    ]
    # W1: each sensor's own mean is 0.5 (1 then 0, or 0 then 1); W2: 2 of 4 public + 2 agent
    assert [float(row["mean"]) for row in rows] == [0.5, pytest.approx(4 / 6)]
    for device in SENSORS:
        assert device not in r.text
    j = client.get(f"/api/datasets/{dataset_id}/download?format=json")
    assert j.headers["content-type"] == "application/ld+json"
    entities = j.json()
    assert [e["type"] for e in entities] == ["OnStreetParking"] * 2
    assert [(e["totalSpotNumber"], e["occupiedSpotNumber"]) for e in entities] == [(6, 3), (6, 4)]
    assert entities[0]["@context"][0].endswith("dataModel.Parking/master/context.jsonld")
    assert entities[0]["location"]["type"] == "Polygon" and entities[0]["license"] == "CC-BY-4.0"
    assert not any(device in j.text for device in SENSORS)
    about = client.get(f"/api/datasets/{dataset_id}").json()
    assert about["layer"] == "live" and about["features"] == 2
    assert about["aggregate"]["k"] == 5 and about["aggregate"]["window_seconds"] == 3600


def test_late_data_and_new_devices_change_nothing_already_published(
    client: TestClient, world: Engine
) -> None:
    """The differencing attacker downloads, waits for one more device (or one late value) in
    a published window, and downloads again: the published windows are the same bytes, so
    the difference is empty. A fifth sensor joining cell B late does not unsuppress it."""
    dataset_id = _parking(world)
    first = client.get(f"/api/datasets/{dataset_id}/download?format=csv").text
    with world.begin() as conn:
        _sensor(conn, "b-late", 300, "public", "active")
    _feed(world, ("b-late", 0.0, W1 + timedelta(minutes=5)))
    _feed(world, ("a-pub-0", 0.0, W2 + timedelta(minutes=50)))
    second = client.get(f"/api/datasets/{dataset_id}/download?format=csv").text
    assert second == first


def test_differential_privacy_noise_is_drawn_once(client: TestClient, world: Engine) -> None:
    """With epsilon, counts and means are noisy, and a second download shows the same noise
    (averaging downloads would otherwise remove it)."""
    dataset_id = _parking(world, epsilon=0.5, bounds=(0.0, 1.0))
    first = client.get(f"/api/datasets/{dataset_id}/download?format=json").json()
    again = client.get(f"/api/datasets/{dataset_id}/download?format=json").json()
    assert first == again and len(first) == 2
    assert "differentially private (epsilon 0.5" in first[0]["description"]
    assert all(0 <= e["occupiedSpotNumber"] <= e["totalSpotNumber"] for e in first)


@pytest.mark.parametrize("visibility", list(DOWNLOADS))
def test_who_may_download_an_open_aggregate(
    client: TestClient, world: Engine, auth: dict[str, dict[str, str]], visibility: str
) -> None:
    """Every principal × both formats, against the rule written out again: an aggregate of
    agent-only sensors may be public; an agent aggregate is for agents."""
    dataset_id = _parking(world, visibility)
    for who in PRINCIPALS:
        listed = client.get("/api/datasets", headers=auth[who]).json()["datasets"]
        assert (dataset_id in [d["id"] for d in listed]) == (who in DOWNLOADS[visibility])
        for fmt in ("csv", "json"):
            r = client.get(f"/api/datasets/{dataset_id}/download?format={fmt}", headers=auth[who])
            want = 200 if who in DOWNLOADS[visibility] else 401 if who == "anonymous" else 403
            assert r.status_code == want, (who, fmt, r.text)
        gpkg = client.get(f"/api/datasets/{dataset_id}/download?format=gpkg", headers=auth[who])
        assert gpkg.status_code == (400 if who in DOWNLOADS[visibility] else want)
    doc = client.get("/api/datasets?f=jsonld", headers=auth["admin"]).json()
    (node,) = [n for n in doc["dcat:dataset"] if n["dct:identifier"] == str(dataset_id)]
    assert [d["@id"].rsplit("=", 1)[1] for d in node["dcat:distribution"]] == ["csv", "json"]
    assert node["dcat:distribution"][1]["dcat:mediaType"]["@id"].endswith("application/ld+json")
    client.app.state.audit.flush()  # type: ignore[attr-defined]
    with world.connect() as conn:
        actors = conn.execute(
            text("SELECT DISTINCT actor FROM audit_log WHERE kind = 'export' AND target LIKE :t"),
            {"t": f"dataset {dataset_id} as %"},
        ).scalars()
        assert set(actors) == {f"u-{w}" for w in DOWNLOADS[visibility] - {"anonymous"}}


def test_declarations_that_would_leak_are_refused(
    world: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _parking(world)
    base = ["--type", "parking_sensor", "--metric", "occupied", "--model", "OnStreetParking"]
    cases = {
        "one aggregate per device type and metric": ["again", *base],
        "confidential data is never exported": ["c", *base, "--visibility", "confidential"],
        "under this twin's minimum group size 5": ["k3", *base, "--k", "3"],
        "needs bounds": [
            "dp",
            "--type",
            "t",
            "--metric",
            "m",
            "--model",
            "OnStreetParking",
            "--epsilon",
            "1",
        ],
        "unknown model 'Parking'": ["m", "--type", "t", "--metric", "m", "--model", "Parking"],
        "write LOW:HIGH": ["b", *base, "--bounds", "0-1"],
    }
    for says, args in cases.items():
        got = _cli(settings, monkeypatch, *args)
        assert got.exit_code == 1, (args, got.output)
        assert says in " ".join(got.output.split()), got.output
    with world.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM live_aggregates")).scalar_one() == 1


def test_release_is_idempotent_and_bounded_by_closed_windows(world: Engine) -> None:
    dataset_id = _parking(world)
    assert release_closed(world, dataset_id, now=W2 + timedelta(minutes=2)) == 0  # W1 in grace
    assert release_closed(world, dataset_id, now=W2 + timedelta(minutes=6)) == 1
    assert release_closed(world, dataset_id, now=W2 + timedelta(minutes=7)) == 0
    assert release_closed(world, dataset_id, now=NOW) == 1
    with world.connect() as conn:
        assert (
            conn.execute(
                text("SELECT features FROM datasets WHERE id = :d"), {"d": dataset_id}
            ).scalar_one()
            == 2
        )


def test_migrations_0009_and_0008_go_down_and_up_with_aggregates_and_device_tokens(
    world: Engine, db_url: str
) -> None:
    from alembic import command

    from geodata.db import alembic_config

    dataset_id = _parking(world)
    release_closed(world, dataset_id)
    create_user(world, "device:a-pub-0", "citizen", kind="device", device_id="a-pub-0")
    world.dispose()
    command.downgrade(alembic_config(db_url), "0007")
    with world.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM datasets")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM users")).scalar_one() == 0
    command.upgrade(alembic_config(db_url), "head")
    assert _parking(world) > 0
