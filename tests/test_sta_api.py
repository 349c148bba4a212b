"""SensorThings v1.1 at /sta/v1.1 against the real database: every entity set, navigation,
each query option, the filter functions, paging links (behind a proxy too), and errors.
The role matrix is tests/test_sta_access.py; a real client reads it in test_sta_client.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

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
        data_dir=tmp_path_factory.mktemp("sta") / "var",
        sta_default_top=10,
        sta_max_top=20,
        forwarded_allow_ips="*",  # the proxy test below; other requests send no such header
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


def names(doc: dict[str, Any]) -> list[str]:
    return [e["name"] for e in doc["value"]]


def test_service_root_lists_sets_and_conformance(world: Any) -> None:
    doc = get(world, "")
    assert {v["name"] for v in doc["value"]} == {
        "Things", "Locations", "HistoricalLocations", "Sensors", "ObservedProperties",
        "Datastreams", "Observations", "FeaturesOfInterest",
    }  # fmt: skip
    assert all(v["url"] == f"{BASE}/{v['name']}" for v in doc["value"])
    # what is served, and nothing more (no create/update/delete, MultiDatastreams, MQTT)
    spec = "http://www.opengis.net/spec/iot_sensing/1.1/req"
    assert doc["serverSettings"]["conformance"] == [
        f"{spec}/datamodel",
        f"{spec}/resource-path/resource-path-to-entities",
        f"{spec}/request-data",
    ]


def test_each_entity_set_for_a_citizen(world: Any) -> None:
    _, w, _ = world
    things = get(world, "/Things")
    assert names(things) == ["air-1", "air-2"]  # active, public, by id; no quarantined ghost
    one = things["value"][0]
    assert one["@iot.id"] == w.thing["air-1"] and isinstance(one["@iot.id"], int)
    assert one["@iot.selfLink"] == f"{BASE}/Things({w.thing['air-1']})"
    assert one["Datastreams@iot.navigationLink"] == f"{one['@iot.selfLink']}/Datastreams"
    locations = get(world, "/Locations")["value"]
    assert [loc["encodingType"] for loc in locations] == ["application/geo+json"] * 2
    lon, lat = locations[0]["location"]["coordinates"][:2]
    assert 24 < lon < 26 and 60 < lat < 61  # Helsinki, from EPSG:3067 to WGS 84
    assert names(get(world, "/Sensors")) == ["air-1", "air-2"]
    assert names(get(world, "/ObservedProperties")) == ["pm10", "temperature"]  # no 'level'
    streams = get(world, "/Datastreams")["value"]
    assert [s["name"] for s in streams] == ["air-1 pm10", "air-1 temperature", "air-2 temperature"]
    temp = streams[1]
    assert temp["unitOfMeasurement"]["symbol"] == "Cel"
    assert temp["phenomenonTime"] == "2026-11-30T10:00:00Z/2026-11-30T10:29:00Z"
    assert len(get(world, "/FeaturesOfInterest")["value"]) == 2
    obs = get(world, "/Observations")
    assert len(obs["value"]) == 10 and obs["@iot.nextLink"].startswith(f"{BASE}/Observations?")
    # newest first by default
    times = [o["phenomenonTime"] for o in obs["value"]]
    assert times == sorted(times, reverse=True)


def test_navigation_both_ways(world: Any) -> None:
    _, w, _ = world
    air1, temp = w.thing["air-1"], w.datastream[("air-1", "temperature")]
    assert names(get(world, f"/Things({air1})/Datastreams")) == ["air-1 pm10", "air-1 temperature"]
    assert names(get(world, f"/Things({air1})/Locations")) == ["air-1"]
    assert get(world, f"/Datastreams({temp})/Thing")["name"] == "air-1"
    assert get(world, f"/Datastreams({temp})/Sensor")["name"] == "air-1"
    assert get(world, f"/Datastreams({temp})/ObservedProperty")["name"] == "temperature"
    obs = get(world, f"/Datastreams({temp})/Observations?$top=3")
    assert [o["result"] for o in obs["value"]] == [39.0, 38.0, 37.0]
    first = obs["value"][0]["@iot.id"]
    assert get(world, f"/Observations({first})/Datastream")["@iot.id"] == temp
    assert get(world, f"/Observations({first})/FeatureOfInterest")["name"] == "air-1"
    op = get(world, f"/Datastreams({temp})/ObservedProperty")["@iot.id"]
    assert names(get(world, f"/ObservedProperties({op})/Datastreams")) == [
        "air-1 temperature",
        "air-2 temperature",
    ]
    assert names(get(world, f"/Locations({w.location['air-1']})/Things")) == ["air-1"]
    assert len(get(world, f"/Sensors({air1})/Datastreams")["value"]) == 2
    assert get(world, f"/FeaturesOfInterest({air1})/Observations?$count=true")["@iot.count"] == 31


def test_ids_are_stable_across_requests_and_new_data(world: Any) -> None:
    first = get(world, "/Datastreams")["value"]
    assert get(world, "/Datastreams")["value"] == first
    _, w, _ = world
    assert get(world, f"/Things({w.thing['air-1']})")["name"] == "air-1"


def test_select_expand_orderby_top_skip_count(world: Any) -> None:
    _, w, _ = world
    doc = get(world, "/Things?$select=name,@iot.id&$orderby=name desc&$top=1&$count=true")
    assert doc["value"] == [{"@iot.id": w.thing["air-2"], "name": "air-2"}]
    assert doc["@iot.count"] == 2
    assert doc["@iot.nextLink"] == (
        f"{BASE}/Things?$select=name%2C%40iot.id&$orderby=name%20desc&$count=true&$top=1&$skip=1"
    )
    assert names(get(world, "/Things?$orderby=name desc&$skip=1")) == ["air-1"]
    deep = get(
        world,
        "/Things?$filter=name eq 'air-1'&$expand=Datastreams($select=name;$orderby=name desc;"
        "$expand=Observations($top=2;$count=true),ObservedProperty),Locations",
    )["value"][0]
    assert [loc["name"] for loc in deep["Locations"]] == ["air-1"]
    temp, pm10 = deep["Datastreams"]
    assert set(temp) == {
        "name",
        "Observations",
        "Observations@iot.count",
        "Observations@iot.nextLink",
        "ObservedProperty",
    }
    assert temp["Observations@iot.count"] == N_TEMPERATURE
    assert [o["result"] for o in temp["Observations"]] == [39.0, 38.0]
    assert temp["ObservedProperty"]["name"] == "temperature"
    assert pm10["name"] == "air-1 pm10" and "Observations@iot.nextLink" not in pm10
    nxt = temp["Observations@iot.nextLink"]
    assert "/Datastreams(" in nxt and "$top=2&$skiptoken=" in nxt
    client, _, _ = world
    rest = client.get(nxt).json()["value"]  # keyset: the page after the two expanded ones
    assert [o["result"] for o in rest] == [37.0, 36.0]
    path = get(world, "/Observations?$top=1&$expand=Datastream/Thing")["value"][0]
    assert path["Datastream"]["Thing"]["name"] in ("air-1", "air-2")


def test_top_is_cut_to_the_maximum_and_pages_walk_to_the_end(world: Any) -> None:
    client, _, _ = world
    doc = get(world, "/Observations?$top=1000")
    assert len(doc["value"]) == 20 and "$top=20&$skiptoken=" in doc["@iot.nextLink"]
    seen: list[int] = []
    url: str | None = f"{ROOT}/Observations?$filter=result ge 0"
    while url:
        page = client.get(url).json()
        seen += [o["@iot.id"] for o in page["value"]]
        url = page.get("@iot.nextLink")
    assert len(seen) == len(set(seen)) == N_TEMPERATURE + 1  # air-1's temperature and pm10


def test_keyset_pages_equal_skip_pages(world: Any) -> None:
    """Following the keyset links gives exactly the rows $skip would, in the same order."""
    client, w, _ = world
    temp = w.datastream[("air-1", "temperature")]
    url: str | None = f"{ROOT}/Datastreams({temp})/Observations?$top=7&$select=result"
    by_token: list[float] = []
    while url:
        page = client.get(url).json()
        by_token += [o["result"] for o in page["value"]]
        url = page.get("@iot.nextLink")
        assert url is None or "$skiptoken=" in url
    ordered = f"/Datastreams({temp})/Observations?$top=7&$orderby=phenomenonTime desc"
    by_skip = [
        o["result"]
        for skip in range(0, N_TEMPERATURE, 7)
        for o in get(world, f"{ordered}&$skip={skip}")["value"]
    ]
    assert by_token == by_skip == [39.0 - i for i in range(N_TEMPERATURE)]
    assert "@iot.nextLink" not in get(world, "/Observations?$top=0&$count=true")


def test_filter_functions_against_the_data(world: Any) -> None:
    def count(entity: str, expr: str) -> int:
        return len(get(world, f"/{entity}?$top=20&$filter={expr}")["value"])

    assert count("Observations", "result gt 35") == 4
    assert count("Observations", "result sub 10 mul 2 eq 10") == 1  # precedence: 10 + 15/...
    assert count("Observations", "(result sub 10) mul 2 eq 10") == 1
    assert count("Observations", "result mod 10 eq 0 and result le 30") == 3
    assert count("Observations", "not (result lt 0) and month(phenomenonTime) eq 12") == 0
    assert count("Observations", "month(phenomenonTime) eq 12") == 1  # air-2 in December
    late = "minute(phenomenonTime) ge 25 and hour(phenomenonTime) eq 10"
    assert count("Observations", late) == 5
    assert count("Observations", "date(phenomenonTime) eq 2026-11-30 and result eq 12.5") == 1
    assert count("Observations", "phenomenonTime lt now() and second(phenomenonTime) eq 0") == 20
    assert count("Observations", "phenomenonTime ge 2026-11-30T10:28:00Z") == 3
    assert count("Observations", "Datastream/ObservedProperty/name eq 'pm10'") == 1
    assert count("Observations", "Datastream/Thing/name eq 'air-2'") == 1
    assert count("Datastreams", "unitOfMeasurement/symbol eq 'Cel'") == 2
    assert count("Things", "startswith(name, 'air') and not endswith(name, '2')") == 1
    assert count("Things", "contains(toupper(name), 'IR-') and length(name) eq 5") == 2
    ring = "24.92 60.165, 24.935 60.165, 24.935 60.172, 24.92 60.172, 24.92 60.165"
    inside = f"geography'POLYGON(({ring}))'"
    assert count("Things", f"st_within(Locations/location, {inside})") == 1
    assert count("Locations", f"st_intersects(location, {inside})") == 1
    assert count("Locations", f"not st_within(location, {inside})") == 1
    assert count("Things", "@iot.id eq 1 or id eq 2") == 2


def test_forwarded_host_makes_every_link_public(world: Any) -> None:
    client, _, _ = world
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "twin.example.org"}
    doc = client.get(f"{ROOT}/Things?$top=1", headers=headers).json()
    public = "https://twin.example.org/sta/v1.1"
    assert doc["value"][0]["@iot.selfLink"].startswith(f"{public}/Things(")
    assert doc["@iot.nextLink"].startswith(f"{public}/Things?")
    root = client.get(ROOT, headers=headers).json()
    assert root["value"][0]["url"] == f"{public}/Things"


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/Things?$filter=nope eq 1", 400, "Things have no property 'nope'"),
        ("/Things?$select=nope", 400, "$select"),
        ("/Things?$expand=Nope", 400, "$expand: Things have no navigation property 'Nope'"),
        ("/Things?$expand=Datastreams($select=nope)", 400, "Datastreams have no property 'nope'"),
        ("/Things?$orderby=properties", 400, "has no order"),
        ("/Things?$top=-1", 400, "$top"),
        ("/Things?$count=maybe", 400, "$count"),
        ("/Things?$wat=1", 400, "unknown query option '$wat'"),
        ("/Things?$skiptoken=bm9wZQ", 400, "$skiptoken: not one this server wrote"),
        ("/Things?$skiptoken=WzFd&$orderby=name", 400, "leave $orderby out"),
        ("/Things(1)?$filter=name eq 'a'", 400, "apply to collections"),
        ("/Things(abc)", 400, "entity_id"),
        ("/Things(999)", 404, "no Thing 999"),
        ("/Things(999)/Datastreams", 404, "no Thing 999"),
        ("/Datastreams(999)/Thing", 404, "no Datastream 999"),
        ("/Things(4)", 404, "no Thing 4"),  # the confidential meter, for a citizen
        ("/Things(6)", 404, "no Thing 6"),  # the quarantined ghost
        ("/Nothing", 404, "no entity set 'Nothing'"),
    ],
)
def test_errors_name_what_is_wrong(world: Any, path: str, status: int, message: str) -> None:
    client, w, _ = world
    assert w.thing["meter-secret"] == 4 and w.thing["ghost"] == 6
    got = client.get(f"{ROOT}{path}")
    assert got.status_code == status, got.text
    body = got.json()
    assert set(body) == {"code", "status", "description"} and message in body["description"]


def test_quarantined_devices_never_appear_even_for_admins(world: Any) -> None:
    client, w, admin = world
    listed = names(client.get(f"{ROOT}/Things", headers=admin).json())
    assert "ghost" not in listed and "meter-secret" in listed
    assert client.get(f"{ROOT}/Things({w.thing['ghost']})", headers=admin).status_code == 404
    ghost_stream = w.datastream[("ghost", "temperature")]
    assert client.get(f"{ROOT}/Datastreams({ghost_stream})", headers=admin).status_code == 404


def test_new_observations_get_new_ids_and_new_pairs_new_datastreams(
    module_engine: Engine, world: Any
) -> None:
    with module_engine.begin() as conn:
        before = conn.execute(text("SELECT max(sta_id) FROM observations")).scalar_one()
    from datetime import UTC, datetime

    from sensors_bridge.model import Observation
    from sensors_bridge.store import BatchWriter

    BatchWriter(module_engine, "http").write(
        [Observation("air-2", "humidity", 55.0, datetime(2026, 11, 30, 12, tzinfo=UTC))],
        now=datetime(2026, 12, 1, tzinfo=UTC),
    )
    doc = get(
        world, "/Datastreams?$filter=ObservedProperty/name eq 'humidity'&$expand=Observations"
    )
    (stream,) = doc["value"]
    assert stream["Observations"][0]["@iot.id"] == before + 1
    assert "humidity" in names(get(world, "/ObservedProperties"))
