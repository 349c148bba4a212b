"""Dataset visibility is enforced: an agent-only dataset, imported with
``twin import --visibility agent``, is refused to citizens everywhere it could leak (the
catalogue, the features of a public layer, a tileset built from it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from geodata.access import ANONYMOUS, Principal
from geodata.datasets import hidden_rows_clause, list_datasets, sources_visibility
from geodata.working_crs import set_working_crs
from tests.import_data import HELSINKI_LONLAT, feature, project, rect, write_geojson
from tiles.build import build_all
from tiles.catalog import get_tileset
from twin.accounts import create_user
from twin.app import create_app
from twin.cli import app
from twin.settings import Settings

X, Y = project(*HELSINKI_LONLAT, 3067)
AGENT = Principal("anna", "agent")


@pytest.fixture
def runner(db_url: str, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("TWIN_DATABASE_URL", db_url)
    monkeypatch.setenv("TWIN_DATA_DIR", str(settings.data_dir))
    monkeypatch.delenv("TWIN_CRS", raising=False)
    monkeypatch.setenv("COLUMNS", "500")
    monkeypatch.chdir(settings.data_dir.parent)
    return CliRunner()


def _houses(tmp_path: Path, name: str, x0: float, n: int) -> Path:
    return write_geojson(
        tmp_path / f"{name}.geojson",
        [feature(rect(x0 + 40 * i, Y), gml_id=f"{name}{i}", height=12) for i in range(n)],
        crs="urn:ogc:def:crs:EPSG::3067",
    )


def _import(runner: CliRunner, path: Path, source: str, *extra: str) -> None:
    args = ["import", str(path), "--layer", "buildings", "--source", source, *extra]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output


@pytest.fixture
def two_sources(runner: CliRunner, tmp_path: Path) -> CliRunner:
    """Town buildings (public, the layer's default) and surveyed ones (agent only)."""
    _import(runner, _houses(tmp_path, "town", X, 3), "town", "--licence", "CC-BY-4.0")
    _import(runner, _houses(tmp_path, "survey", X + 400, 2), "survey", "--visibility", "agent")
    return runner


@pytest.fixture
def client(two_sources: CliRunner, settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


def _sources(client: TestClient, headers: dict[str, str] | None = None) -> list[str]:
    r = client.get("/collections/buildings/items", headers=headers)
    assert r.status_code == 200
    return sorted(f["properties"]["source"] for f in r.json()["features"])


def test_agent_dataset_is_refused_to_citizens(client: TestClient, engine: Engine) -> None:
    citizen = {"Authorization": f"Bearer {create_user(engine, 'carla', 'citizen')}"}
    agent = {"Authorization": f"Bearer {create_user(engine, 'anna', 'agent')}"}
    # the catalogue: licences for what the caller may reuse, nothing of the rest
    for headers in (None, citizen):
        listed = client.get("/api/datasets", headers=headers).json()["datasets"]
        assert [(d["source"], d["visibility"], d["licence"]) for d in listed] == [
            ("town", "public", "CC-BY-4.0")
        ]
    both = client.get("/api/datasets", headers=agent).json()["datasets"]
    survey = next(d for d in both if d["source"] == "survey")
    assert survey["visibility"] == "agent" and survey["features"] == 2
    assert client.get(f"/api/datasets/{survey['id']}").status_code == 401
    r = client.get(f"/api/datasets/{survey['id']}", headers=citizen)
    assert r.status_code == 403 and "your role is citizen" in r.json()["description"]
    # the features of the public buildings layer: the survey's rows do not exist for citizens
    assert _sources(client) == _sources(client, citizen) == ["town"] * 3
    assert _sources(client, agent) == ["survey"] * 2 + ["town"] * 3
    with engine.connect() as conn:
        hidden_id = conn.execute(text("SELECT min(id) FROM buildings WHERE source = 'survey'"))
        fid = hidden_id.scalar_one()
    assert client.get(f"/collections/buildings/items/{fid}", headers=citizen).status_code == 404
    assert client.get(f"/collections/buildings/items/{fid}", headers=agent).status_code == 200
    # nor do they widen the collection's extent (the survey lies 400 m east of the town)
    public_box = client.get("/collections/buildings").json()["extent"]["spatial"]["bbox"][0]
    agent_box = client.get("/collections/buildings", headers=agent).json()["extent"]
    assert public_box[2] < agent_box["spatial"]["bbox"][0][2]


def test_reimport_keeps_or_changes_the_visibility(
    two_sources: CliRunner, engine: Engine, tmp_path: Path
) -> None:
    def survey_visibility() -> str:
        with engine.connect() as conn:
            return conn.execute(
                text("SELECT visibility FROM datasets WHERE source = 'survey'")
            ).scalar_one()

    path = tmp_path / "survey.geojson"
    _import(two_sources, path, "survey")
    assert survey_visibility() == "agent"  # not reopened by a re-import that says nothing
    _import(two_sources, path, "survey", "--visibility", "public")
    assert survey_visibility() == "public"


def test_unknown_visibility_is_refused_before_anything_is_read(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = _houses(tmp_path, "x", X, 1)
    args = ["import", str(path), "--layer", "buildings", "--visibility", "secret"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "unknown visibility 'secret': choose one of public, agent, confidential" in (
        result.output
    )


def test_tileset_of_a_restricted_dataset_is_restricted(
    two_sources: CliRunner, engine: Engine, settings: Settings
) -> None:
    with engine.connect() as conn:
        assert sources_visibility(conn, "buildings", None) == "agent"
        assert sources_visibility(conn, "buildings", "source = 'town'") == "public"
        assert sources_visibility(conn, ["furniture", "routes"], None) == "public"
    build_all(engine, settings.tiles_dir, layer="buildings", workers=1)
    assert get_tileset(settings.tiles_dir, "buildings").visibility == "agent"
    # opened again: the next build follows
    with engine.begin() as conn:
        conn.execute(text("UPDATE datasets SET visibility = 'public' WHERE source = 'survey'"))
    build_all(engine, settings.tiles_dir, layer="buildings", workers=1)
    assert get_tileset(settings.tiles_dir, "buildings").visibility == "public"


def test_catalogue_and_filter_as_plain_functions(two_sources: CliRunner, engine: Engine) -> None:
    with engine.connect() as conn:
        assert [d.source for d in list_datasets(conn, ANONYMOUS)] == ["town"]
        assert [d.source for d in list_datasets(conn, AGENT)] == ["survey", "town"]
    assert hidden_rows_clause("buildings", Principal("root", "admin")) is None
    assert hidden_rows_clause("routes", ANONYMOUS) is None  # rows of no dataset
    clause = hidden_rows_clause("buildings", ANONYMOUS)
    assert clause is not None and clause.startswith("NOT EXISTS")


def test_scenario_of_a_restricted_project_is_restricted(engine: Engine, settings: Settings) -> None:
    with engine.begin() as conn:
        set_working_crs(conn, 3067)
        project_id = conn.execute(
            text(
                "INSERT INTO projects (slug, name, site, visibility) VALUES ('depot', 'Depot', "
                "ST_Multi(ST_SetSRID(ST_MakeEnvelope(:x, :y, :x + 50, :y + 50), 3067)), "
                "'agent') RETURNING id"
            ),
            {"x": X, "y": Y},
        ).scalar_one()
        scenario_id = conn.execute(
            text(
                "INSERT INTO scenarios (slug, name, project_id) VALUES ('depot-a', 'A', :p) "
                "RETURNING id"
            ),
            {"p": project_id},
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO buildings (source, source_id, footprint, height, scenario_id) "
                "VALUES ('plan', 'd1', ST_Multi(ST_SetSRID(ST_MakeEnvelope(:x, :y, :x + 20, "
                ":y + 20), 3067)), 30, :s)"
            ),
            {"x": X, "y": Y, "s": scenario_id},
        )
    build_all(engine, settings.tiles_dir, scenario="depot-a", workers=1)
    assert get_tileset(settings.tiles_dir, "scenario-depot-a").visibility == "agent"
