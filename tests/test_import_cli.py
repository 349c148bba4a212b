"""`twin import` end to end through the CLI: the summary on success; exit 1 with one clear
`error:` line naming the file on bad input, and nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from tests.import_data import (
    HELSINKI_LONLAT,
    CityModel,
    feature,
    project,
    rect,
    rows,
    snapshot,
    write_geojson,
)
from twin.cli import app

X, Y = project(*HELSINKI_LONLAT, 3067)


def test_import_prints_the_summary(runner: CliRunner, engine: Engine, tmp_path: Path) -> None:
    path = write_geojson(
        tmp_path / "houses.geojson",
        [
            feature(rect(X, Y), gml_id="a", height=12),
            feature(rect(X + 40, Y), gml_id="b", **{"building:levels": 3}),
            feature(rect(X + 80, Y), gml_id="c"),
        ],
        crs="urn:ogc:def:crs:EPSG::3067",
    )

    result = runner.invoke(app, ["import", str(path), "--layer", "buildings", "--source", "town"])

    assert result.exit_code == 0, result.output
    assert "houses.geojson -> buildings (source 'town', ogr reader, EPSG:3067 -> EPSG:3067)" in (
        result.stdout
    )
    assert "read 3, imported 3 (new 3, updated 0, unchanged 0), repaired 0, skipped 0" in (
        result.stdout
    )
    assert "heights: 1 measured, 1 levels, 1 default" in result.stdout
    assert rows(engine, "SELECT count(*) FROM buildings WHERE source = 'town'") == [(3,)]

    again = runner.invoke(app, ["import", str(path), "--layer", "buildings", "--source", "town"])
    assert again.exit_code == 0, again.output
    assert "imported 3 (new 0, updated 0, unchanged 3)" in again.stdout
    audited = rows(
        engine,
        "SELECT target, detail->>'source', (detail->>'inserted')::int, actor LIKE 'cli%' "
        "FROM audit_log WHERE kind = 'import' ORDER BY id",
    )
    assert audited == [("houses.geojson", "town", 3, True), ("houses.geojson", "town", 0, True)]


def test_an_import_stands_when_its_audit_row_cannot_be_written(
    runner: CliRunner, engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The audit row is written in the import's transaction under a savepoint: a failure to
    write it is a warning, and the import commits whole."""
    path = write_geojson(
        tmp_path / "houses.geojson", [feature(rect(X, Y), gml_id="a")], crs="EPSG:3067"
    )
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "ALTER TABLE audit_log ADD CONSTRAINT no_imports CHECK (kind <> 'import')"
        )
    result = runner.invoke(app, ["import", str(path), "--layer", "buildings", "--source", "town"])
    assert result.exit_code == 0, result.output
    assert rows(engine, "SELECT count(*) FROM buildings WHERE source = 'town'") == [(1,)]
    assert "the import is not in the audit log" in caplog.text
    assert rows(engine, "SELECT count(*) FROM audit_log WHERE kind = 'import'") == [(0,)]


def test_import_cityjson_with_crs_option(runner: CliRunner, engine: Engine, tmp_path: Path) -> None:
    m = CityModel(translate=(X, Y, 0.0))
    m.house("h1", X, Y, 2.0)
    path = m.write(tmp_path / "house.city.json", crs=None)

    result = runner.invoke(app, ["import", str(path), "--layer", "buildings", "--crs", "EPSG:3067"])

    assert result.exit_code == 0, result.output
    assert "cityjson reader, EPSG:3067 -> EPSG:3067" in result.stdout
    assert "heights: 1 lod" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--layer", "buildings"], "null.geojson, feature 1: no geometry"),
        (["--layer", "lakes"], "unknown layer 'lakes': choose one of buildings, networks"),
        (["--layer", "buildings", "--crs", "EPSG:999999"], "unknown CRS 'EPSG:999999'"),
        (
            ["--layer", "buildings", "--mapping", "nomap.toml"],
            "nomap.toml: cannot read the mapping file",
        ),
    ],
)
def test_import_error_is_one_clear_line_and_nothing_is_written(
    runner: CliRunner, engine: Engine, tmp_path: Path, args: list[str], message: str
) -> None:
    path = write_geojson(
        tmp_path / "null.geojson",
        [
            feature(rect(X, Y), gml_id="a"),
            feature(None, gml_id="b"),
        ],
        crs="urn:ogc:def:crs:EPSG::3067",
    )
    before = snapshot(engine)

    result = runner.invoke(app, ["import", str(path), *args])

    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert message in errors[0]
    assert "Traceback" not in result.output
    assert snapshot(engine) == before


def test_import_of_a_missing_file(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["import", str(tmp_path / "nope.gpkg"), "--layer", "buildings"])
    assert result.exit_code == 1
    assert f"error: {tmp_path / 'nope.gpkg'}: no such file" in result.stderr


def test_a_file_in_no_place_on_earth_is_one_error_line(
    runner: CliRunner, engine: Engine, tmp_path: Path
) -> None:
    """#14 defect 3: a CityJSON scaled to 1e300 imported with exit code 0."""
    from tests.import_data import DELFT_RD

    rx, ry = DELFT_RD
    m = CityModel(scale=0.001, translate=(rx, ry, 0.0))
    m.house("NL.1", rx, ry, 1.0)
    path = m.write(tmp_path / "delft.city.json")
    doc = json.loads(path.read_text())
    doc["transform"]["scale"] = [1e300, 1e300, 0.001]
    path.write_text(json.dumps(doc))
    before = snapshot(engine)

    result = runner.invoke(app, ["import", str(path), "--layer", "buildings"])

    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert all(line.startswith("importing ") for line in lines if line not in errors)  # bar
    assert "delft.city.json" in errors[0] and "EPSG:28992" in errors[0]
    assert "Traceback" not in result.output
    assert snapshot(engine) == before
