"""`twin db …` and `twin init` on a project-managed cluster, and the refusal to serve an
un-migrated database."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from geodata.errors import DatabaseNotReady
from tests.conftest import free_port
from twin.app import create_app
from twin.cli import app
from twin.settings import Settings

runner = CliRunner()


@pytest.fixture
def embedded_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("TWIN_DATABASE_URL", raising=False)
    monkeypatch.setenv("TWIN_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("TWIN_PG_PORT", str(free_port()))
    monkeypatch.chdir(tmp_path)  # no stray .env
    return tmp_path / "var"


def test_db_lifecycle_on_the_embedded_cluster(embedded_env: Path) -> None:
    try:
        res = runner.invoke(app, ["db", "start"])
        assert res.exit_code == 0, res.output
        assert (embedded_env / "pg" / "data" / "PG_VERSION").exists()
        res = runner.invoke(app, ["db", "status"])
        assert "not migrated" not in res.output and "needs" in res.output
        res = runner.invoke(app, ["init", "--crs", "EPSG:3946"])
        assert res.exit_code == 0, res.output
        assert "EPSG:3946" in res.output
        res = runner.invoke(app, ["db", "status"])
        assert res.exit_code == 0 and "schema migrated" in res.output
        res = runner.invoke(app, ["init", "--crs", "EPSG:2154"])
        assert res.exit_code == 1
        assert "EPSG:3946" in res.output and "cannot become EPSG:2154" in res.output
    finally:
        res = runner.invoke(app, ["db", "stop"])
    assert "stopped" in res.output
    res = runner.invoke(app, ["db", "status"])
    assert res.exit_code == 1 and "not reachable" in res.output


def test_init_refuses_a_geographic_crs(embedded_env: Path) -> None:
    try:
        res = runner.invoke(app, ["init", "--crs", "EPSG:4326"])
        assert res.exit_code == 1
        assert "geographic" in res.output and "projected" in res.output
    finally:
        runner.invoke(app, ["db", "stop"])


def test_app_refuses_an_unmigrated_database(empty_db_url: str, tmp_path: Path) -> None:
    settings = Settings(database_url=empty_db_url, data_dir=tmp_path, _env_file=None)
    with pytest.raises(DatabaseNotReady, match="twin db migrate"), TestClient(create_app(settings)):
        pass


def test_serve_refuses_an_unmigrated_database(
    empty_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWIN_DATABASE_URL", empty_db_url)
    monkeypatch.setenv("TWIN_DATA_DIR", str(tmp_path))
    res = runner.invoke(app, ["serve", "--port", str(free_port())])
    assert res.exit_code == 1
    assert "twin db migrate" in res.output


def test_bad_settings_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWIN_CRS", "EPSG:999999")
    res = runner.invoke(app, ["db", "status"])
    assert res.exit_code == 1
    assert "TWIN_CRS" in res.output
