"""Walks through the twin: ``twin analyse route|circuit`` and ``/api/analysis/route|circuit``
on a hand-built ground (a staircase on the shortest way, a 3 cm kerb, an island), points of
interest and a bus stop; the ground migration down and up."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from lxml import etree
from sqlalchemy import Connection, Engine, text
from typer.testing import CliRunner

from geodata.crs import transformer
from geodata.working_crs import set_working_crs
from twin.app import create_app
from twin.cli import app as cli_app
from twin.settings import Settings

X0, Y0 = 385000.0, 6672000.0
GOOD = {"highway": "footway", "width": "2", "surface": "asphalt", "incline": "0%"}


def at(x: float, y: float) -> str:
    return f"{X0 + x},{Y0 + y}"


def _ground(conn: Connection, sid: str, wkt: str, kind: str, attrs: dict[str, Any]) -> None:
    conn.execute(
        text(
            "INSERT INTO ground (source, source_id, kind, geom, attrs) VALUES ('t', :sid, :kind, "
            "ST_Translate(ST_SetSRID(ST_GeomFromText(:wkt), 3067), :x0, :y0), "
            "CAST(:attrs AS jsonb))"
        ),
        {"sid": sid, "kind": kind, "wkt": wkt, "x0": X0, "y0": Y0, "attrs": json.dumps(attrs)},
    )


def _point(conn: Connection, table: str, name: str, kind: str, x: float, y: float) -> int:
    return int(
        conn.execute(
            text(
                f"INSERT INTO {table} (source, source_id, name, kind, geom) VALUES ('t', :n, :n, "
                ":kind, ST_SetSRID(ST_MakePoint(:x, :y, 0), 3067)) RETURNING id"
            ),
            {"n": name, "kind": kind, "x": X0 + x, "y": Y0 + y},
        ).scalar_one()
    )


@pytest.fixture
def world(engine: Engine) -> dict[str, int]:
    """(0,0)-(100,0) with steps from 40 to 60 and a footway around them (80 m); past (100,0)
    a way to (200,0) through a crossing with a 3 cm kerb at (150,0); an island far east."""
    with engine.begin() as conn:
        set_working_crs(conn, 3067)
        _ground(conn, "a", "LINESTRING(0 0, 40 0)", "footway", GOOD)
        _ground(conn, "steps", "LINESTRING(40 0, 60 0)", "footway", {**GOOD, "highway": "steps"})
        _ground(conn, "b", "LINESTRING(60 0, 100 0)", "footway", GOOD)
        _ground(conn, "around", "LINESTRING(40 0, 40 30, 60 30, 60 0)", "footway", GOOD)
        _ground(conn, "c", "LINESTRING(100 0, 200 0)", "footway", GOOD)
        _ground(conn, "kerb", "POINT(150 0)", "crossing", {"highway": "crossing",
                                                           "kerb:height": "0.03"})  # fmt: skip
        _ground(conn, "island", "LINESTRING(1000 0, 1100 0)", "footway", GOOD)
        pois = {
            "start": _point(conn, "pois", "Start", "museum", 0, 0),
            "middle": _point(conn, "pois", "Middle", "gallery", 100, 0),
            "end": _point(conn, "pois", "End", "memorial", 200, 0),
            "quarter": _point(conn, "pois", "Quarter", "artwork", 20, 0),
        }
        _point(conn, "furniture", "Bus 1", "bus_stop", 90, 10)
        _point(conn, "furniture", "Bus far", "bus_stop", 500, 500)
    return pois


def _json(runner: CliRunner, *args: str) -> dict[str, Any]:
    got = runner.invoke(cli_app, ["analyse", *args, "--json"])
    assert got.exit_code == 0, got.output
    doc: dict[str, Any] = json.loads(got.stdout)
    return doc


def test_cli_route_foot_and_wheelchair(
    runner: CliRunner, world: dict[str, int], tmp_path: Path
) -> None:
    foot = _json(runner, "route", "--from", at(0, 0), "--to", at(100, 0))
    assert foot["length_m"] == pytest.approx(100.0) and foot["steps"] == 1
    assert foot["duration_s"] == pytest.approx(72.0)
    assert foot["geometry"]["type"] == "LineString" and foot["crs"] == "EPSG:3067"
    gpx = tmp_path / "out" / "route.gpx"
    wheel = _json(
        runner, "route", "--from", at(0, 0), "--to", at(100, 0), "--profile", "wheelchair",
        "--gpx", str(gpx),
    )  # fmt: skip
    assert wheel["length_m"] == pytest.approx(160.0) and wheel["step_free"]
    assert wheel["limits"]["max_incline_percent"] == 5.0 and wheel["min_width_m"] == 2.0
    assert wheel["max_incline_percent"] == 0.0 and wheel["profile"] == "wheelchair"
    assert wheel["files"]["route.gpx"] == str(gpx)
    doc = etree.parse(str(gpx))
    pts = doc.findall(".//{http://www.topografix.com/GPX/1/1}trkpt")
    lon = np.array([float(p.get("lon")) for p in pts])
    lat = np.array([float(p.get("lat")) for p in pts])
    x, y = transformer(4326, 3067).transform(lon, lat)
    assert float(np.hypot(np.diff(x), np.diff(y)).sum()) == pytest.approx(160.0, abs=0.05)


def test_cli_route_names_what_blocks_it(runner: CliRunner, world: dict[str, int]) -> None:
    got = runner.invoke(
        cli_app,
        ["analyse", "route", "--from", at(0, 0), "--to", at(200, 0), "--profile", "wheelchair"],
    )
    assert got.exit_code == 1
    out = " ".join(got.output.split())
    assert "no wheelchair route" in out and "kerb 3 cm > 2 cm at 385150.0,6672000.0" in out
    assert "steps at" in out and "(kerb" not in out  # named by the way it is on
    looser = _json(runner, "route", "--from", at(0, 0), "--to", at(200, 0), "--profile",
                   "wheelchair", "--max-kerb", "0.03")  # fmt: skip
    assert looser["length_m"] == pytest.approx(260.0) and looser["limits"]["max_kerb_m"] == 0.03
    island = runner.invoke(cli_app, ["analyse", "route", "--from", at(0, 0), "--to", at(1050, 0)])
    assert island.exit_code == 1 and "not joined by any footway" in island.output
    far = runner.invoke(cli_app, ["analyse", "route", "--from", at(0, 0), "--to", at(0, 5000)])
    assert far.exit_code == 1 and "from the nearest footway" in far.output
    bad = runner.invoke(cli_app, ["analyse", "route", "--from", "here", "--to", at(0, 0)])
    assert bad.exit_code == 1 and "X,Y" in bad.output


def test_cli_circuit_ordered_optimised_and_looped(
    runner: CliRunner, world: dict[str, int], tmp_path: Path
) -> None:
    p = world
    ids = f"{p['middle']},{p['start']},{p['quarter']}"
    given = _json(runner, "circuit", "--pois", ids)
    # middle -> start (100) -> quarter (20)
    assert given["length_m"] == pytest.approx(120.0) and given["order"] == "as given"
    assert [s["id"] for s in given["stops"]] == [p["middle"], p["start"], p["quarter"]]
    assert [s["leg_m"] for s in given["stops"]] == [0.0, 100.0, 20.0]
    best = _json(runner, "circuit", "--pois", ids, "--optimise")
    assert best["length_m"] == pytest.approx(100.0) and best["order"] == "exact"
    gpx = tmp_path / "c.gpx"
    loop = _json(runner, "circuit", "--pois", ids, "--optimise", "--loop", "--profile",
                 "wheelchair", "--gpx", str(gpx))  # fmt: skip
    line = loop["geometry"]["coordinates"]
    assert line[0] == line[-1] and loop["loop"] is True
    assert loop["length_m"] == pytest.approx(320.0)  # 160 each way, step-free
    assert loop["duration_s"] == pytest.approx(320.0)
    assert [b["name"] for b in loop["bus_stops"]] == ["Bus 1"]
    assert loop["bus_stops"][0]["distance_m"] == pytest.approx(10.0)
    waypoints = etree.parse(str(gpx)).findall(".//{http://www.topografix.com/GPX/1/1}wpt")
    assert len(waypoints) == 3


def test_cli_circuit_unknown_pois_list_the_known_ones(
    runner: CliRunner, world: dict[str, int]
) -> None:
    got = runner.invoke(cli_app, ["analyse", "circuit", "--pois", f"{world['start']},999999"])
    assert got.exit_code == 1
    out = " ".join(got.output.split())
    assert "no point of interest 999999" in out and f"{world['end']} (End)" in out
    one = runner.invoke(cli_app, ["analyse", "circuit", "--pois", str(world["start"])])
    assert one.exit_code == 1 and "at least 2" in one.output and "pois" in one.output
    blocked = runner.invoke(
        cli_app,
        ["analyse", "circuit", "--pois", f"{world['start']},{world['end']}", "--profile",
         "wheelchair"],
    )  # fmt: skip
    assert blocked.exit_code == 1 and "kerb 3 cm > 2 cm" in " ".join(blocked.output.split())


@pytest.fixture
def client(settings: Settings, engine: Engine, world: dict[str, int]) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


def test_api_route_and_circuit_are_public(client: TestClient, world: dict[str, int]) -> None:
    body = {"from": [X0, Y0], "to": [X0 + 100, Y0], "profile": "wheelchair"}
    got = client.post("/api/analysis/route", json=body)
    assert got.status_code == 200, got.text
    doc = got.json()
    assert doc["length_m"] == pytest.approx(160.0)
    gpx = client.get(doc["files"]["route.gpx"])
    assert gpx.status_code == 200 and b"<trkpt" in gpx.content
    q = client.get("/api/analysis/route", params={"from": at(0, 0), "to": at(100, 0)})
    assert q.status_code == 200 and q.json()["length_m"] == pytest.approx(100.0)
    blocked = client.post("/api/analysis/route", json={**body, "to": [X0 + 200, Y0]})
    assert blocked.status_code == 404 and "kerb 3 cm" in blocked.text
    c = client.post("/api/analysis/circuit", json={"pois": [world["start"], world["end"]]})
    assert c.status_code == 200 and c.json()["length_m"] == pytest.approx(200.0)
    assert c.json()["files"]["circuit.gpx"].endswith("/circuit.gpx")
    bad = client.post("/api/analysis/circuit", json={"pois": [world["start"], 424242]})
    assert bad.status_code == 404 and "Start" in bad.text


def test_migration_0013_down_and_up(engine: Engine, db_url: str) -> None:
    from alembic import command

    from geodata.db import alembic_config

    with engine.begin() as conn:
        set_working_crs(conn, 3067)
        _ground(conn, "w", "LINESTRING(0 0, 1 0)", "footway", {})
        _ground(conn, "k", "POINT(1 0)", "kerb", {"kerb": "raised"})
    engine.dispose()
    command.downgrade(alembic_config(db_url), "0014")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT source_id FROM ground")).scalars().all() == ["w"]
    command.upgrade(alembic_config(db_url), "head")
    with engine.begin() as conn:
        _ground(conn, "k", "POINT(1 0)", "kerb", {"kerb": "raised"})
        assert conn.execute(text("SELECT count(*) FROM ground")).scalar_one() == 2


def test_ways_of_restricted_datasets_are_walked_only_by_who_may_see_them(
    settings: Settings, engine: Engine, world: dict[str, int]
) -> None:
    from twin.accounts import create_user

    # an agent-only dataset adds a shortcut over the steps: (40,0)-(60,0) on a ramp
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO ground (source, source_id, kind, geom, attrs) VALUES ('works', 'r', "
                "'footway', ST_SetSRID(ST_GeomFromText(:wkt), 3067), CAST(:a AS jsonb))"
            ),
            {"wkt": f"LINESTRING({X0 + 40} {Y0}, {X0 + 50} {Y0 - 5}, {X0 + 60} {Y0})",
             "a": json.dumps(GOOD)},
        )  # fmt: skip
        conn.execute(
            text(
                "INSERT INTO datasets (source, layer, title, licence, visibility) VALUES "
                "('works', 'ground', 'site works', 'internal', 'agent')"
            )
        )
    agent = create_user(engine, "walk-agent", "agent")
    body = {"from": [X0, Y0], "to": [X0 + 100, Y0], "profile": "wheelchair"}
    with TestClient(create_app(settings, engine=engine)) as c:
        citizen = c.post("/api/analysis/route", json=body)
        seen = c.post(
            "/api/analysis/route", json=body, headers={"Authorization": f"Bearer {agent}"}
        )
        # the agent's walk used an agent-only way: its track is not public
        assert c.get(seen.json()["files"]["route.gpx"]).status_code == 401
        assert c.get(citizen.json()["files"]["route.gpx"]).status_code == 200
    assert citizen.status_code == 200 and citizen.json()["length_m"] == pytest.approx(160.0)
    assert seen.status_code == 200
    assert seen.json()["length_m"] == pytest.approx(80 + 2 * (10**2 + 5**2) ** 0.5, abs=0.01)
