"""The flood analysis on hand-built terrains with known answers: a bowl floods exactly to its
contour, a pit behind a ridge stays dry (the threshold comparison wets it), a diagonal gap
lets water through with 8- but not 4-connectivity; then the whole analysis through PostGIS,
the CLI and the API: buildings, roads and assets under the water, assets for agents only, a
gauge's level from its zero altitude and latest reading, and the refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from geodata.access import Principal
from geodata.errors import InputError, NotFound
from geodata.importers.dem import import_dem
from tests.flood_support import X0, Y0, add_gauge, bowl_scene, cell_centre, pyramid_bowl, write_tif
from twin.accounts import create_user
from twin.analysis.base import AnalysisContext
from twin.analysis.flood import fill
from twin.analysis.registry import get_analysis
from twin.analysis.runner import parse_params, run_analysis
from twin.app import create_app
from twin.cli import app as cli_app
from twin.settings import Settings

# -- the fill on arrays ------------------------------------------------------------------


def test_a_bowl_floods_exactly_to_its_contour() -> None:
    z = pyramid_bowl(41)
    for level in (0.0, 3.0, 7.5, 12.0):
        wet = fill.connected_flood(z, level, (20, 20))
        r = int(np.floor(level))
        assert wet.sum() == (2 * r + 1) ** 2
        rows, cols = np.nonzero(wet)
        assert (rows.min(), rows.max(), cols.min(), cols.max()) == (20 - r, 20 + r, 20 - r, 20 + r)


def test_a_pit_behind_a_ridge_stays_dry() -> None:
    z = np.zeros((10, 30))
    z[:, 15] = 5.0  # the ridge
    z[3:7, 20:25] = -1.0  # a pit behind it, lower than the plain
    wet = fill.connected_flood(z, 2.0, (5, 2))
    assert wet[:, :15].all() and not wet[:, 15:].any()
    naive = fill.threshold_flood(z, 2.0)
    assert naive[:, 16:].all()  # the comparison wets what water cannot reach


def test_a_diagonal_gap_floods_with_8_but_not_4_connectivity() -> None:
    z = np.full((3, 3), 10.0)
    np.fill_diagonal(z, 0.0)
    assert fill.connected_flood(z, 1.0, (0, 0), 8).sum() == 3
    assert fill.connected_flood(z, 1.0, (0, 0), 4).sum() == 1


def test_nodata_never_floods_and_a_dry_source_floods_nothing() -> None:
    z = np.zeros((3, 3))
    z[1, 1] = np.nan
    assert fill.connected_flood(z, 1.0, (0, 0)).sum() == 8
    assert fill.connected_flood(np.ones((3, 3)) * 5, 1.0, (0, 0)).sum() == 0


# -- the analysis over PostGIS -----------------------------------------------------------


@pytest.fixture
def bowl(engine: Engine, tmp_path: Path) -> Engine:
    return bowl_scene(engine, tmp_path)


def _run(settings: Settings, engine: Engine, role: str, **raw: object) -> dict[str, object]:
    flood = get_analysis("flood")
    ctx = AnalysisContext(engine, settings, Principal(None if role == "citizen" else role, role))
    return run_analysis(flood, ctx, parse_params(flood, raw)).stored.data


def test_the_bowl_through_the_analysis(settings: Settings, bowl: Engine) -> None:
    doc = _run(settings, bowl, "agent", level=5.0, source=cell_centre(20, 20))
    assert doc["flooded_area_m2"] == 121.0 and doc["max_depth_m"] == 5.0
    (feature,) = doc["extent"]["features"]  # type: ignore[index]
    poly = shapely.geometry.shape(feature["geometry"])
    from geodata.crs import transformer

    t = transformer(4326, 3067)
    back = shapely.transform(poly, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
    assert back.area == pytest.approx(121.0, rel=1e-4)
    assert back.bounds == pytest.approx((X0 + 15, Y0 - 26, X0 + 26, Y0 - 15), abs=0.01)
    assert doc["buildings"] == [{"source_id": "floor", "name": None, "max_depth": 5.0}]
    (road,) = doc["roads_cut"]  # type: ignore[misc]
    assert road["source_id"] == "street" and road["length_m"] == pytest.approx(11.0)
    assets = {(a["type"], a["source_id"]): a for a in doc["assets"]}  # type: ignore[attr-defined]
    assert assets.keys() == {("segment", "main"), ("node", "valve")}
    assert assets[("segment", "main")]["length_m"] == pytest.approx(11.0)
    assert doc["vertical_datum"] == "unknown" and doc["extent_crs"].startswith("CRS84")


def test_citizens_get_no_assets(settings: Settings, bowl: Engine) -> None:
    doc = _run(settings, bowl, "citizen", level=5.0, source=cell_centre(20, 20))
    assert "assets" not in doc and doc["flooded_area_m2"] == 121.0


def test_threshold_is_labelled_a_comparison(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    z = np.zeros((10, 30))
    z[:, 15] = 5.0
    import_dem(engine, write_tif(tmp_path / "ridge.tif", z))
    at = cell_centre(5, 2)
    flood = _run(settings, engine, "admin", level=2.0, source=at)
    naive = _run(settings, engine, "admin", level=2.0, source=at, method="threshold")
    assert flood["flooded_area_m2"] == 150.0 and not flood["comparison_only"]
    assert naive["flooded_area_m2"] == 290.0 and naive["comparison_only"]


def test_a_gauge_floods_to_its_zero_plus_its_stage(settings: Settings, bowl: Engine) -> None:
    add_gauge(bowl, "g1", 2.5, zero_altitude_m=1.5)
    doc = _run(settings, bowl, "operator", gauge="g1")
    assert doc["level_m"] == 4.0 and doc["flooded_area_m2"] == 81.0
    assert doc["gauge"]["stage_m"] == 2.5  # type: ignore[index]
    with bowl.begin() as conn:  # a new reading is a new answer, not the cached one
        conn.execute(text("UPDATE latest_state SET value = 0.5 WHERE device_id = 'g1'"))
    assert _run(settings, bowl, "operator", gauge="g1")["flooded_area_m2"] == 25.0


def test_a_gauge_without_zero_altitude_is_refused(settings: Settings, bowl: Engine) -> None:
    add_gauge(bowl, "g2", 1.0)
    with pytest.raises(InputError, match="zero_altitude_m"):
        _run(settings, bowl, "operator", gauge="g2")
    with pytest.raises(NotFound, match="no device"):
        _run(settings, bowl, "operator", gauge="nobody")


def test_bad_sources_are_refused(settings: Settings, bowl: Engine) -> None:
    with pytest.raises(InputError, match="outside the terrain"):
        _run(settings, bowl, "admin", level=1.0, source=(0.0, 0.0))
    with pytest.raises(InputError, match="level"):
        _run(settings, bowl, "admin", level=1.0)


def test_no_terrain_says_how_to_import_one(settings: Settings, engine: Engine) -> None:
    with engine.begin() as conn:
        from geodata.working_crs import set_working_crs

        set_working_crs(conn, 3067)
    with pytest.raises(InputError, match="--layer dem"):
        _run(settings, engine, "admin", level=1.0, source=(X0, Y0))


# -- the CLI and the API -----------------------------------------------------------------


def test_cli_json_and_depth_tif(runner: CliRunner, bowl: Engine, tmp_path: Path) -> None:
    import rasterio

    x, y = cell_centre(20, 20)
    tif = tmp_path / "out" / "depth.tif"
    args = ["analyse", "flood", "--level", "3", "--source", f"{x},{y}", "--connectivity", "4"]
    got = runner.invoke(cli_app, [*args, "--tif", str(tif), "--json"])
    assert got.exit_code == 0, got.output
    doc = json.loads(got.stdout)
    assert doc["flooded_area_m2"] == 49.0 and doc["connectivity"] == 4
    assert doc["files"]["depth.tif"] == str(tif)
    with rasterio.open(tif) as src:
        depth = src.read(1, masked=True)
        assert src.crs.to_epsg() == 3067 and depth.count() == 49
        assert float(depth.max()) == 3.0
    bad = runner.invoke(cli_app, ["analyse", "flood", "--level", "3", "--source", "nowhere"])
    assert bad.exit_code != 0 and "X,Y" in bad.output


@pytest.fixture
def client(settings: Settings, bowl: Engine) -> Iterator[tuple[TestClient, dict[str, str]]]:
    tokens = {r: create_user(bowl, f"u-{r}", r) for r in ("citizen", "agent")}
    with TestClient(create_app(settings, engine=bowl)) as c:
        yield c, tokens


def test_flood_over_http(client: tuple[TestClient, dict[str, str]]) -> None:
    c, tokens = client
    body = {"level": 5.0, "source": list(cell_centre(20, 20))}
    anonymous = c.post("/api/analysis/flood", json=body)
    assert anonymous.status_code == 200, anonymous.text
    assert "assets" not in anonymous.json() and anonymous.json()["flooded_area_m2"] == 121.0
    citizen = c.post("/api/analysis/flood", json=body, headers=_bearer(tokens["citizen"]))
    assert "assets" not in citizen.json()
    agent = c.post("/api/analysis/flood", json=body, headers=_bearer(tokens["agent"]))
    assert len(agent.json()["assets"]) == 2
    bad = c.post("/api/analysis/flood", json={"level": 5.0})
    assert bad.status_code == 400 and "source" in bad.text


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
