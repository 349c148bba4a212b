"""The whole role matrix over HTTP: every principal (each role and anonymous) × every
visibility × every route kind that serves restricted data.

The cases come from the registries (``LAYERS``, ``ROLES``, ``VISIBILITIES``, the tables that
carry a source), so a new layer or role is covered without editing this file; the expected
answers come from the rule written out again below as a literal table, independently of
``geodata.access``, so a change to the rule makes this test fail.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from geodata.datasets import dataset_layers
from geodata.layers import LAYERS
from geodata.vocab import FURNITURE_KINDS, NETWORKS, ROLES, SOURCED_TABLES, VISIBILITIES
from geodata.working_crs import set_working_crs
from tests.lorawan_examples import CHIRPSTACK_UP, TTS_UPLINK
from tiles.build import build_all
from tiles.layout import MANIFEST, TILESET
from twin.accounts import create_user
from twin.app import create_app
from twin.settings import Settings

#: the rule, written out by hand: who sees which visibility
SEES: dict[str, set[str]] = {
    "anonymous": {"public"},
    "citizen": {"public"},
    "agent": {"public", "agent"},
    "planner": {"public", "agent"},
    "operator": {"public", "agent"},
    "admin": {"public", "agent", "confidential"},
}
#: the order from open to closed, by hand: what a derived thing takes of its sources
STRICTER = {"public": 0, "agent": 1, "confidential": 2}
PRINCIPALS = ["anonymous", *ROLES]
X0, Y0 = 385_000.0, 6_672_000.0


def refused(principal: str) -> int:
    return 401 if principal == "anonymous" else 403


def expected_status(principal: str, visibility: str) -> int:
    return 200 if visibility in SEES[principal] else refused(principal)


def source(visibility: str) -> str:
    return f"matrix-{visibility}"


# -- data: one row per discriminating value, per dataset visibility, in every sourced table
_INSERTS: dict[str, str] = {
    "buildings": "INSERT INTO buildings (source, source_id, footprint, height) VALUES (:s, :i, "
    "ST_Multi(ST_SetSRID(ST_MakeEnvelope(:x, :y, :x + 10, :y + 10), 3067)), 10)",
    "network_segments": "INSERT INTO network_segments (source, source_id, network, geom, "
    "depth_m) VALUES (:s, :i, :v, ST_SetSRID(ST_MakeLine(ST_MakePoint(:x, :y, -1), "
    "ST_MakePoint(:x + 20, :y, -1)), 3067), 1)",
    "network_nodes": "INSERT INTO network_nodes (source, source_id, network, kind, geom, "
    "depth_m) VALUES (:s, :i, :v, 'valve', ST_SetSRID(ST_MakePoint(:x, :y, -1), 3067), 1)",
    "furniture": "INSERT INTO furniture (source, source_id, kind, geom) VALUES (:s, :i, :v, "
    "ST_SetSRID(ST_MakePoint(:x, :y, 0), 3067))",
    "ground": "INSERT INTO ground (source, source_id, kind, geom) VALUES (:s, :i, 'road', "
    "ST_SetSRID(ST_MakeEnvelope(:x, :y, :x + 10, :y + 5), 3067))",
    "pois": "INSERT INTO pois (source, source_id, name, geom) VALUES (:s, :i, 'poi', "
    "ST_SetSRID(ST_MakePoint(:x, :y, 0), 3067))",
}
_VALUES: dict[str, tuple[str, ...]] = {
    "network_segments": NETWORKS,
    "network_nodes": NETWORKS,
    "furniture": FURNITURE_KINDS,
}


@dataclass
class World:
    client: TestClient
    headers: dict[str, dict[str, str]]
    #: (layer id, dataset visibility) -> a feature id of that layer from that dataset
    fids: dict[tuple[str, str], int]
    #: layers whose rows come from no dataset -> a feature id
    plain_fids: dict[str, int]
    #: dataset id -> visibility
    datasets: dict[int, str]
    #: tileset name -> visibility it must have
    tilesets: dict[str, str]
    #: GTFS feed name -> visibility of its stops (each has a stop S1)
    feeds: dict[str, str]
    #: device id -> who may know of it, as a visibility (a quarantined one: admins only)
    devices: dict[str, str]
    #: alert id -> the visibility of its device (a quarantined one: confidential)
    alerts: dict[int, str]


def _seed_rows(engine: Engine) -> None:
    assert set(_INSERTS) == SOURCED_TABLES, "a new sourced table needs a row recipe here"
    with engine.begin() as conn:
        set_working_crs(conn, 3067)
        n = 0
        for table, sql in _INSERTS.items():
            for value in _VALUES.get(table, ("-",)):
                for vis in VISIBILITIES:
                    n += 1
                    conn.execute(
                        text(sql),
                        {"s": source(vis), "i": str(n), "v": value, "x": X0 + n * 15, "y": Y0},
                    )
        conn.execute(
            text(
                "INSERT INTO routes (slug, name, geom) VALUES ('walk', 'Walk', ST_SetSRID("
                "ST_MakeLine(ST_MakePoint(:x, :y, 0), ST_MakePoint(:x + 50, :y, 0)), 3067))"
            ),
            {"x": X0, "y": Y0 - 50},
        )
        for vis in VISIBILITIES:  # public first: the plain id of the projects layer
            conn.execute(
                text(
                    "INSERT INTO projects (slug, name, site, visibility) VALUES (:slug, 'P', "
                    "ST_Multi(ST_SetSRID(ST_MakeEnvelope(:x, :y, :x + 50, :y + 50), 3067)), :v)"
                ),
                {"slug": f"p-{vis}", "v": vis, "x": X0, "y": Y0 - 100},
            )


def _seed_datasets(engine: Engine) -> dict[int, str]:
    out: dict[int, str] = {}
    with engine.begin() as conn:
        for table in sorted(SOURCED_TABLES):
            for vis in VISIBILITIES:
                dataset_id = conn.execute(
                    text(
                        "INSERT INTO datasets (source, layer, title, licence, visibility) "
                        "VALUES (:s, :l, :t, 'CC0-1.0', :v) RETURNING id"
                    ),
                    {"s": source(vis), "l": dataset_layers(table)[0], "t": table, "v": vis},
                ).scalar_one()
                out[dataset_id] = vis
    return out


def _feature_ids(engine: Engine) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
    fids: dict[tuple[str, str], int] = {}
    plain: dict[str, int] = {}
    with engine.connect() as conn:
        for layer in LAYERS.values():
            where = f"({layer.where or 'TRUE'})"
            if layer.table in SOURCED_TABLES:
                for vis in VISIBILITIES:
                    fids[layer.id, vis] = conn.execute(
                        text(f"SELECT min(id) FROM {layer.table} WHERE {where} AND source = :s"),
                        {"s": source(vis)},
                    ).scalar_one()
            else:
                plain[layer.id] = conn.execute(
                    text(f"SELECT min(id) FROM {layer.table} WHERE {where}")
                ).scalar_one()
    assert all(fids.values()) and all(plain.values()), "every layer needs rows to test"
    return fids, plain


def _tilesets(engine: Engine, settings: Settings) -> dict[str, str]:
    """Real builds (before any dataset is restricted), then one copy per visibility whose
    manifest imposes it, as a project or a restricted source does."""
    build_all(engine, settings.tiles_dir, layer="buildings", workers=1)
    build_all(engine, settings.tiles_dir, layer="water", workers=1)
    expected = {"buildings": "public", "network-water": "agent"}
    for vis in VISIBILITIES:
        name = f"copy-{vis}"
        shutil.copytree(settings.tiles_dir / "buildings", settings.tiles_dir / name)
        path = settings.tiles_dir / name / MANIFEST
        manifest = orjson.loads(path.read_bytes())
        manifest["min_visibility"] = vis
        path.write_bytes(orjson.dumps(manifest))
        expected[name] = vis
    return expected


def _seed_feeds(engine: Engine, settings: Settings, datasets: dict[int, str]) -> dict[str, str]:
    """One synthetic GTFS feed per visibility, imported for real (stops through the import
    pipeline); their stops' datasets join ``datasets``."""
    from geodata.importers.base import ImportOptions
    from sensors_bridge.gtfs.store import import_feed, stop_source
    from tests.gtfs_data import write_feed

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    feeds: dict[str, str] = {}
    for vis in VISIBILITIES:
        name = source(vis)
        zipped = write_feed(settings.data_dir / f"{name}.zip")
        options = ImportOptions.from_settings(settings, visibility=vis, licence="CC0-1.0")
        import_feed(engine, zipped, feed=name, options=options)
        feeds[name] = vis
        with engine.connect() as conn:
            dataset_id = conn.execute(
                text("SELECT id FROM datasets WHERE source = :s"), {"s": stop_source(name)}
            ).scalar_one()
        datasets[dataset_id] = vis
    return feeds


