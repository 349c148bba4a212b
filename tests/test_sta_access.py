"""SensorThings is role-filtered like every other route: exactly the devices
``geodata.access.device_visible`` lets the caller see, never a quarantined one, and a hidden
entity is a 404 by id, through navigation, ``$expand`` and ``$filter`` paths alike."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from geodata.access import ANONYMOUS, Principal, device_visible, strictest
from geodata.layers import LAYERS
from geodata.vocab import DEVICE_STATUSES, ROLES, VISIBILITIES
from sensors_bridge.sta.entities import visibility_params
from tests.sta_data import DEVICES, KNOWN, StaWorld, seed_sta
from twin.accounts import create_user
from twin.app import create_app
from twin.settings import Settings

ROOT = "/sta/v1.1"
PRINCIPALS = ["anonymous", *ROLES]


def _principal(name: str) -> Principal:
    return ANONYMOUS if name == "anonymous" else Principal(f"u-{name}", name)


@pytest.mark.parametrize("who", PRINCIPALS)
def test_the_sql_rule_is_device_visible(who: str) -> None:
    """The bind parameters the views filter with say what ``device_visible`` says, for every
    visibility, bound layer and status (quarantined: never, in SensorThings)."""
    principal = _principal(who)
    params = visibility_params(principal)
    for vis in VISIBILITIES:
        for layer in [None, *LAYERS]:
            for status in DEVICE_STATUSES:
                in_sql = (
                    status == "active"
                    and vis not in params["sta_hv"]
                    and (layer is None or layer not in params["sta_hl"])
                )
                effective = strictest(vis, LAYERS[layer].visibility if layer else None)
                rule = status == "active" and device_visible(principal, effective, status)
                assert in_sql == rule, (who, vis, layer, status)


@pytest.fixture(scope="module")
def world(
    module_engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, StaWorld, dict[str, dict[str, str]]]]:
    settings = Settings(
        database_url=module_engine.url.render_as_string(hide_password=False),
        data_dir=tmp_path_factory.mktemp("sta-access") / "var",
        _env_file=None,
    )
    seeded = seed_sta(module_engine)
    headers: dict[str, dict[str, str]] = {"anonymous": {}}
    for role in ROLES:
        token = create_user(module_engine, f"sta-{role}", role)
        headers[role] = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(settings, engine=module_engine)) as client:
        yield client, seeded, headers


def _names(client: TestClient, url: str, headers: dict[str, str]) -> set[str]:
    got = client.get(f"{ROOT}{url}", headers=headers)
    assert got.status_code == 200, got.text
    return {e["name"] for e in got.json()["value"]}


@pytest.mark.parametrize("who", PRINCIPALS)
def test_role_matrix(world: Any, who: str) -> None:
    client, w, headers = world
    h = headers[who]
    known = KNOWN[who]
    assert _names(client, "/Things", h) == known
    assert _names(client, "/Sensors", h) == known
    located = {d for d in known if DEVICES[d][1] or DEVICES[d][2]}
    assert _names(client, "/Locations", h) == located
    assert _names(client, "/FeaturesOfInterest", h) == located
    streams = {f"{d} {m}" for (d, m) in w.datastream if d in known}
    assert _names(client, "/Datastreams", h) == streams
    metrics = {m for (d, m) in w.datastream if d in known}
    assert _names(client, "/ObservedProperties", h) == metrics
    # every HistoricalLocation of every Thing it sees, and no other
    history = client.get(f"{ROOT}/HistoricalLocations?$expand=Thing", headers=h).json()["value"]
    assert {x["Thing"]["name"] for x in history} == located
    assert {x["@iot.id"] for x in history} == {w.location[d] for d in located}
    wrong: list[str] = []
    for device, loc in w.location.items():
        want = 200 if device in known else 404
        urls = [
            f"/HistoricalLocations({loc})",
            f"/HistoricalLocations({loc})/Thing",
            f"/HistoricalLocations({loc})/Locations/$ref",
            f"/HistoricalLocations({loc})/time/$value",
            f"/Locations({loc})",
            f"/Locations({loc})/HistoricalLocations",
            f"/Locations({loc})/name",
        ]
        for url in urls:
            got = client.get(f"{ROOT}{url}", headers=h)
            if got.status_code != want:
                wrong.append(f"{url}: {got.status_code}, want {want}")
    for device, thing in w.thing.items():
        want = 200 if device in known else 404
        urls = [f"/Things({thing})", f"/Things({thing})/Datastreams", f"/Sensors({thing})"]
        urls += [
            f"/Things({thing})/HistoricalLocations",
            f"/Things({thing})/$ref",
            f"/Things({thing})/Datastreams/$ref",
            f"/Things({thing})/name",
            f"/Things({thing})/name/$value",
        ]
        mine = [i for (d, _), i in w.datastream.items() if d == device]
        urls += [f"/Datastreams({i})" for i in mine] + [
            f"/Datastreams({i})/Observations" for i in mine
        ]
        # nested paths: the device hides them wherever it lies on the path
        urls += [f"/Things({thing})/Datastreams({i})/Observations/$ref" for i in mine]
        urls += [f"/Datastreams({i})/Thing/Datastreams" for i in mine]
        urls += [f"/Datastreams({i})/Sensor/name/$value" for i in mine]
        for url in urls:
            got = client.get(f"{ROOT}{url}", headers=h)
            if got.status_code != want:
                wrong.append(f"{url}: {got.status_code}, want {want}")
    assert not wrong, f"{who}: " + "; ".join(wrong)


@pytest.mark.parametrize("who", ["anonymous", "agent"])
def test_paths_and_expands_do_not_reach_hidden_devices(world: Any, who: str) -> None:
    client, w, headers = world
    h = headers[who]

    def values(url: str) -> list[dict[str, Any]]:
        got = client.get(f"{ROOT}{url}", headers=h)
        assert got.status_code == 200, got.text
        result: list[dict[str, Any]] = got.json()["value"]
        return result

    assert values("/Observations?$filter=Datastream/Thing/name eq 'meter-secret'") == []
    assert values("/Datastreams?$filter=Thing/name eq 'meter-secret'") == []
    gauge = values("/HistoricalLocations?$filter=Thing/name eq 'gauge-agent'")
    assert [x["@iot.id"] for x in gauge] == (
        [] if who == "anonymous" else [w.location["gauge-agent"]]
    )
    refs = {r["@iot.selfLink"].rsplit("(", 1)[1] for r in values("/HistoricalLocations/$ref")}
    assert len(refs) == len(values("/HistoricalLocations"))
    level = [
        op for op in values("/ObservedProperties?$expand=Datastreams") if op["name"] == "level"
    ]
    seen = {ds["name"] for op in level for ds in op["Datastreams"]}
    assert seen == {f"{d} level" for d in ("gauge-agent", "cam-1") if d in KNOWN[who]}
    admin = client.get(f"{ROOT}/Observations?$count=true&$top=0", headers=headers["admin"])
    mine = client.get(f"{ROOT}/Observations?$count=true&$top=0", headers=h)
    assert mine.json()["@iot.count"] < admin.json()["@iot.count"]
