"""``twin tiles build`` and ``twin tiles list`` against a real database, as a user runs them."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from tests.test_tiles_support import helsinki
from tiles import inspect as ti
from tiles import metadata, synthetic
from twin.cli import app
from twin.settings import Settings

__all__ = ["helsinki"]


@pytest.fixture
def env(helsinki: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    with helsinki.begin() as conn:
        synthetic.insert_buildings(conn, 200)
        synthetic.insert_network(conn, "electricity", 20)
        sid = conn.execute(
            text(
                "INSERT INTO projects (slug, name, visibility) VALUES "
                "('harbour', 'Harbour', 'agent') RETURNING id"
            )
        ).scalar_one()
        scen = conn.execute(
            text(
                "INSERT INTO scenarios (slug, name, project_id) VALUES "
                "('towers', 'Towers', :p) RETURNING id"
            ),
            {"p": sid},
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO buildings (source, source_id, footprint, base_z, height, scenario_id) "
                "SELECT 'plan', 't1', footprint, base_z, 70, :s FROM buildings "
                "WHERE source_id = '5'"
            ),
            {"s": scen},
        )
    monkeypatch.setenv("TWIN_DATABASE_URL", settings.sqlalchemy_url)
    monkeypatch.setenv("TWIN_DATA_DIR", str(settings.data_dir))
    monkeypatch.chdir(settings.data_dir.parent)
    return settings


def test_tiles_build_then_incremental_then_list(env: Settings) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["tiles", "build"])
    assert first.exit_code == 0, first.output
    tiles_dir = Path(env.tiles_dir)
    for name in ("buildings", "network-electricity", "scenario-towers", "project-harbour"):
        assert (tiles_dir / name / "tileset.json").exists(), name
        assert ti.check(tiles_dir / name) == []
    assert not (tiles_dir / "network-gas" / "tileset.json").exists()
    assert "buildings" in first.output and "200" in first.output

    again = runner.invoke(app, ["tiles", "build", "--layer", "buildings"])
    assert again.exit_code == 0, again.output
    rows = [
        [c.strip() for c in line.split("│")[1:-1]]
        for line in again.output.splitlines()
        if line.count("│") == 9
    ]
    (b,) = [r for r in rows if r[0] == "buildings"]
    assert b[1] == "200" and b[3] == "0" and b[4] == b[2]  # nothing written, all reused
    listing = runner.invoke(app, ["tiles", "list"])
    assert listing.exit_code == 0
    assert "project-harbour" in listing.output and "agent" in listing.output


def test_unknown_layer_is_a_clear_error(env: Settings) -> None:
    result = CliRunner().invoke(app, ["tiles", "build", "--layer", "castles"])
    assert result.exit_code == 1
    assert "no tileset for layer 'castles'" in result.output


def _one_error(result: Result) -> str:
    """A refused build: exit 1, one ``error:`` line on stderr, no traceback."""
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.output
    return errors[0]


def test_a_damaged_content_file_is_one_clear_error_then_full_remakes_it(
    env: Settings, helsinki: Engine
) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["tiles", "build", "--layer", "buildings"]).exit_code == 0
    tileset = Path(env.tiles_dir) / "buildings"
    (uri,) = {u for u, f in ti.features(tileset) if f["source_id"] == "77"}
    (tileset / uri).write_bytes(b"<html>not a tile</html>" * 4)  # overwritten by a proxy
    before = (tileset / "tileset.json").read_bytes()
    with helsinki.begin() as conn:
        conn.execute(text("UPDATE buildings SET usage = 'museum' WHERE source_id = '77'"))

    line = _one_error(runner.invoke(app, ["tiles", "build", "--layer", "buildings"]))
    assert uri in line and "is damaged" in line and "bad magic" in line
    assert "twin tiles build --full" in line
    assert (tileset / "tileset.json").read_bytes() == before  # the previous tileset is whole

    assert runner.invoke(app, ["tiles", "build", "--full"]).exit_code == 0
    assert ti.check(tileset) == []
    assert [f["usage"] for _, f in ti.features(tileset) if f["source_id"] == "77"] == ["museum"]


def test_a_tile_gltf_cannot_number_is_one_clear_error(
    env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 16,777,215 features in one cell take a while to import: the limit is lowered instead
    monkeypatch.setattr(metadata, "MAX_TILE_FEATURES", 10)
    line = _one_error(CliRunner().invoke(app, ["tiles", "build", "--layer", "buildings"]))
    assert "features fall in one tile, more than glTF feature ids can number (10)" in line
    assert "remove the duplicates" in line


@pytest.mark.timeout(60)
def test_an_extent_far_off_the_earth_is_one_clear_error(env: Settings, helsinki: Engine) -> None:
    with helsinki.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO buildings (source, source_id, footprint, base_z, height) VALUES "
                "('bad', 'far', ST_Multi(ST_MakeEnvelope(1e300, 0, 1.0001e300, 10, 3067)), 0, 5)"
            )
        )
    line = _one_error(CliRunner().invoke(app, ["tiles", "build", "--layer", "buildings"]))
    assert "reaches beyond 1e+09 m" in line and "working CRS" in line