def _seed_devices(engine: Engine) -> dict[str, str]:
    """A device of each visibility, and a quarantined public one (admins only)."""
    expected = {f"dev-{vis}": vis for vis in VISIBILITIES}
    with engine.begin() as conn:
        for vis in VISIBILITIES:
            conn.execute(
                text(
                    "INSERT INTO devices (id, protocol, type, visibility) "
                    "VALUES (:i, 'http', 'thermometer', :v)"
                ),
                {"i": f"dev-{vis}", "v": vis},
            )
        conn.execute(
            text(
                "INSERT INTO devices (id, protocol, type, visibility, status) "
                "VALUES ('dev-quarantined', 'http', 'unknown', 'public', 'quarantined')"
            )
        )
        # one observation per seeded device (not the feeds' stop devices), so SensorThings has
        # a Datastream and an Observation per visibility
        for table in ("observations", "latest_state"):
            conn.execute(
                text(
                    f"INSERT INTO {table} (device_id, metric, at, value) "
                    "SELECT id, 't', '2026-11-30T10:00:00Z', 1 FROM devices "
                    "WHERE protocol = 'http' ORDER BY id"
                )
            )
    return {**expected, "dev-quarantined": "confidential"}


def seed_world(engine: Engine, settings: Settings, client: TestClient) -> World:
    """Rows of every visibility in every sourced table, datasets, tilesets and one account
    per role: the world the matrix, the route walker and the OpenAPI fuzzing run against."""
    _seed_rows(engine)
    tilesets = _tilesets(engine, settings)
    datasets = _seed_datasets(engine)
    fids, plain = _feature_ids(engine)
    feeds = _seed_feeds(engine, settings, datasets)
    headers: dict[str, dict[str, str]] = {"anonymous": {}}
    for role in ROLES:
        headers[role] = {"Authorization": f"Bearer {create_user(engine, f'u-{role}', role)}"}
    devices = _seed_devices(engine)
    with engine.connect() as conn:  # each feed's stops are devices of the feed's visibility
        stops = conn.execute(text("SELECT id, visibility FROM devices WHERE protocol = 'gtfs'"))
        devices.update({row.id: row.visibility for row in stops})
    alerts = _seed_alerts(engine, devices)
    return World(client, headers, fids, plain, datasets, tilesets, feeds, devices, alerts)


