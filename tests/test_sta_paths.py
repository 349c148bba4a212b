"""SensorThings' HistoricalLocations (a device's real location history, kept by a trigger on
``devices``), ``$ref``, property paths and ``$value``, against the real database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from sensors_bridge.registry import DeviceSpec, add_devices
from tests.sta_data import N_TEMPERATURE, StaWorld, seed_sta
from twin.accounts import create_user
from twin.app import create_app
from twin.settings import Settings

ROOT = "/sta/v1.1"
BASE = f"http://testserver{ROOT}"


@pytest.fixture(scope="module")
def world(
    module_engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, StaWorld, dict[str, str]]]:
    settings = Settings(
        database_url=module_engine.url.render_as_string(hide_password=False),
        data_dir=tmp_path_factory.mktemp("sta-paths") / "var",
        sta_default_top=10,
        sta_max_top=20,
        _env_file=None,
    )
    seeded = seed_sta(module_engine)
    admin = {"Authorization": f"Bearer {create_user(module_engine, 'sta-admin', 'admin')}"}
    with TestClient(create_app(settings, engine=module_engine)) as client:
        yield client, seeded, admin


def get(world: Any, path: str, **kw: Any) -> Any:
    client, _, _ = world
    got = client.get(f"{ROOT}{path}", **kw)
    assert got.status_code == 200, got.text
    return got.json()


def _move(engine: Engine, device: str, x: float, y: float) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE devices SET geom = ST_SetSRID(ST_MakePoint(:x, :y, 0), 3067) WHERE id = :d"
            ),
            {"x": x, "y": y, "d": device},
        )


def test_first_location_is_history(world: Any) -> None:
    _, w, _ = world
    air1, loc = w.thing["air-1"], w.location["air-1"]
    (hl,) = get(world, f"/Things({air1})/HistoricalLocations")["value"]
    assert set(hl) == {
        "@iot.id",
        "@iot.selfLink",
        "time",
        "Thing@iot.navigationLink",
        "Locations@iot.navigationLink",
    }
    assert hl["@iot.selfLink"] == f"{BASE}/HistoricalLocations({hl['@iot.id']})"
    assert get(world, f"/HistoricalLocations({hl['@iot.id']})/Thing")["name"] == "air-1"
    assert [
        x["@iot.id"]
        for x in get(world, f"/HistoricalLocations({hl['@iot.id']})/Locations")["value"]
    ] == [loc]
    back = get(world, f"/Locations({loc})/HistoricalLocations")["value"]
    assert [x["@iot.id"] for x in back] == [hl["@iot.id"]]
    # no location, no history: the confidential meter has none (and a citizen sees neither)
    assert "meter-secret" not in w.location


def test_a_move_keeps_the_old_place_and_only_a_move_counts(
    module_engine: Engine, world: Any
) -> None:
    """An UPDATE that moves the device adds a row; one that leaves ``geom`` alone (the batch
    writer's ``last_seen``, a registry re-run with the same feature) does not."""
    _, w, _ = world
    air2 = w.thing["air-2"]
    before = get(world, f"/Things({air2})/Locations")["value"][0]
    with module_engine.begin() as conn:
        conn.execute(text("UPDATE devices SET last_seen = now() WHERE id = 'air-2'"))
        conn.execute(text("UPDATE devices SET geom = geom WHERE id = 'air-2'"))
    assert len(get(world, f"/Things({air2})/HistoricalLocations")["value"]) == 1
    _move(module_engine, "air-2", 386500.0, 6673500.0)
    history = get(world, f"/Things({air2})/HistoricalLocations?$orderby=time desc,id desc")
    assert len(history["value"]) == 2
    now = get(world, f"/Things({air2})/Locations")["value"]
    assert len(now) == 1 and now[0]["@iot.id"] != before["@iot.id"]
    assert now[0]["location"]["coordinates"] != before["location"]["coordinates"]
    # the old Location is still there, with its old place, and belongs to no Thing now
    old = get(world, f"/Locations({before['@iot.id']})")
    assert old["location"] == before["location"]
    assert get(world, f"/Locations({before['@iot.id']})/Things")["value"] == []
    newest = history["value"][0]["@iot.id"]
    linked = get(world, f"/HistoricalLocations({newest})/Locations")["value"]
    assert [x["@iot.id"] for x in linked] == [now[0]["@iot.id"]]
    deep = get(world, f"/Things({air2})?$expand=HistoricalLocations($expand=Locations)")
    assert {len(h["Locations"]) for h in deep["HistoricalLocations"]} == {1}
    times = get(world, "/HistoricalLocations?$filter=Thing/name eq 'air-2'&$count=true")
    assert times["@iot.count"] == 2


def test_registry_add_and_replace_record_history(engine: Engine, settings: Settings) -> None:
    """A device registered with a feature has its first location; registered again on
    another feature it moves (a second row); the same feature again is no move."""
    from geodata.working_crs import set_working_crs

    with engine.begin() as conn:
        set_working_crs(conn, 3067)
        for fid, x in ((1, 385000.0), (2, 385100.0)):
            conn.execute(
                text(
                    "INSERT INTO furniture (id, source, source_id, kind, geom) VALUES (:i, "
                    "'osm', :s, 'bench', ST_SetSRID(ST_MakePoint(:x, 6672000, 0), 3067))"
                ),
                {"i": fid, "s": f"n{fid}", "x": x},
            )
    spec = DeviceSpec("bench-1", "http", "seat", feature="furniture:1")
    add_devices(engine, [spec])
    add_devices(engine, [spec], replace=True)
    add_devices(
        engine, [DeviceSpec("bench-1", "http", "seat", feature="furniture:2")], replace=True
    )
    with TestClient(create_app(settings, engine=engine)) as client:
        thing = client.get(f"{ROOT}/Things?$filter=name eq 'bench-1'").json()["value"][0]
        got = client.get(f"{ROOT}/Things({thing['@iot.id']})/HistoricalLocations?$expand=Locations")
        places = [h["Locations"][0]["location"]["coordinates"][0] for h in got.json()["value"]]
    assert len(places) == 2 and places[0] < places[1]  # in order: furniture 1, then 2


def test_refs(world: Any) -> None:
    _, w, _ = world
    air1 = w.thing["air-1"]
    doc = get(world, f"/Things({air1})/Datastreams/$ref?$count=true&$top=1")
    assert doc["@iot.count"] == 2
    assert doc["value"] == [
        {"@iot.selfLink": f"{BASE}/Datastreams({w.datastream[('air-1', 'pm10')]})"}
    ]
    assert doc["@iot.nextLink"].startswith(f"{BASE}/Things({air1})/Datastreams/$ref?")
    client, _, _ = world
    rest = client.get(doc["@iot.nextLink"]).json()
    temp = w.datastream[("air-1", "temperature")]
    assert rest["value"] == [{"@iot.selfLink": f"{BASE}/Datastreams({temp})"}]
    things = get(world, "/Things/$ref")["value"]
    assert things == [{"@iot.selfLink": f"{BASE}/Things({w.thing[d]})"} for d in ("air-1", "air-2")]
    assert get(world, f"/Things({air1})/$ref") == {"@iot.selfLink": f"{BASE}/Things({air1})"}
    assert get(world, f"/Datastreams({temp})/Thing/$ref") == {
        "@iot.selfLink": f"{BASE}/Things({air1})"
    }
    obs = get(world, f"/Datastreams({temp})/Observations/$ref?$filter=result gt 36")
    assert len(obs["value"]) == 3 and set(obs["value"][0]) == {"@iot.selfLink"}


def test_properties_and_values(world: Any) -> None:
    client, w, _ = world
    air1, temp = w.thing["air-1"], w.datastream[("air-1", "temperature")]
    assert get(world, f"/Things({air1})/name") == {"name": "air-1"}
    assert get(world, f"/Things({air1})/properties")["properties"]["protocol"] == "http"
    assert get(world, f"/Datastreams({temp})/phenomenonTime") == {
        "phenomenonTime": "2026-11-30T10:00:00Z/2026-11-30T10:29:00Z"
    }
    loc = get(world, f"/Locations({w.location['air-1']})/location")["location"]
    assert loc["type"] == "Point"
    newest = get(world, f"/Datastreams({temp})/Observations?$top=1")["value"][0]["@iot.id"]
    got = client.get(f"{ROOT}/Observations({newest})/result/$value")
    assert got.status_code == 200 and got.text == str(10.0 + N_TEMPERATURE - 1)
    assert got.headers["content-type"].startswith("text/plain")
    got = client.get(f"{ROOT}/Things({air1})/name/$value")
    assert got.text == "air-1" and got.headers["content-type"].startswith("text/plain")
    got = client.get(f"{ROOT}/Things({air1})/properties/$value")
    assert got.headers["content-type"] == "application/json"
    assert got.json()["type"] == "air_quality"
    got = client.get(f"{ROOT}/Observations({newest})/phenomenonTime/$value")
    assert got.text == "2026-11-30T10:29:00Z"


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/Things(1)/nope", 404, "Things have no navigation property or property 'nope'"),
        ("/Things(1)/nope/$value", 404, "have no navigation property or property 'nope'"),
        ("/Things(999)/name", 404, "no Thing 999"),
        ("/Things(4)/name/$value", 404, "no Thing 4"),  # confidential, for a citizen
        ("/Things(1)/name?$top=1", 400, "does not apply to a property"),
        ("/Things/$ref?$select=name", 400, "$ref answers links only"),
        ("/Things(1)/Datastreams/$ref?$expand=Thing", 400, "$ref answers links only"),
        ("/Things(999)/Datastreams/$ref", 404, "no Thing 999"),
        ("/Things(999)/$ref", 404, "no Thing 999"),
        ("/HistoricalLocations(999)", 404, "no HistoricalLocation 999"),
        ("/HistoricalLocations?$filter=Locations/nope eq 1", 400, "Locations have no property"),
    ],
)
def test_errors_name_what_is_wrong(world: Any, path: str, status: int, message: str) -> None:
    client, w, _ = world
    assert w.thing["meter-secret"] == 4
    got = client.get(f"{ROOT}{path}")
    assert got.status_code == status, got.text
    body = got.json()
    assert set(body) == {"code", "status", "description"} and message in body["description"]


