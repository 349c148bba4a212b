"""Scenarios end to end on a real database: create, add (footprint, GeoJSON, CityJSON), raise,
remove, delete through the API and the CLI; bad edits write nothing; every edit is audited and
shows in the scenario's tileset; `twin analyse scenario` counts floor area (known answers)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pyproj import Transformer
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from tests.scene_support import X0, Y0, add_box, working_crs
from twin.accounts import create_user
from twin.app import create_app
from twin.cli import app as cli
from twin.settings import Settings

TO_LONLAT = Transformer.from_crs(3067, 4326, always_xy=True)


def lonlat_ring(x: float, y: float, w: float, d: float) -> list[list[float]]:
    pts = [(x, y), (x + w, y), (x + w, y + d), (x, y + d), (x, y)]
    return [list(TO_LONLAT.transform(px, py)) for px, py in pts]


@pytest.fixture
def world(engine: Engine, settings: Settings) -> Iterator[dict[str, Any]]:
    working_crs(engine)
    with engine.begin() as conn:
        ids = {
            "small": add_box(conn, X0, Y0, 10, 10, 6, name="small", levels=2),
            "tall": add_box(conn, X0 + 50, Y0, 20, 10, 12, name="tall"),
        }
    headers = {
        role: {"Authorization": f"Bearer {create_user(engine, f'u-{role}', role)}"}
        for role in ("citizen", "planner", "admin")
    }
    with TestClient(create_app(settings, engine=engine)) as client:
        yield {"client": client, "ids": ids, "h": headers, "settings": settings}


def counts(engine: Engine) -> tuple[int, int, int, int]:
    with engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
            # the edits' audit rows (sign-ins are logged by the request path, batched)
            for t in (
                "scenarios",
                "buildings",
                "scenario_removals",
                "audit_log WHERE kind = 'scenario'",
            )
        )


def tileset(settings: Settings, slug: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(
        (settings.tiles_dir / f"scenario-{slug}" / "tileset.json").read_text()
    )
    return doc


def test_planner_edits_show_in_the_tileset_and_the_audit(
    world: dict[str, Any], engine: Engine
) -> None:
    c, h, ids = world["client"], world["h"], world["ids"]
    made = c.post("/api/scenarios", json={"slug": "tower", "name": "A tower"}, headers=h["planner"])
    assert made.status_code == 200, made.text
    fp = {"type": "Polygon", "coordinates": [lonlat_ring(X0 + 100, Y0, 20, 30)]}
    added = c.post(
        "/api/scenarios/tower/buildings",
        json={"footprint": fp, "levels": 5, "name": "Block"},
        headers=h["planner"],
    )
    assert added.status_code == 200, added.text
    doc = added.json()
    assert doc["inserted"] == 1 and doc["tileset"]["features"] == 1, doc
    assert doc["added"][0]["footprint_area"] == pytest.approx(600, abs=0.5)
    assert doc["added"][0]["height"] == pytest.approx(15.0)  # 5 levels x 3 m
    assert tileset(world["settings"], "tower")["extras"].get("hides", {}).get("ids", []) == []

    # nine more (an upload), so that one edit is a small share: the build is incremental
    row = [
        {
            "type": "Feature",
            "properties": {"id": f"r{i}", "height": 9},
            "geometry": {
                "type": "Polygon",
                "coordinates": [lonlat_ring(X0 + 30 * i, Y0 + 200, 12, 12)],
            },
        }
        for i in range(9)
    ]
    up = c.post(
        "/api/scenarios/tower/buildings",
        json={"type": "FeatureCollection", "features": row},
        headers=h["planner"],
    )
    assert up.status_code == 200 and up.json()["tileset"]["features"] == 10, up.text
    raised = c.post(
        "/api/scenarios/tower/raise",
        json={"building_id": ids["tall"], "height": 30},
        headers=h["planner"],
    )
    assert raised.status_code == 200, raised.text
    assert raised.json()["tileset"]["mode"] == "incremental"
    assert raised.json()["tileset"]["changed"] == 1
    removed = c.post(
        "/api/scenarios/tower/remove", json={"building_id": ids["small"]}, headers=h["planner"]
    )
    assert removed.status_code == 200, removed.text
    ts = tileset(world["settings"], "tower")
    assert sorted(ts["extras"]["hides"]["ids"]) == sorted([ids["small"], ids["tall"]])
    assert removed.json()["tileset"]["features"] == 11  # the block, the row, the raised tower

    shown = c.get("/api/scenarios/tower", headers=h["citizen"]).json()
    assert shown["added"][0]["name"] == "Block" and len(shown["added"]) == 10
    assert [r["replaces"] for r in shown["raised"]] == [ids["tall"]]
    assert shown["raised"][0]["height"] == 30 and shown["removed"] == [ids["small"]]
    listed = c.get("/api/scenarios").json()
    assert [(s["slug"], s["added"], s["raised"], s["removed"]) for s in listed] == [
        ("tower", 10, 1, 1)
    ]
    with engine.connect() as conn:
        edits = conn.execute(
            text("SELECT actor, detail->>'edit' FROM audit_log WHERE kind = 'scenario' ORDER BY id")
        ).all()
    assert [tuple(e) for e in edits] == [
        ("u-planner", "create"),
        ("u-planner", "add"),
        ("u-planner", "add"),
        ("u-planner", "raise"),
        ("u-planner", "remove"),
    ]
    # removing the added block deletes it; the tileset follows
    block = shown["added"][0]["id"]
    c.post("/api/scenarios/tower/remove", json={"building_id": block}, headers=h["admin"])
    assert len(c.get("/api/scenarios/tower").json()["added"]) == 9
    gone = c.delete("/api/scenarios/tower", headers=h["admin"])
    assert gone.status_code == 200 and c.get("/api/scenarios").json() == []
    assert not (world["settings"].tiles_dir / "scenario-tower").exists()


def test_citizens_may_not_edit(world: dict[str, Any], engine: Engine) -> None:
    c, h = world["client"], world["h"]
    assert c.post("/api/scenarios", json={"slug": "x"}).status_code == 401
    assert c.post("/api/scenarios", json={"slug": "x"}, headers=h["citizen"]).status_code == 403
    assert counts(engine)[0] == 0


BAD_EDITS = [
    # a bow tie: edges cross
    (
        "buildings",
        {
            "footprint": {
                "type": "Polygon",
                "coordinates": [
                    [[24.9, 60.1], [24.901, 60.101], [24.901, 60.1], [24.9, 60.101], [24.9, 60.1]]
                ],
            },
            "height": 10,
        },
        400,
        "not a valid polygon",
    ),
    (
        "buildings",
        {"footprint": {"type": "Point", "coordinates": [24.9, 60.1]}, "height": 10},
        400,
        "Polygon",
    ),
    (
        "buildings",
        {"footprint": {"type": "Polygon", "coordinates": [lonlat_ring(X0, Y0 + 50, 10, 10)]}},
        400,
        "height",
    ),
    (
        "buildings",
        {
            "footprint": {"type": "Polygon", "coordinates": [lonlat_ring(X0, Y0 + 50, 10, 10)]},
            "height": 5000,
        },
        400,
        "out of range",
    ),
    ("raise", {"building_id": 999999, "height": 20}, 404, "no building 999999"),
    ("raise", {"building_id": "SMALL", "height": -3}, 400, "out of range"),
    ("remove", {"building_id": 999999}, 404, "no building 999999"),
]


@pytest.mark.parametrize(("route", "body", "status", "says"), BAD_EDITS)
def test_a_bad_edit_writes_nothing(
    world: dict[str, Any], engine: Engine, route: str, body: dict[str, Any], status: int, says: str
) -> None:
    c, h = world["client"], world["h"]
    c.post("/api/scenarios", json={"slug": "s1"}, headers=h["planner"])
    if body.get("building_id") == "SMALL":
        body = {**body, "building_id": world["ids"]["small"]}
    before = counts(engine)
    got = c.post(f"/api/scenarios/s1/{route}", json=body, headers=h["planner"])
    assert got.status_code == status, got.text
    assert says in got.json()["description"]
    assert counts(engine) == before


def test_an_unknown_slug_lists_the_known_ones(world: dict[str, Any], engine: Engine) -> None:
    c, h = world["client"], world["h"]
    c.post("/api/scenarios", json={"slug": "alpha"}, headers=h["planner"])
    before = counts(engine)
    got = c.post("/api/scenarios/beta/remove", json={"building_id": 1}, headers=h["planner"])
    assert got.status_code == 404 and "known scenarios: alpha" in got.json()["description"]
    assert c.get("/api/scenarios/beta").status_code == 404
    bad = c.post("/api/scenarios", json={"slug": "Not A Slug"}, headers=h["planner"])
    assert bad.status_code == 400 and "lower-case" in bad.json()["description"]
    dup = c.post("/api/scenarios", json={"slug": "alpha"}, headers=h["planner"])
    assert dup.status_code == 409
    assert counts(engine) == before


def test_an_upload_with_one_bad_feature_adds_nothing(world: dict[str, Any], engine: Engine) -> None:
    c, h = world["client"], world["h"]
    c.post("/api/scenarios", json={"slug": "up"}, headers=h["planner"])
    good = {
        "type": "Feature",
        "properties": {"id": "a", "height": 9},
        "geometry": {"type": "Polygon", "coordinates": [lonlat_ring(X0, Y0 + 60, 10, 10)]},
    }
    point = {
        "type": "Feature",
        "properties": {"id": "b", "height": 9},
        "geometry": {"type": "Point", "coordinates": [24.9, 60.1]},
    }
    bow_tie = [[24.9, 60.1], [24.901, 60.101], [24.901, 60.1], [24.9, 60.101], [24.9, 60.1]]
    crossed = {
        "type": "Feature",
        "properties": {"id": "c", "height": 9},
        "geometry": {"type": "Polygon", "coordinates": [bow_tie]},
    }
    before = counts(engine)
    for bad, says in (
        (point, "a Point cannot go into layer buildings"),
        (crossed, "nothing was added"),
    ):
        got = c.post(
            "/api/scenarios/up/buildings",
            json={"type": "FeatureCollection", "features": [good, bad]},
            headers=h["planner"],
        )
        assert got.status_code == 400, got.text
        assert says in got.json()["description"] and "the request body" in got.text, got.text
        assert "/tmp" not in got.text
        assert counts(engine) == before
    ok = c.post(
        "/api/scenarios/up/buildings",
        json={"type": "FeatureCollection", "features": [good]},
        headers=h["planner"],
    )
    assert ok.status_code == 200 and ok.json()["inserted"] == 1, ok.text


def cityjson_box(x: float, y: float, w: float, d: float, hgt: float) -> dict[str, Any]:
    """A CityJSON 2.0 building: one LoD1 solid, integer vertices at 1 mm in EPSG:3067."""
    corners = [(x, y), (x + w, y), (x + w, y + d), (x, y + d)]
    verts = [
        [round(cx * 1000), round(cy * 1000), round(z * 1000)]
        for z in (0.0, hgt)
        for cx, cy in corners
    ]
    shell = [
        [[0, 3, 2, 1]],
        [[4, 5, 6, 7]],
        [[0, 1, 5, 4]],
        [[1, 2, 6, 5]],
        [[2, 3, 7, 6]],
        [[3, 0, 4, 7]],
    ]
    return {
        "type": "CityJSON",
        "version": "2.0",
        "transform": {"scale": [0.001, 0.001, 0.001], "translate": [0, 0, 0]},
        "metadata": {"referenceSystem": "https://www.opengis.net/def/crs/EPSG/0/3067"},
        "CityObjects": {
            "cj-1": {
                "type": "Building",
                "attributes": {"measuredHeight": hgt, "storeysAboveGround": 4},
                "geometry": [{"type": "Solid", "lod": "1", "boundaries": [shell]}],
            }
        },
        "vertices": verts,
    }


def test_cityjson_upload_and_the_cli(
    world: dict[str, Any], engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c, h = world["client"], world["h"]
    c.post("/api/scenarios", json={"slug": "cj"}, headers=h["planner"])
    got = c.post(
        "/api/scenarios/cj/buildings",
        json=cityjson_box(X0, Y0 + 80, 20, 30, 12),
        headers=h["planner"],
    )
    assert got.status_code == 200, got.text
    assert got.json()["added"][0]["footprint_area"] == pytest.approx(600, abs=0.5)

    settings = world["settings"]
    monkeypatch.setenv("TWIN_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TWIN_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("COLUMNS", "500")
    run = CliRunner()
    x1, x2, y2 = X0 + 200, X0 + 220, Y0 + 30
    wkt = f"POLYGON(({x1} {Y0}, {x2} {Y0}, {x2} {y2}, {x1} {y2}, {x1} {Y0}))"
    assert run.invoke(cli, ["scenarios", "create", "cli-one"]).exit_code == 0
    added = run.invoke(
        cli, ["scenarios", "add", "cli-one", "--wkt", wkt, "--levels", "5", "--json"]
    )
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["tileset"]["features"] == 1
    raised = run.invoke(
        cli,
        [
            "scenarios",
            "raise",
            "cli-one",
            "--building",
            str(world["ids"]["small"]),
            "--height",
            "9",
        ],
    )
    assert raised.exit_code == 0, raised.output
    listed = run.invoke(cli, ["scenarios", "list", "--json"])
    assert {s["slug"] for s in json.loads(listed.stdout)} == {"cj", "cli-one"}
    compared = run.invoke(cli, ["analyse", "scenario", "cli-one", "--json"])
    assert compared.exit_code == 0, compared.output
    doc = json.loads(compared.stdout)
    # the 20 x 30 m block of 5 levels adds 3,000 m²; 'small' (10 x 10 m, 2 levels stored)
    # raised to 9 m keeps its stored 2 levels (a raise without --levels: 9 / 3 = 3 levels)
    assert doc["floor_area_baseline"] == pytest.approx(200, abs=0.1)
    assert doc["floor_area_scenario"] == pytest.approx(3000 + 300, abs=0.5)
    assert doc["floor_area_delta"] == pytest.approx(3100, abs=0.5)
    missing = run.invoke(cli, ["scenarios", "remove", "nope", "--building", "1"])
    assert missing.exit_code == 1 and "known scenarios: cj, cli-one" in missing.output
    bad = run.invoke(cli, ["analyse", "scenario", "cli-one", "--balcony", "1,2,3"])
    assert bad.exit_code == 1 and "X,Y,Z,HEADING" in bad.output
