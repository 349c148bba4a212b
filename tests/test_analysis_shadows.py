"""Shadows on hand-built boxes: a box of height h throws its shadow h / tan(elevation) away
from the sun, the sun's true azimuth turned into the grid by the meridian convergence; the
sun below the horizon is an answer, not an error; a scenario's shadows and what it adds."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Proj, Transformer
from shapely.geometry import shape
from sqlalchemy import Engine
from typer.testing import CliRunner

from geodata.access import Principal
from tests.scene_support import X0, Y0, add_box, add_scenario, remove, working_crs
from twin.analysis.base import AnalysisContext
from twin.analysis.registry import get_analysis
from twin.analysis.runner import parse_params
from twin.app import create_app
from twin.cli import app as cli_app
from twin.settings import Settings

H = 20.0


@pytest.fixture
def world(engine: Engine) -> dict[str, int]:
    working_crs(engine)
    with engine.begin() as conn:
        box = add_box(conn, X0, Y0, 10, 10, H, name="box")
        sid = add_scenario(conn, "tower")
        tower = add_box(conn, X0 + 60, Y0, 10, 10, 40, name="tower", scenario_id=sid)
        remove(conn, sid, box)
    return {"box": box, "tower": tower, "scenario": sid}


def _ctx(engine: Engine, settings: Settings) -> AnalysisContext:
    return AnalysisContext(engine, settings, Principal("test", "admin"))


def _run(engine: Engine, settings: Settings, **raw: object) -> dict[str, object]:
    analysis = get_analysis("shadows")
    return analysis.run(_ctx(engine, settings), parse_params(analysis, raw)).data


def _convergence() -> float:
    lon, lat = Transformer.from_crs(3067, 4326, always_xy=True).transform(X0 + 5, Y0 + 5)
    return float(Proj("EPSG:3067").get_factors(lon, lat).meridian_convergence)


@pytest.mark.parametrize(("azimuth", "elevation"), [(180.0, 30.0), (135.0, 45.0), (250.0, 12.0)])
def test_a_box_casts_h_over_tan_elevation_away_from_the_sun(
    engine: Engine, settings: Settings, world: dict[str, int], azimuth: float, elevation: float
) -> None:
    doc = _run(engine, settings, sun_azimuth=azimuth, sun_elevation=elevation, x=X0, y=Y0,
               radius=30, crs="working")  # fmt: skip
    assert doc["sun_up"] is True and doc["crs"] == "EPSG:3067"
    features = doc["baseline"]["features"]  # type: ignore[index]
    assert [f["properties"]["building_id"] for f in features] == [world["box"]]
    shadow = np.asarray(shapely.get_coordinates(shape(features[0]["geometry"])))
    footprint = np.array([[X0, Y0], [X0 + 10, Y0], [X0 + 10, Y0 + 10], [X0, Y0 + 10]])
    # away from the sun, in the grid: true azimuth + 180 minus the convergence (−1.79° here)
    gamma = _convergence()
    assert gamma == pytest.approx(-1.79, abs=0.02)
    away = math.radians(azimuth + 180.0 - gamma)
    u = np.array([math.sin(away), math.cos(away)])
    reach = shadow @ u
    length = H / math.tan(math.radians(elevation))
    assert reach.max() - (footprint @ u).max() == pytest.approx(length, abs=0.01)
    # across the sun's direction the shadow is as wide as the footprint: no skew
    across = np.array([u[1], -u[0]])
    assert np.ptp(shadow @ across) == pytest.approx(np.ptp(footprint @ across), abs=0.01)
    assert doc["shadow_length_per_metre"] == pytest.approx(1 / math.tan(math.radians(elevation)))


def test_due_south_sun_shadow_leans_by_the_convergence(
    engine: Engine, settings: Settings, world: dict[str, int]
) -> None:
    doc = _run(engine, settings, sun_azimuth=180.0, sun_elevation=45.0, x=X0, y=Y0, radius=30,
               crs="working")  # fmt: skip
    geom = shape(doc["baseline"]["features"][0]["geometry"])  # type: ignore[index]
    minx, miny, maxx, maxy = geom.bounds
    # true north is 1.79° east of grid north in Helsinki: the 20 m shadow's tip is 0.62 m east
    assert maxy == pytest.approx(Y0 + 10 + H * math.cos(math.radians(1.787)), abs=0.01)
    assert maxx == pytest.approx(X0 + 10 + H * math.sin(math.radians(1.787)), abs=0.02)
    assert minx == pytest.approx(X0, abs=1e-6) and miny == pytest.approx(Y0, abs=1e-6)
    areas = doc["areas"]["baseline"]  # type: ignore[index]
    # the square swept by a 20 m vector at 1.79° to its side: 100 + 20 x 10 (cos + sin)
    g = math.radians(1.787)
    assert areas["shadow_area_m2"] == pytest.approx(100 + H * 10 * (math.cos(g) + math.sin(g)),
                                                    abs=0.05)  # fmt: skip
    assert areas["ground_shadow_area_m2"] == pytest.approx(areas["shadow_area_m2"] - 100, abs=0.05)


def test_the_sun_below_the_horizon_is_night_not_an_error(
    engine: Engine, settings: Settings, world: dict[str, int]
) -> None:
    doc = _run(engine, settings, sun_azimuth=0.0, sun_elevation=-4.0)
    assert doc["sun_up"] is False and "baseline" not in doc
    midnight = _run(engine, settings, at="2026-12-21T00:00:00+02:00", scenario="tower")
    assert midnight["sun_up"] is False and midnight["elevation"] < -40  # type: ignore[operator]


def test_a_scenarios_shadows_and_what_it_changes(
    engine: Engine, settings: Settings, world: dict[str, int]
) -> None:
    doc = _run(engine, settings, at="2026-06-21T15:00:00+03:00", scenario="tower", x=X0, y=Y0,
               radius=200)  # fmt: skip
    assert doc["elevation_is"].startswith("apparent")  # type: ignore[union-attr]
    assert 40 < doc["elevation"] < 55  # type: ignore[operator]
    base = doc["baseline"]["features"]  # type: ignore[index]
    after = doc["scenario"]["features"]  # type: ignore[index]
    assert [f["id"] for f in base] == [world["box"]]
    assert [f["id"] for f in after] == [world["tower"]]
    length = 40 / math.tan(math.radians(doc["elevation"]))  # type: ignore[arg-type]
    assert after[0]["properties"]["shadow_length"] == pytest.approx(length, abs=0.01)
    added = shape(doc["added"]["geometry"])  # type: ignore[index]
    removed = shape(doc["removed"]["geometry"])  # type: ignore[index]
    lon, lat = added.representative_point().coords[0]
    assert 24 < lon < 26 and 60 < lat < 61  # CRS84 by default (RFC 7946)
    assert doc["crs"].startswith("CRS84")  # type: ignore[union-attr]
    areas = doc["areas"]  # type: ignore[index]
    assert doc["added"]["properties"]["area_m2"] == pytest.approx(  # type: ignore[index]
        areas["scenario"]["shadow_area_m2"], rel=1e-6
    )
    assert removed.area > 0 and areas["shadow_area_delta_m2"] > 0


def test_sun_parameters_are_both_or_a_time(
    engine: Engine, settings: Settings, world: dict[str, int]
) -> None:
    for raw, says in [
        ({"sun_elevation": 30.0}, "--sun-azimuth"),
        ({}, "--at"),
        ({"sun_elevation": 30.0, "sun_azimuth": 1.0, "at": "2026-01-01T12:00Z"}, "not both"),
        ({"at": "2026-06-21T12:00:00"}, "TWIN_TIMEZONE"),
        ({"at": "2026-06-21T12:00Z", "x": X0}, "--y"),
        ({"at": "2026-06-21T12:00Z", "scenario": "nope"}, "tower"),
    ]:
        with pytest.raises(Exception, match=says):
            _run(engine, settings, **raw)


def test_cli_and_api(
    runner: CliRunner, engine: Engine, settings: Settings, world: dict[str, int]
) -> None:
    args = ["analyse", "shadows", "--sun-elevation", "30", "--sun-azimuth", "180", "--json"]
    got = runner.invoke(cli_app, [*args, "--x", str(X0), "--y", str(Y0), "--radius", "30"])
    assert got.exit_code == 0, got.output
    doc = json.loads(got.stdout)
    assert doc["crs"].startswith("CRS84") and len(doc["baseline"]["features"]) == 1
    naive = runner.invoke(cli_app, ["analyse", "shadows", "--at", "2026-06-21T12:00", "--json"])
    assert naive.exit_code != 0 and "TWIN_TIMEZONE" in naive.output
    with TestClient(create_app(settings, engine=engine)) as c:
        q = {"sun_elevation": 30, "sun_azimuth": 180, "x": X0, "y": Y0, "radius": 30}
        r = c.get("/api/analysis/shadows", params=q)
        assert r.status_code == 200, r.text
        assert r.json()["baseline"] == doc["baseline"]
        assert c.post("/api/analysis/shadows", json={**q, "crs": "utm"}).status_code in (400, 422)
