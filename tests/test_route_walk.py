"""Every route of the OpenAPI document and every file of every tileset, walked by every
principal (anonymous and each role), with GET and HEAD, against a table written here.

The walker reads the routes from ``/openapi.json``: a route that appears without a row in
:data:`ROUTES` fails the test, so a new endpoint cannot ship unchecked. Path parameters come
from the role-matrix world (``tests.test_access_matrix.seed_world``: rows of public, agent-only
and confidential sources in every table, their datasets, tilesets of each visibility). Each
tileset is walked from its tileset.json down to every content file it names.

The expected answers come from the rule as the matrix writes it (``SEES``), the collections'
and tilesets' visibilities as literal tables below, and one distinction: a resource *closed*
to the caller answers 401 (anonymous) or 403, a *row* the caller may not see answers 404, as
if it did not exist.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urljoin

import orjson
import pytest
from fastapi.routing import APIWebSocketRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from starlette.routing import WebSocketRoute

from geodata.access import strictest
from geodata.layers import LAYERS
from tests.analysis_support import registered
from tests.lorawan_examples import CHIRPSTACK_UP, TTS_UPLINK
from tests.test_access_matrix import PRINCIPALS, SEES, World, refused, seed_world
from twin.analysis.registry import get_analysis, names
from twin.app import create_app
from twin.settings import Settings

#: every collection and who may open it, by hand
COLLECTIONS = {
    "buildings": "public",
    "networks": "agent",
    "network-water": "agent",
    "network-wastewater": "agent",
    "network-stormwater": "agent",
    "network-gas": "agent",
    "network-district_heating": "agent",
    "network-electricity": "agent",
    "network-telecom": "agent",
    "network-lighting": "agent",
    "network-nodes": "agent",
    "furniture": "public",
    "cameras": "agent",
    "ground": "public",
    "pois": "public",
    "routes": "public",
    "projects": "public",
}
#: the world's tilesets and their visibility, by hand (copies carry a manifest min_visibility)
TILESETS = {
    "buildings": "public",
    "network-water": "agent",
    "copy-public": "public",
    "copy-agent": "agent",
    "copy-confidential": "confidential",
}


@dataclass(frozen=True)
class Target:
    """One URL to ask; ``gate``: the visibility that closes it (401/403); ``row``: the
    visibility that hides it (404)."""

    url: str
    gate: str | None = None
    row: str | None = None
    #: a download: confidential data is never exported, whoever asks (403)
    export: bool = False
    #: a route for these roles only (401/403 for everyone else)
    roles: frozenset[str] | None = None
    #: no such entity for anyone (a quarantined device in SensorThings, a missing location)
    gone: bool = False

    def expected(self, principal: str) -> int:
        if self.gone:
            return 404
        if self.roles is not None and principal not in self.roles:
            return refused(principal)
        if self.gate is not None and self.gate not in SEES[principal]:
            return refused(principal)
        if self.row is not None and self.row not in SEES[principal]:
            return 404
        return 403 if self.export and self.gate == "confidential" else 200


def _collections(suffix: str) -> Callable[[World], list[Target]]:
    return lambda w: [Target(f"/collections/{c}{suffix}", v) for c, v in COLLECTIONS.items()]


def _features(w: World) -> list[Target]:
    out = [
        Target(f"/collections/{layer}/items/{fid}", COLLECTIONS[layer], source)
        for (layer, source), fid in w.fids.items()
    ]
    out += [
        Target(f"/collections/{layer}/items/{fid}", COLLECTIONS[layer])
        for layer, fid in w.plain_fids.items()
    ]
    with w.client.app.state.engine.connect() as conn:  # type: ignore[attr-defined]
        projects = conn.execute(text("SELECT id, visibility FROM projects")).all()
    out += [Target(f"/collections/projects/items/{pid}", "public", vis) for pid, vis in projects]
    return out


def _downloads(w: World) -> list[Target]:
    """Every dataset in every format, gated by the stricter of the dataset's and its layer's
    visibility (a public networks dataset is still agent-only)."""
    with w.client.app.state.engine.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(text("SELECT id, layer FROM datasets")).all()
    layer_of = dict(rows)
    return [
        Target(
            f"/api/datasets/{i}/download?format={fmt}",
            gate=strictest(vis, COLLECTIONS[layer_of[i]]),
            export=True,
        )
        for i, vis in w.datasets.items()
        for fmt in ("geojson", "csv", "gpkg")
    ]


def _tile_files(w: World) -> list[Target]:
    """tileset.json and every file it names, at every depth, of every tileset: content and
    the external tilesets of its subtrees (tiles.subtrees), followed into theirs."""
    out: list[Target] = []
    admin = w.headers["admin"]
    for name, vis in TILESETS.items():
        top = f"/tiles/{name}/tileset.json"
        docs = [top]
        while docs:
            url = docs.pop()
            out.append(Target(url, vis))
            doc = w.client.get(url, headers=admin).json()
            stack: list[dict[str, Any]] = [doc["root"]]
            while stack:
                tile = stack.pop()
                if "content" in tile:
                    target = urljoin(url, tile["content"]["uri"])
                    if target.endswith(".json"):
                        docs.append(target)
                    else:
                        out.append(Target(target, vis))
                stack.extend(tile.get("children", []))
    return out


def _devices(suffix: str) -> Callable[[World], list[Target]]:
    """Each device of the world: one the caller may not know of does not exist (404)."""
    return lambda w: [Target(f"/api/devices/{d}{suffix}", row=v) for d, v in w.devices.items()]


#: every SensorThings path, by hand (the rows are made by :func:`_sta`)
STA_PATHS = (
    "/sta/v1.1/Things",
    "/sta/v1.1/Things({entity_id})",
    "/sta/v1.1/Things({entity_id})/Locations",
    "/sta/v1.1/Things({entity_id})/Datastreams",
    "/sta/v1.1/Locations",
    "/sta/v1.1/Locations({entity_id})",
    "/sta/v1.1/Locations({entity_id})/Things",
    "/sta/v1.1/Sensors",
    "/sta/v1.1/Sensors({entity_id})",
    "/sta/v1.1/Sensors({entity_id})/Datastreams",
    "/sta/v1.1/ObservedProperties",
    "/sta/v1.1/ObservedProperties({entity_id})",
    "/sta/v1.1/ObservedProperties({entity_id})/Datastreams",
    "/sta/v1.1/Datastreams",
    "/sta/v1.1/Datastreams({entity_id})",
    "/sta/v1.1/Datastreams({entity_id})/Thing",
    "/sta/v1.1/Datastreams({entity_id})/Sensor",
    "/sta/v1.1/Datastreams({entity_id})/ObservedProperty",
    "/sta/v1.1/Datastreams({entity_id})/Observations",
    "/sta/v1.1/Observations",
    "/sta/v1.1/Observations({entity_id})",
    "/sta/v1.1/Observations({entity_id})/Datastream",
    "/sta/v1.1/Observations({entity_id})/FeatureOfInterest",
    "/sta/v1.1/FeaturesOfInterest",
    "/sta/v1.1/FeaturesOfInterest({entity_id})",
    "/sta/v1.1/FeaturesOfInterest({entity_id})/Observations",
    # HistoricalLocations, $ref, property paths and $value
    "/sta/v1.1/Things({entity_id})/HistoricalLocations",
    "/sta/v1.1/Things/$ref",
    "/sta/v1.1/Things({entity_id})/$ref",
    "/sta/v1.1/Things({entity_id})/Locations/$ref",
    "/sta/v1.1/Things({entity_id})/HistoricalLocations/$ref",
    "/sta/v1.1/Things({entity_id})/Datastreams/$ref",
    "/sta/v1.1/Things({entity_id})/{property}",
    "/sta/v1.1/Things({entity_id})/{property}/$value",
    "/sta/v1.1/Locations({entity_id})/HistoricalLocations",
    "/sta/v1.1/Locations/$ref",
    "/sta/v1.1/Locations({entity_id})/$ref",
    "/sta/v1.1/Locations({entity_id})/Things/$ref",
    "/sta/v1.1/Locations({entity_id})/HistoricalLocations/$ref",
    "/sta/v1.1/Locations({entity_id})/{property}",
    "/sta/v1.1/Locations({entity_id})/{property}/$value",
    "/sta/v1.1/HistoricalLocations",
    "/sta/v1.1/HistoricalLocations({entity_id})",
    "/sta/v1.1/HistoricalLocations({entity_id})/Thing",
    "/sta/v1.1/HistoricalLocations({entity_id})/Locations",
    "/sta/v1.1/HistoricalLocations/$ref",
    "/sta/v1.1/HistoricalLocations({entity_id})/$ref",
    "/sta/v1.1/HistoricalLocations({entity_id})/Thing/$ref",
    "/sta/v1.1/HistoricalLocations({entity_id})/Locations/$ref",
    "/sta/v1.1/HistoricalLocations({entity_id})/{property}",
    "/sta/v1.1/HistoricalLocations({entity_id})/{property}/$value",
    "/sta/v1.1/Sensors/$ref",
    "/sta/v1.1/Sensors({entity_id})/$ref",
    "/sta/v1.1/Sensors({entity_id})/Datastreams/$ref",
    "/sta/v1.1/Sensors({entity_id})/{property}",
    "/sta/v1.1/Sensors({entity_id})/{property}/$value",
    "/sta/v1.1/ObservedProperties/$ref",
    "/sta/v1.1/ObservedProperties({entity_id})/$ref",
    "/sta/v1.1/ObservedProperties({entity_id})/Datastreams/$ref",
    "/sta/v1.1/ObservedProperties({entity_id})/{property}",
    "/sta/v1.1/ObservedProperties({entity_id})/{property}/$value",
    "/sta/v1.1/Datastreams/$ref",
    "/sta/v1.1/Datastreams({entity_id})/$ref",
    "/sta/v1.1/Datastreams({entity_id})/Thing/$ref",
    "/sta/v1.1/Datastreams({entity_id})/Sensor/$ref",
    "/sta/v1.1/Datastreams({entity_id})/ObservedProperty/$ref",
    "/sta/v1.1/Datastreams({entity_id})/Observations/$ref",
    "/sta/v1.1/Datastreams({entity_id})/{property}",
    "/sta/v1.1/Datastreams({entity_id})/{property}/$value",
    "/sta/v1.1/Observations/$ref",
    "/sta/v1.1/Observations({entity_id})/$ref",
    "/sta/v1.1/Observations({entity_id})/Datastream/$ref",
    "/sta/v1.1/Observations({entity_id})/FeatureOfInterest/$ref",
    "/sta/v1.1/Observations({entity_id})/{property}",
    "/sta/v1.1/Observations({entity_id})/{property}/$value",
    "/sta/v1.1/FeaturesOfInterest/$ref",
    "/sta/v1.1/FeaturesOfInterest({entity_id})/$ref",
    "/sta/v1.1/FeaturesOfInterest({entity_id})/Observations/$ref",
    "/sta/v1.1/FeaturesOfInterest({entity_id})/{property}",
    "/sta/v1.1/FeaturesOfInterest({entity_id})/{property}/$value",
)
#: SensorThings sets whose ids are a device's, a Datastream's, an Observation's
_STA_KEY = {
    "Things": 1,
    "Sensors": 1,
    "Locations": 1,
    "HistoricalLocations": 1,
    "FeaturesOfInterest": 1,
    "Datastreams": 2,
    "Observations": 3,
}


_STA_PROPERTY = {"Observations": "result", "HistoricalLocations": "time"}


def _sta(path: str) -> Callable[[World], list[Target]]:
    """A SensorThings path for each device of the world (its observation of ``t``): the
    device's visibility hides it (404), a quarantined device is never there, nor is the
    location of a device that has none (the world's devices have no position)."""

    def targets(w: World) -> list[Target]:
        if "{entity_id}" not in path:
            return [Target(path)]
        entity = path.split("/")[3].split("(")[0]
        # a property path names a property the world's rows all have (never null: 204)
        url = path.replace("{property}", _STA_PROPERTY.get(entity, "name"))
        if entity == "ObservedProperties":  # 't': observed by the public device too
            with w.client.app.state.engine.connect() as conn:  # type: ignore[attr-defined]
                op = conn.execute(text("SELECT id FROM observed_properties WHERE name = 't'"))
                return [Target(url.replace("{entity_id}", str(op.scalar_one())))]
        with w.client.app.state.engine.connect() as conn:  # type: ignore[attr-defined]
            rows = conn.execute(
                text(
                    "SELECT d.id, d.sta_id, ls.sta_id, o.sta_id FROM devices d "
                    "JOIN latest_state ls ON ls.device_id = d.id AND ls.metric = 't' "
                    "JOIN observations o ON o.device_id = d.id AND o.metric = 't'"
                )
            ).all()
        unlocated = entity in ("Locations", "HistoricalLocations", "FeaturesOfInterest") or (
            path.removesuffix("/$ref").endswith("Interest")
        )
        return [
            Target(
                url.replace("{entity_id}", str(row[_STA_KEY[entity]])),
                row=w.devices[row[0]],
                gone=unlocated or row[0] == "dev-quarantined",
            )
            for row in rows
        ]

    return targets


def _sta_nested(w: World) -> list[Target]:
    """A nested SensorThings path for each device's observation of ``t``: hidden as the device
    is, wherever on the path it lies."""
    with w.client.app.state.engine.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(
            text(
                "SELECT d.id, d.sta_id, ls.sta_id, o.sta_id FROM devices d "
                "JOIN latest_state ls ON ls.device_id = d.id AND ls.metric = 't' "
                "JOIN observations o ON o.device_id = d.id AND o.metric = 't'"
            )
        ).all()
    return [
        Target(
            f"/sta/v1.1/Things({thing})/Datastreams({ds})/Observations({obs})/result/$value",
            row=w.devices[device],
            gone=device == "dev-quarantined",
        )
        for device, thing, ds, obs in rows
    ]


def _analysis_gate(name: str) -> str:
    return strictest(*(LAYERS[layer].visibility for layer in get_analysis(name).layers))


def _analysis_outputs(w: World, kind: str) -> list[Target]:
    """Each analysis' example asked by the admin: its job (for slow ones) and its files, each
    closed as the analysis is."""
    admin = w.headers["admin"]
    found: list[Target] = []
    for name in names():
        got = w.client.post(f"/api/analysis/{name}", json=get_analysis(name).example, headers=admin)
        doc = got.json()
        if got.status_code == 202:
            href = doc["href"]
            found += [Target(href, _analysis_gate(name))] if kind == "jobs" else []
            for _ in range(400):  # a job seldom ends by the first poll: keep its address
                doc = w.client.get(href, headers=admin).json()
                if doc["status"] in ("done", "failed"):
                    break
                time.sleep(0.05)
            doc = doc.get("result", {})
        if kind == "files" and got.status_code in (200, 202):
            found += [Target(url, _analysis_gate(name)) for url in doc.get("files", {}).values()]
    return found


#: every route of the API and the URLs that exercise it
ROUTES: dict[str, Callable[[World], list[Target]]] = {
    "/api/analysis": lambda w: [Target("/api/analysis")],
    "/api/analysis/jobs/{job_id}": partial(_analysis_outputs, kind="jobs"),
    "/api/analysis/results/{key}/{filename}": partial(_analysis_outputs, kind="files"),
    "/": lambda w: [Target("/")],
    "/conformance": lambda w: [Target("/conformance")],
    "/collections": lambda w: [Target("/collections")],
    "/collections/{collection_id}": _collections(""),
    "/collections/{collection_id}/items": _collections("/items"),
    "/collections/{collection_id}/queryables": _collections("/queryables"),
    "/collections/{collection_id}/items/{feature_id}": _features,
    "/api/health": lambda w: [Target("/api/health")],
    "/api/me": lambda w: [Target("/api/me")],
    # public: the viewer asks it before anyone has signed in (null here: OIDC is off)
    "/api/auth/config": lambda w: [Target("/api/auth/config")],
    "/api/datasets": lambda w: [Target("/api/datasets")],
    "/api/datasets/{dataset_id}": lambda w: [
        Target(f"/api/datasets/{i}", vis) for i, vis in w.datasets.items()
    ],
    "/api/datasets/{dataset_id}/download": _downloads,
    # admins only: the one role that sees confidential data
    "/api/audit": lambda w: [Target("/api/audit", "confidential")],
    # the world has no DEM: 404 for everyone (its answers are tests/test_terrain.py's)
    "/api/terrain": lambda w: [Target("/api/terrain", gone=True)],
    "/api/stops/{stop_id}/next": lambda w: [
        Target(f"/api/stops/S1/next?feed={feed}", vis) for feed, vis in w.feeds.items()
    ],
    "/api/ingest/stats": lambda w: [
        Target("/api/ingest/stats", roles=frozenset({"operator", "admin"}))
    ],
    "/api/devices": lambda w: [Target("/api/devices"), Target("/api/devices?status=active")],
    "/api/devices/{device_id}": _devices(""),
    "/api/devices/{device_id}/latest": _devices("/latest"),
    "/api/devices/{device_id}/history": _devices("/history?metric=t&bucket=1h"),
    "/api/alerts": lambda w: [Target("/api/alerts"), Target("/api/alerts?state=open")],
    "/api/alerts/{alert_id}": lambda w: [
        Target(f"/api/alerts/{i}", row=v) for i, v in w.alerts.items()
    ],
    "/api/rules": lambda w: [Target("/api/rules", roles=frozenset({"operator", "admin"}))],
    "/api/rules/{name}": lambda w: [
        Target("/api/rules/matrix-rule", roles=frozenset({"operator", "admin"}))
    ],
    "/api/scenarios": lambda w: [Target("/api/scenarios")],
    # a scenario of each project visibility: as closed as its project
    "/api/scenarios/{slug}": lambda w: [
        Target(f"/api/scenarios/{_walk_scenario(w, f'view-{vis}', f'p-{vis}')}", vis)
        for vis in ("public", "agent", "confidential")
    ],
    "/tiles": lambda w: [Target("/tiles")],
    "/tiles/{name}/{path}": _tile_files,
    "/sta/v1.1": lambda w: [Target("/sta/v1.1")],
    **{path: _sta(path) for path in STA_PATHS},
    "/sta/v1.1/{path}": _sta_nested,
}


#: routes that write, by hand: their method, and who may call them (the others: 401/403)
WRITES = {
    "/api/ingest": "post",
    "/api/ingest/tts": "post",
    "/api/ingest/chirpstack": "post",
    "/api/devices/{device_id}/adopt": "post",
    "/api/rules": "post",
    "/api/alerts/{alert_id}/ack": "post",
    "/api/alerts/{alert_id}/resolve": "post",
    "/api/scenarios": "post",
    "/api/scenarios/{slug}": "delete",
    "/api/scenarios/{slug}/buildings": "post",
    "/api/scenarios/{slug}/raise": "post",
    "/api/scenarios/{slug}/remove": "post",
}
#: and integration tokens, see test_live_ingest_http and test_lorawan_http
WRITERS = {p: {"admin"} for p in WRITES}
WRITERS["/api/alerts/{alert_id}/ack"] = WRITERS["/api/alerts/{alert_id}/resolve"] = {
    "agent",
    "operator",
    "admin",
}
for _path in [p for p in WRITES if p.startswith("/api/scenarios")]:
    WRITERS[_path] = {"planner", "admin"}
#: what each write route is asked with: a URL and a body it would accept
WRITE_BODIES = {
    "/api/ingest": ("/api/ingest", b'{"device": "walk-1", "metric": "temperature", "value": 1}'),
    "/api/ingest/tts": ("/api/ingest/tts", TTS_UPLINK),
    "/api/ingest/chirpstack": ("/api/ingest/chirpstack?event=up", CHIRPSTACK_UP),
    "/api/rules": ("/api/rules", b"- {name: walk, metric: t, raise: 1}"),
    # walk-1: quarantined by the admin's /api/ingest just before (an unknown id)
    "/api/devices/{device_id}/adopt": ("/api/devices/walk-1/adopt", b""),
}


def _fresh_alert(w: World, change: str) -> tuple[str, bytes]:
    """A new open alert on the public device for each call (an acknowledged one is not
    acknowledged again)."""
    with w.client.app.state.engine.begin() as conn:  # type: ignore[attr-defined]
        alert_id = conn.execute(
            text(
                "INSERT INTO alerts (rule, device_id, message) "
                "VALUES ('walk-' || gen_random_uuid(), 'dev-public', 'walk') RETURNING id"
            )
        ).scalar_one()
    return f"/api/alerts/{alert_id}/{change}", b""


def _walk_scenario(w: World, slug: str, project: str | None = None) -> str:
    """A scenario for the walk (of the project of that visibility's slug), made once."""
    with w.client.app.state.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(
            text(
                "INSERT INTO scenarios (slug, name, project_id) SELECT :s, :s, "
                "(SELECT id FROM projects WHERE slug = :p) ON CONFLICT (slug) DO NOTHING"
            ),
            {"s": slug, "p": project},
        )
    return slug


def _fresh_scenario(w: World) -> tuple[str, bytes]:
    return f"/api/scenarios/{_walk_scenario(w, 'walk-' + uuid.uuid4().hex[:8])}", b""


def _a_building(w: World, nth: int = 0) -> int:
    """A baseline building: the first is raised, the second removed (a removed one cannot be
    raised by the next principal)."""
    with w.client.app.state.engine.connect() as conn:  # type: ignore[attr-defined]
        return int(
            conn.execute(
                text(
                    "SELECT id FROM buildings WHERE scenario_id IS NULL ORDER BY id "
                    "LIMIT 1 OFFSET :n"
                ),
                {"n": nth},
            ).scalar_one()
        )


def _footprint(w: World) -> tuple[str, bytes]:
    ring = [[24.9, 60.2], [24.9002, 60.2], [24.9002, 60.2002], [24.9, 60.2002], [24.9, 60.2]]
    body = {"footprint": {"type": "Polygon", "coordinates": [ring]}, "height": 12}
    return f"/api/scenarios/{_walk_scenario(w, 'walk')}/buildings", orjson.dumps(body)


def _raise(w: World) -> tuple[str, bytes]:
    body = {"building_id": _a_building(w), "height": 20}
    return f"/api/scenarios/{_walk_scenario(w, 'walk')}/raise", orjson.dumps(body)


def _remove(w: World) -> tuple[str, bytes]:
    body = {"building_id": _a_building(w, 1)}
    return f"/api/scenarios/{_walk_scenario(w, 'walk')}/remove", orjson.dumps(body)


WRITE_MAKERS = {
    "/api/alerts/{alert_id}/ack": lambda w: _fresh_alert(w, "ack"),
    "/api/alerts/{alert_id}/resolve": lambda w: _fresh_alert(w, "resolve"),
    "/api/scenarios": lambda w: (
        "/api/scenarios",
        orjson.dumps({"slug": f"walk-{uuid.uuid4().hex[:8]}"}),
    ),
    "/api/scenarios/{slug}": _fresh_scenario,
    "/api/scenarios/{slug}/buildings": _footprint,
    "/api/scenarios/{slug}/raise": _raise,
    "/api/scenarios/{slug}/remove": _remove,
}


@pytest.fixture(scope="module")
def walk_world(module_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    settings = Settings(
        database_url=module_engine.url.render_as_string(hide_password=False),
        data_dir=tmp_path_factory.mktemp("walk") / "var",
        _env_file=None,
    )
    with registered(), TestClient(create_app(settings, engine=module_engine)) as client:
        yield seed_world(module_engine, settings, client)


def test_every_route_and_collection_and_tileset_has_a_row(walk_world: World) -> None:
    doc = walk_world.client.get("/openapi.json").json()
    methods = {path: set(ops) for path, ops in doc["paths"].items()}
    analyses = {f"/api/analysis/{name}": name for name in names()}
    missing = sorted(set(methods) - set(ROUTES) - set(WRITES) - set(analyses))
    assert not missing, f"routes without an expected row in ROUTES: {missing}"
    assert not (set(ROUTES) | set(WRITES)) - set(methods), "rows for routes the API lacks"
    beyond_get = {p: m for p, m in methods.items() if m != {"get"}}
    want = {p: {m} | ({"get"} if p in ROUTES else set()) for p, m in WRITES.items()}
    for path, name in analyses.items():  # analyses read: POST carries their parameters
        want[path] = {"post", "get"} if get_analysis(name).get else {"post"}
    assert beyond_get == want, f"a method beyond GET: {methods}"
    assert {lid: layer.visibility for lid, layer in LAYERS.items()} == COLLECTIONS
    assert walk_world.tilesets == TILESETS


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_the_whole_route_matrix(walk_world: World, principal: str) -> None:
    client, headers = walk_world.client, walk_world.headers[principal]
    wrong: list[str] = []
    targets = [t for make in ROUTES.values() for t in make(walk_world)]
    assert sum("/content/" in t.url for t in targets) >= len(TILESETS)
    for target in targets:
        want = target.expected(principal)
        got = client.get(target.url, headers=headers)
        head = client.head(target.url, headers=headers)
        if got.status_code != want or head.status_code != want:
            answers = f"GET {got.status_code}, HEAD {head.status_code}"
            wrong.append(f"{target.url}: {answers}, want {want}")
        elif want != 200:
            body = got.json()
            assert set(body) == {"code", "status", "description"}, target.url
        if head.content:
            wrong.append(f"{target.url}: HEAD sent a body")
    assert not wrong, f"{principal}: {len(wrong)} of {len(targets)} answers wrong:\n" + "\n".join(
        wrong[:20]
    )


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_the_write_routes(walk_world: World, principal: str) -> None:
    """Every write route, asked by every principal with a body it would accept."""
    for path, method in WRITES.items():
        url, body = WRITE_MAKERS[path](walk_world) if path in WRITE_MAKERS else WRITE_BODIES[path]
        headers = dict(walk_world.headers[principal])
        if body.startswith(b"{"):  # a JSON document, said so (FastAPI reads models from JSON)
            headers["Content-Type"] = "application/json"
        got = walk_world.client.request(method, url, content=body, headers=headers)
        want = 200 if principal in WRITERS[path] else refused(principal)
        assert got.status_code == want, (path, got.text)


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_every_analysis(walk_world: World, principal: str) -> None:
    """Every analysis of the registry, asked its example by every principal: refused exactly
    when the principal may not see what it reads; otherwise answered (a result, a job, or a
    problem naming bad input on this small world: never a 401/403, never a 500)."""
    headers = walk_world.headers[principal]
    wrong = []
    for name in names():
        analysis = get_analysis(name)
        gate = _analysis_gate(name)
        asks = [
            walk_world.client.post(f"/api/analysis/{name}", json=analysis.example, headers=headers)
        ]
        if analysis.get:
            asks.append(
                walk_world.client.get(
                    f"/api/analysis/{name}", params=analysis.example, headers=headers
                )
            )
        for got in asks:
            if gate not in SEES[principal]:
                ok = got.status_code == refused(principal)
            else:
                ok = got.status_code in (200, 202, 400, 404, 409)
            if not ok:
                wrong.append(f"{got.request.method} {name}: {got.status_code} {got.text[:200]}")
    assert not wrong, "\n".join(wrong)


#: every WebSocket route, by hand: they are not in the OpenAPI document, so walked here
WEBSOCKETS = {"/ws/live"}


def _ws_paths(routes: list[Any], prefix: str = "") -> set[str]:
    """The WebSocket routes of an app, through included routers (FastAPI nests them)."""
    found: set[str] = set()
    for r in routes:
        if isinstance(r, APIWebSocketRoute | WebSocketRoute):
            found.add(prefix + r.path)
        elif hasattr(r, "original_router"):  # an included router
            found |= _ws_paths(r.original_router.routes, prefix + r.include_context.prefix)
    return found


def test_every_websocket_route_has_a_row(walk_world: World) -> None:
    assert _ws_paths(walk_world.client.app.routes) == WEBSOCKETS  # type: ignore[attr-defined]


def _live(w: World, principal: str, message: dict[str, Any]) -> dict[str, Any]:
    token = w.headers[principal].get("Authorization", "").removeprefix("Bearer ")
    with w.client.websocket_connect("/ws/live" + (f"?token={token}" if token else "")) as ws:
        ws.send_text(orjson.dumps(message).decode())
        doc: dict[str, Any] = ws.receive_json()
        return doc


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_the_live_hub_matrix(walk_world: World, principal: str) -> None:
    """/ws/live by the same rule: every device and every layer, subscribed by name."""
    hub = walk_world.client.app.state.hub  # type: ignore[attr-defined]
    walk_world.client.portal.call(partial(hub.reload, everything=True))  # the world is new
    listed = walk_world.client.get(
        "/api/devices?status=quarantined", headers=walk_world.headers["admin"]
    ).json()["devices"]
    quarantined = {d["id"] for d in listed}
    assert "dev-quarantined" in quarantined
    wrong: list[str] = []
    for device, visibility in walk_world.devices.items():
        doc = _live(walk_world, principal, {"subscribe": {"devices": [device]}})
        ok = visibility in SEES[principal] and device not in quarantined
        if doc["type"] != ("snapshot" if ok else "error"):
            wrong.append(f"device {device}: {doc}")
        elif not ok and f"no device {device!r}" not in doc["reason"]:
            wrong.append(f"device {device}: reason {doc['reason']}")
    for layer, visibility in COLLECTIONS.items():
        doc = _live(walk_world, principal, {"subscribe": {"layers": [layer]}})
        ok = visibility in SEES[principal]
        if doc["type"] != ("snapshot" if ok else "error"):
            wrong.append(f"layer {layer}: {doc}")
    doc = _live(walk_world, principal, {"subscribe": {}})  # everything: what the rule lets see
    seen = {i["device_id"] for i in doc["items"] if i["device_id"].startswith("dev-")}
    want = {
        d for d, v in walk_world.devices.items() if d.startswith("dev-") and v in SEES[principal]
    }
    if seen != want - quarantined:
        wrong.append(f"everything: {sorted(seen)}, want {sorted(want - quarantined)}")
    assert not wrong, f"{principal}: " + "\n".join(wrong[:20])