def _seed_alerts(engine: Engine, devices: dict[str, str]) -> dict[int, str]:
    """A rule, and an open alert of it on each device of the world."""
    from twin.rules.parse import parse_rules
    from twin.rules.store import apply_rules

    rule = "- {name: matrix-rule, metric: t, raise: 10}"
    out: dict[int, str] = {}
    with engine.begin() as conn:
        apply_rules(conn, parse_rules(rule), "test")
        for device_id, vis in sorted(devices.items()):
            alert_id = conn.execute(
                text(
                    "INSERT INTO alerts (rule_id, rule, device_id, message, value, opened_at) "
                    "SELECT id, name, :d, 'matrix', 11, '2026-11-30T10:00:00Z' FROM rules "
                    "WHERE name = 'matrix-rule' RETURNING id"
                ),
                {"d": device_id},
            ).scalar_one()
            out[alert_id] = vis
    return out


@pytest.fixture
def world(engine: Engine, settings: Settings) -> Iterator[World]:
    with TestClient(create_app(settings, engine=engine)) as client:
        yield seed_world(engine, settings, client)


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_collections_routes(world: World, principal: str) -> None:
    get = world.client.get
    h = world.headers[principal]
    listed = {c["id"] for c in get("/collections", headers=h).json()["collections"]}
    assert listed == {lid for lid, layer in LAYERS.items() if layer.visibility in SEES[principal]}
    for layer in LAYERS.values():
        status = expected_status(principal, layer.visibility)
        url = f"/collections/{layer.id}"
        assert get(url, headers=h).status_code == status, url
        items = get(f"{url}/items", params={"limit": 10_000}, headers=h)
        assert items.status_code == status, f"{url}/items"
        page = items.json()
        if status == 200 and layer.table in SOURCED_TABLES:
            got = {f["properties"]["source"] for f in page["features"]}
            # the GTFS feeds' stops are bus_stop furniture of their own sources
            stops = {f"gtfs:{f}" for f, v in world.feeds.items() if v in SEES[principal]}
            want = {source(v) for v in SEES[principal]}
            assert got == want | (stops if layer.id == "furniture" else set()), url
            assert page["numberMatched"] == len(page["features"])


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_single_feature_route(world: World, principal: str) -> None:
    h = world.headers[principal]
    for (layer_id, dataset_vis), fid in world.fids.items():
        layer = LAYERS[layer_id]
        derived = max(layer.visibility, dataset_vis, key=STRICTER.__getitem__)
        if layer.visibility not in SEES[principal]:
            want = refused(principal)  # the collection itself is closed to them
        elif derived in SEES[principal]:
            want = 200
        else:
            want = 404  # a row of a dataset they may not see does not exist for them
        r = world.client.get(f"/collections/{layer_id}/items/{fid}", headers=h)
        assert r.status_code == want, (layer_id, dataset_vis, r.text)
    for layer_id, fid in world.plain_fids.items():
        r = world.client.get(f"/collections/{layer_id}/items/{fid}", headers=h)
        assert r.status_code == expected_status(principal, LAYERS[layer_id].visibility)


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_projects_each_have_their_own_visibility(world: World, principal: str) -> None:
    h = world.headers[principal]
    page = world.client.get("/collections/projects/items", headers=h).json()
    slugs = {f["properties"]["slug"]: f["id"] for f in page["features"]}
    assert set(slugs) == {f"p-{v}" for v in SEES[principal]}
    assert page["numberMatched"] == len(slugs)
    with world.client.app.state.engine.connect() as conn:
        ids = dict(conn.execute(text("SELECT slug, id FROM projects")).all())
    for vis in VISIBILITIES:
        r = world.client.get(f"/collections/projects/items/{ids[f'p-{vis}']}", headers=h)
        assert r.status_code == (200 if vis in SEES[principal] else 404), vis