def test_a_null_property_is_no_content(module_engine: Engine, world: Any) -> None:
    client, w, _ = world
    ds = w.datastream[("air-1", "pm10")]
    obs = get(world, f"/Datastreams({ds})/Observations")["value"][0]["@iot.id"]
    assert client.get(f"{ROOT}/Observations({obs})/resultQuality").status_code == 200
    with module_engine.begin() as conn:
        conn.execute(text("UPDATE observations SET value = NULL WHERE sta_id = :i"), {"i": obs})
    assert client.get(f"{ROOT}/Observations({obs})/result").status_code == 204
    assert client.get(f"{ROOT}/Observations({obs})/result/$value").status_code == 204


def test_the_migration_gives_existing_devices_their_first_location(
    engine: Engine, db_url: str
) -> None:
    """Upgrading a twin whose CRS is fixed and whose devices are located: each gets its first
    row (timed at its ``updated_at``), the column takes the working SRID, and the trigger
    records the next move."""
    from alembic import command

    from geodata.db import alembic_config
    from geodata.working_crs import set_working_crs

    with engine.begin() as conn:
        set_working_crs(conn, 3067)
        conn.execute(
            text(
                "INSERT INTO devices (id, protocol, type, geom) VALUES ('g1', 'http', 'gauge', "
                "ST_SetSRID(ST_MakePoint(385000, 6672000, 0), 3067)), ('g2', 'http', 'gauge', NULL)"
            )
        )
    engine.dispose()
    command.downgrade(alembic_config(db_url), "0009")
    command.upgrade(alembic_config(db_url), "head")
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT h.device_id, h.at = d.updated_at, ST_SRID(h.geom) FROM device_locations h "
                "JOIN devices d ON d.id = h.device_id"
            )
        ).all()
        typed = conn.execute(
            text("SELECT srid FROM geometry_columns WHERE f_table_name = 'device_locations'")
        ).scalar_one()
    assert [tuple(r) for r in rows] == [("g1", True, 3067)] and typed == 3067
    _move(engine, "g1", 385100.0, 6672000.0)
    _move(engine, "g2", 385200.0, 6672000.0)
    with engine.connect() as conn:
        counts = dict(
            conn.execute(text("SELECT device_id, count(*) FROM device_locations GROUP BY 1")).all()
        )
    assert counts == {"g1": 2, "g2": 1}


