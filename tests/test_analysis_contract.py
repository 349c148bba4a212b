"""What every analysis gets from twin/analysis/: the sun (the first analysis) against NREL's
published example, then the contract through a test analysis over an agent-only layer: the
one access rule before the cache, cached results keyed by the data's version, slow runs as
jobs with progress, files behind the same access rule, the CLI's one JSON document."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from geodata.access import Principal
from geodata.working_crs import set_working_crs
from tests.analysis_support import CountSegments, registered
from twin.accounts import create_user
from twin.analysis.base import AnalysisContext
from twin.analysis.cache import data_version
from twin.analysis.place import resolve_place
from twin.analysis.registry import get_analysis
from twin.analysis.runner import parse_params, run_analysis
from twin.analysis.sun import sun_angles
from twin.app import create_app
from twin.cli import app as cli_app
from twin.settings import Settings

#: NREL's SPA report example (Reda & Andreas 2003, table A4.1)
NREL_AT = datetime(2003, 10, 17, 12, 30, 30, tzinfo=timezone(timedelta(hours=-7)))
NREL = {"lat": 39.742476, "lon": -105.1786, "altitude": 1830.14, "pressure": 82000.0,
        "temperature": 11.0, "delta_t": 67.0}  # fmt: skip


def test_sun_matches_nrels_example() -> None:
    got = sun_angles(
        [NREL_AT],
        NREL["lat"],
        NREL["lon"],
        altitude=NREL["altitude"],
        pressure=NREL["pressure"],
        temperature=NREL["temperature"],
        delta_t=NREL["delta_t"],
    )
    assert got["apparent_zenith"][0] == pytest.approx(50.11162, abs=1e-4)
    assert got["azimuth"][0] == pytest.approx(194.34024, abs=1e-4)
    assert got["elevation"][0] < got["apparent_elevation"][0]  # refraction lifts the sun


def test_meridian_convergence_turns_azimuths() -> None:
    helsinki = resolve_place(3067, lon=24.94, lat=60.17)
    antibes = resolve_place(2154, lon=7.12, lat=43.58)
    assert helsinki.convergence == pytest.approx(-1.79, abs=0.02)
    assert antibes.convergence == pytest.approx(2.99, abs=0.02)
    assert antibes.grid_azimuth(180.0) == pytest.approx(177.01, abs=0.02)
    assert antibes.true_azimuth(antibes.grid_azimuth(33.0)) == pytest.approx(33.0)


def test_cli_sun_prints_one_json_document(
    runner: CliRunner, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["analyse", "sun", "--lat", str(NREL["lat"]), "--lon", str(NREL["lon"])]
    args += ["--altitude", "1830.14", "--pressure", "82000", "--temperature", "11"]
    got = runner.invoke(cli_app, [*args, "--delta-t", "67", "--at", NREL_AT.isoformat(), "--json"])
    assert got.exit_code == 0, got.output
    doc = json.loads(got.stdout)
    assert doc["apparent_zenith"] == pytest.approx(50.11162, abs=1e-4)
    assert {"azimuth", "apparent_elevation", "zenith", "elevation"} <= doc.keys()
    naive = runner.invoke(cli_app, [*args, "--at", "2003-10-17T12:30:30", "--json"])
    assert naive.exit_code != 0 and "TWIN_TIMEZONE" in naive.output
    monkeypatch.setenv("TWIN_TIMEZONE", "America/Denver")  # −07:00 in October 2003 (MDT −06)
    local = runner.invoke(cli_app, [*args, "--at", "2003-10-17T13:30:30", "--json"])
    assert local.exit_code == 0, local.output
    assert json.loads(local.stdout)["azimuth"] == pytest.approx(doc["azimuth"], abs=1e-6)
    with engine.begin() as conn:
        set_working_crs(conn, 3067)
    point = runner.invoke(
        cli_app, ["analyse", "sun", "--x", "385000", "--y", "6672000", "--at", NREL_AT.isoformat()]
    )
    assert point.exit_code == 0 and "grid_azimuth" in point.stdout, point.output


def test_bad_parameters_name_the_field(runner: CliRunner) -> None:
    got = runner.invoke(cli_app, ["analyse", "sun", "--lat", "1", "--lon", "2", "--at", "soon"])
    assert got.exit_code == 1 and "ISO 8601" in got.output
    bad = runner.invoke(cli_app, ["analyse", "sun", "--lat", "1", "--at", "2026-01-01T00:00Z"])
    assert bad.exit_code == 1 and "--lon" in bad.output
    with pytest.raises(Exception, match="pressure"):
        parse_params(get_analysis("sun"), {"at": "2026-01-01T00:00Z", "pressure": -1})


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with engine.begin() as conn:
        set_working_crs(conn, 3067)
        for i in range(3):
            _segment(conn, i)
    tokens = {r: create_user(engine, f"u-{r}", r) for r in ("citizen", "agent")}
    with registered(), TestClient(create_app(settings, engine=engine)) as c:
        yield c, tokens


def _segment(conn: object, i: int) -> None:
    conn.execute(  # type: ignore[attr-defined]
        text(
            "INSERT INTO network_segments (network, geom, depth_m, source, source_id) VALUES "
            "('water', ST_SetSRID(ST_MakeLine(ST_MakePoint(0, :i, -1), ST_MakePoint(5, :i, -1)),"
            " 3067), 1.0, 'test', :sid)"
        ),
        {"i": float(i), "sid": f"s{i}"},
    )


def _wait(c: TestClient, href: str, headers: dict[str, str]) -> dict[str, object]:
    for _ in range(200):
        state: dict[str, object] = c.get(href, headers=headers).json()
        if state["status"] in ("done", "failed"):
            return state
        time.sleep(0.05)
    raise AssertionError(f"job {href} did not finish: {state}")


def test_sun_over_http(client: tuple[TestClient, dict[str, str]]) -> None:
    c, _ = client
    q = {**NREL, "at": NREL_AT.isoformat()}
    got = c.get("/api/analysis/sun", params=q)
    assert got.status_code == 200 and got.headers["X-Analysis-Cache"] == "miss"
    assert got.json()["apparent_zenith"] == pytest.approx(50.11162, abs=1e-4)
    again = c.post("/api/analysis/sun", json=q)
    assert again.headers["X-Analysis-Cache"] == "hit" and again.json() == got.json()
    bad = c.post("/api/analysis/sun", json={**q, "colour": "red"})
    assert bad.status_code in (400, 422) and "colour" in bad.text
    listed = {a["name"] for a in c.get("/api/analysis").json()}
    assert {"sun", "count-segments"} <= listed


def test_jobs_cache_and_access(client: tuple[TestClient, dict[str, str]], engine: Engine) -> None:
    c, tokens = client
    agent = {"Authorization": f"Bearer {tokens['agent']}"}
    citizen = {"Authorization": f"Bearer {tokens['citizen']}"}
    assert c.post("/api/analysis/count-segments", json={}).status_code == 401
    assert c.post("/api/analysis/count-segments", json={}, headers=citizen).status_code == 403
    runs = CountSegments.runs
    started = c.post("/api/analysis/count-segments", json={}, headers=agent)
    assert started.status_code == 202, started.text
    href = started.headers["Location"]
    assert c.get(href).status_code == 401  # a job's id is no way around the access rule
    state = _wait(c, href, agent)
    assert state["status"] == "done", state
    result = state["result"]
    assert isinstance(result, dict) and result["segments"] == 3
    file_url = result["files"]["count.txt"]
    assert c.get(file_url, headers=agent).text == "3\n"
    assert c.get(file_url).status_code == 401
    assert c.get(file_url, headers=citizen).status_code == 403
    # the same question of the same data: answered at once from the cache
    cached = c.post("/api/analysis/count-segments", json={}, headers=agent)
    assert cached.status_code == 200 and cached.json()["segments"] == 3
    assert CountSegments.runs == runs + 1
    # a write to a table the analysis reads makes a new key: computed again
    with engine.begin() as conn:
        _segment(conn, 9)
    fresh = c.post("/api/analysis/count-segments", json={}, headers=agent)
    assert fresh.status_code == 202
    assert _wait(c, fresh.headers["Location"], agent)["result"]["segments"] == 4  # type: ignore[index]


def test_data_version_moves_with_every_write(engine: Engine) -> None:
    with engine.begin() as conn:
        set_working_crs(conn, 3067)
    seen = {data_version(engine, ("pois",))}
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO pois (name, kind, geom, source, source_id) VALUES "
                "('a', 'museum', ST_SetSRID(ST_MakePoint(0, 0, 0), 3067), 't', 'a')"
            )
        )
    seen.add(data_version(engine, ("pois",)))
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM scenario_removals"))  # no row: still a statement
        conn.execute(text("UPDATE pois SET name = 'b'"))
    seen.add(data_version(engine, ("pois",)))
    assert len(seen) == 3
    assert data_version(engine, ("buildings",)) == data_version(engine, ("buildings",))


def test_runner_refuses_before_reading_the_cache(settings: Settings, engine: Engine) -> None:
    with registered():
        analysis = get_analysis("count-segments")
        params = parse_params(analysis, {})
        agent = AnalysisContext(engine, settings, Principal("a", "agent"))
        assert run_analysis(analysis, agent, params).stored.data["segments"] == 0
        with pytest.raises(Exception, match="agent"):
            run_analysis(analysis, AnalysisContext(engine, settings, Principal("c")), params)