def _listed(world: World, principal: str, url: str, key: str, ident: str) -> dict[Any, str]:
    """What a listing route shows the principal: {id: visibility}."""
    doc = world.client.get(url, headers=world.headers[principal]).json()
    return {item[ident]: item["visibility"] for item in doc[key]}


def _allowed(principal: str, everything: dict[Any, str]) -> dict[Any, str]:
    return {k: v for k, v in everything.items() if v in SEES[principal]}


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_tiles_routes(world: World, principal: str) -> None:
    get = world.client.get
    h = world.headers[principal]
    listed = _listed(world, principal, "/tiles", "tilesets", "name")
    assert listed == _allowed(principal, world.tilesets)
    admin = world.headers["admin"]
    for name, vis in world.tilesets.items():
        status = expected_status(principal, vis)
        doc = get(f"/tiles/{name}/{TILESET}", headers=h)
        assert doc.status_code == status, name
        content = get(f"/tiles/{name}/{TILESET}", headers=admin).json()["root"]["content"]["uri"]
        glb = get(f"/tiles/{name}/{content}", headers=h)
        assert glb.status_code == status, (name, content)
        if status == 200:
            shared = "public" in glb.headers["cache-control"]
            assert shared == (vis in SEES["anonymous"]), (name, glb.headers["cache-control"])
            assert ("Authorization" in glb.headers["vary"]) != shared


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_stops_route(world: World, principal: str) -> None:
    """A stop's departures follow its feed's visibility (bus stops are public furniture by
    default; a feed imported for agents is closed to citizens)."""
    h = world.headers[principal]
    for feed, vis in world.feeds.items():
        got = world.client.get(f"/api/stops/S1/next?feed={feed}&at=1781586300", headers=h)
        assert got.status_code == expected_status(principal, vis), (feed, got.text)
        if got.status_code == 200:
            assert [d["trip_id"] for d in got.json()][:2] == ["T3", "T2"]


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_devices_routes(world: World, principal: str) -> None:
    h = world.headers[principal]
    listed = [d["id"] for d in world.client.get("/api/devices", headers=h).json()["devices"]]
    assert set(listed) == set(_allowed(principal, world.devices))
    for device_id, vis in world.devices.items():
        for suffix in ("", "/latest", "/history?metric=t"):
            r = world.client.get(f"/api/devices/{device_id}{suffix}", headers=h)
            assert r.status_code == (200 if vis in SEES[principal] else 404), (device_id, suffix)


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_adopt_route(world: World, principal: str) -> None:
    """Adoption is for admins, checked before the device is looked up (so a refusal tells
    nobody whether an id is quarantined); the admin's unknown id is a 404. The world's own
    quarantined device is left alone (test_live_devices adopts one)."""
    h = world.headers[principal]
    got = world.client.post("/api/devices/dev-none/adopt", headers=h)
    assert got.status_code == (404 if principal == "admin" else refused(principal)), got.text


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_ingest_routes(world: World, principal: str) -> None:
    h = world.headers[principal]
    body = b'{"device": "dev-public", "metric": "t", "value": 1}'
    posted = world.client.post("/api/ingest", content=body, headers=h)
    assert posted.status_code == (200 if principal == "admin" else refused(principal))
    lorawan = {"/api/ingest/tts": TTS_UPLINK, "/api/ingest/chirpstack?event=up": CHIRPSTACK_UP}
    for url, message in lorawan.items():
        r = world.client.post(url, content=message, headers=h)
        assert r.status_code == (200 if principal == "admin" else refused(principal)), url
    stats = world.client.get("/api/ingest/stats", headers=h)
    want = 200 if principal in ("operator", "admin") else refused(principal)
    assert stats.status_code == want


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_datasets_and_me_routes(world: World, principal: str) -> None:
    get = world.client.get
    h = world.headers[principal]
    listed = _listed(world, principal, "/api/datasets", "datasets", "id")
    assert listed == _allowed(principal, world.datasets)
    for dataset_id, vis in world.datasets.items():
        r = get(f"/api/datasets/{dataset_id}", headers=h)
        assert r.status_code == expected_status(principal, vis), (dataset_id, vis)
    me = get("/api/me", headers=h).json()
    assert set(me["sees"]) == SEES[principal]
    assert me["anonymous"] == (principal == "anonymous")
    assert me["role"] == ("citizen" if principal == "anonymous" else principal)


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_alerts_routes(world: World, principal: str) -> None:
    h = world.headers[principal]
    listed = {a["id"] for a in world.client.get("/api/alerts", headers=h).json()}
    assert listed == set(_allowed(principal, world.alerts))
    for alert_id, vis in world.alerts.items():
        r = world.client.get(f"/api/alerts/{alert_id}", headers=h)
        assert r.status_code == (200 if vis in SEES[principal] else 404), alert_id
    handlers = {"agent", "operator", "admin"}
    for alert_id, vis in world.alerts.items():
        r = world.client.post(f"/api/alerts/{alert_id}/ack", headers=h)
        if principal not in handlers:
            want = refused(principal)
        else:
            want = 200 if vis in SEES[principal] else 404
        assert r.status_code == want, (alert_id, vis, r.text)
        if want == 200:
            assert r.json()["acknowledged_by"] == f"u-{principal}"
            again = world.client.post(f"/api/alerts/{alert_id}/resolve", headers=h)
            assert again.json()["state"] == "resolved"


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_rules_routes(world: World, principal: str) -> None:
    h = world.headers[principal]
    readers = {"operator", "admin"}
    for url in ("/api/rules", "/api/rules/matrix-rule"):
        r = world.client.get(url, headers=h)
        assert r.status_code == (200 if principal in readers else refused(principal)), url
    rule = b"- {name: matrix-2, metric: t, raise: 5}"
    r = world.client.post("/api/rules", content=rule, headers=h)
    assert r.status_code == (200 if principal == "admin" else refused(principal)), r.text