def test_nested_paths(world: Any) -> None:
    """SensorThings' nested resource paths: any walk along navigation properties."""
    client, w, _ = world
    air1, temp = w.thing["air-1"], w.datastream[("air-1", "temperature")]
    newest = get(world, f"/Datastreams({temp})/Observations?$top=1")["value"][0]["@iot.id"]
    one = get(world, f"/Datastreams({temp})/Observations({newest})")
    assert one["@iot.id"] == newest and one["result"] == 39.0
    assert get(world, f"/Datastreams({temp})/Observations({newest})/result") == {"result": 39.0}
    got = client.get(f"{ROOT}/Datastreams({temp})/Observations({newest})/result/$value")
    assert got.status_code == 200 and got.text == "39.0"
    foi = get(world, f"/Datastreams({temp})/Observations({newest})/FeatureOfInterest")
    assert foi["name"] == "air-1"
    assert [x["name"] for x in get(world, f"/Datastreams({temp})/Thing/Locations")["value"]] == [
        "air-1"
    ]
    streams = get(world, f"/Datastreams({temp})/Thing/Datastreams/$ref?$count=true")
    assert streams["@iot.count"] == 2 and set(streams["value"][0]) == {"@iot.selfLink"}
    page = get(world, f"/Things({air1})/Datastreams({temp})/Observations?$top=2")
    assert [o["result"] for o in page["value"]] == [39.0, 38.0]
    assert page["@iot.nextLink"].startswith(
        f"{BASE}/Things({air1})/Datastreams({temp})/Observations?"
    )
    rest = client.get(page["@iot.nextLink"]).json()["value"]
    assert [o["result"] for o in rest] == [37.0, 36.0]
    name = client.get(f"{ROOT}/Things({air1})/Datastreams({temp})/ObservedProperty/name/$value")
    assert name.text == "temperature"
    hl = get(world, f"/Things({air1})/HistoricalLocations({w.location['air-1']})/Locations")
    assert [x["@iot.id"] for x in hl["value"]] == [w.location["air-1"]]


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/Datastreams(1)/Observations(999999)", 404, "no Datastreams(1)/Observations(999999)"),
        ("/Things(1)/Datastreams(4)", 404, "no Things(1)/Datastreams(4)"),  # not air-1's
        ("/Things(4)/Datastreams(7)", 404, "no Things(4)"),  # the confidential meter's
        ("/Things(1)/Datastreams/Thing", 400, "is a collection"),
        ("/Datastreams(1)/Thing(1)/name", 404, "Thing is one entity"),
        ("/Things(1)/Datastreams(1)/nope", 404, "Datastreams have no navigation property"),
        ("/Things(1)/Datastreams(1)/$ref/name", 404, "$ref ends a path"),
        ("/Nothing", 404, "no entity set 'Nothing'"),
        ("/Things(1)/Datastreams(1)/name/x", 404, "no navigation property or property"),
        ("/Things(1)/Datastreams(1)?$filter=id eq 1", 400, "is one entity"),
        ("/Things(1)/Datastreams(x)", 404, "is no entity set, navigation property or property"),
    ],
)
def test_nested_errors(world: Any, path: str, status: int, message: str) -> None:
    client, w, _ = world
    assert w.thing["air-1"] == 1 and w.datastream[("air-1", "pm10")] == 1
    got = client.get(f"{ROOT}{path}")
    assert got.status_code == status, got.text
    body = got.json()
    assert set(body) == {"code", "status", "description"} and message in body["description"]
