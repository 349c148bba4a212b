"""Direct-sun hours on hand-built boxes in Helsinki (EPSG:3067): a point south of a tall wall
keeps the sun, one north of it loses it at noon; a north facade at the equinox gets none
around noon; night never counts as shade; --min-continuous drops short sunny spells; a
scenario's tower takes sun from the points behind it; a grid gives a GeoTIFF and PNGs."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from geodata.access import Principal
from tests.scene_support import X0, Y0, add_box, add_scenario, working_crs
from twin.analysis.base import AnalysisContext
from twin.analysis.registry import get_analysis
from twin.analysis.runner import parse_params
from twin.analysis.scene import find_scenario
from twin.analysis.sunhours_core import drop_short_spells
from twin.analysis.sunhours_lost import sun_hours_lost
from twin.cli import app as cli_app
from twin.settings import Settings

#: the June solstice around Helsinki's solar noon (13:22 EEST)
NOON = {"start": "2026-06-21T13:00:00+03:00", "end": "2026-06-21T13:40:00+03:00"}


def _points(*pts: tuple[str, float, float]) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3067"}},
        "features": [
            {"type": "Feature", "id": name, "geometry": {"type": "Point", "coordinates": [x, y]},
             "properties": {}}
            for name, x, y in pts
        ],
    }  # fmt: skip


def _run(engine: Engine, settings: Settings, **raw: Any) -> dict[str, Any]:
    analysis = get_analysis("sunhours")
    ctx = AnalysisContext(engine, settings, Principal("test", "admin"))
    result = analysis.run(ctx, parse_params(analysis, raw))
    return {**result.data, "_files": result.files}


def _by_id(doc: dict[str, Any]) -> dict[Any, dict[str, Any]]:
    return {p["id"]: p for p in doc["points"]}


@pytest.fixture
def wall(engine: Engine) -> dict[str, int]:
    """An east-west wall 200 m long, 2 m thick and 30 m high, with a 3 m gap at X0."""
    working_crs(engine)
    with engine.begin() as conn:
        west = add_box(conn, X0 - 100, Y0, 98.5, 2, 30, name="west")
        east = add_box(conn, X0 + 1.5, Y0, 98.5, 2, 30, name="east")
        sid = add_scenario(conn, "tower")
        tower = add_box(conn, X0 + 195, Y0 - 40, 10, 10, 60, name="tower", scenario_id=sid)
    return {"west": west, "east": east, "tower": tower}


def test_south_of_a_tall_wall_keeps_the_sun_north_loses_it(
    engine: Engine, settings: Settings, wall: dict[str, int]
) -> None:
    pts = _points(("south", X0 - 30, Y0 - 5), ("north", X0 - 30, Y0 + 7))
    doc = _run(engine, settings, points=pts, **NOON)
    got = _by_id(doc)
    assert doc["period"]["sun_up_steps"] == 4 and doc["period"]["sun_up_hours"] == pytest.approx(
        40 / 60
    )
    assert got["south"]["sun_hours"] == pytest.approx(40 / 60, abs=1e-4)
    assert got["north"]["sun_hours"] == 0.0
    assert got["north"]["z"] == pytest.approx(0.05, abs=0.01)  # on the ground, 5 cm up


def test_night_never_counts_as_shade(
    engine: Engine, settings: Settings, wall: dict[str, int]
) -> None:
    pts = _points(("open", X0 + 150, Y0 - 150), ("north", X0 - 30, Y0 + 7))
    day = _run(engine, settings, points=pts, start="2026-12-21T00:00:00+02:00",
               end="2026-12-22T00:00:00+02:00")  # fmt: skip
    up = day["period"]["sun_up_hours"]
    assert 5.0 < up < 6.5  # Helsinki's shortest day, not 24 hours
    assert _by_id(day)["open"]["sun_hours"] == pytest.approx(up, abs=1e-4)
    night = _run(engine, settings, points=pts, start="2026-12-21T19:00:00+02:00",
                 end="2026-12-21T23:00:00+02:00")  # fmt: skip
    assert night["period"]["sun_up_steps"] == 0 and night["period"]["steps"] == 24
    assert all(p["sun_hours"] == 0.0 for p in night["points"])


def test_min_continuous_drops_short_sunny_spells(
    engine: Engine, settings: Settings, wall: dict[str, int]
) -> None:
    # north of the gap, the sun comes through it for a while around noon, and only then
    pts = _points(("gap", X0, Y0 + 7), ("open", X0, Y0 - 5))
    window = {"start": "2026-06-21T12:30:00+03:00", "end": "2026-06-21T14:30:00+03:00"}
    free = _by_id(_run(engine, settings, points=pts, **window))
    assert 0 < free["gap"]["sun_hours"] < 1.5
    assert free["open"]["sun_hours"] == pytest.approx(2.0, abs=1e-4)
    ruled = _by_id(_run(engine, settings, points=pts, min_continuous=120, **window))
    assert ruled["gap"]["sun_hours"] == 0.0
    assert ruled["open"]["sun_hours"] == pytest.approx(2.0, abs=1e-4)  # one two-hour spell: kept


def test_drop_short_spells_known_answer() -> None:
    lit = np.array([[1, 1, 0, 1, 1, 1, 0, 1], [1, 1, 1, 1, 1, 1, 1, 1]], bool)
    follows = np.array([0, 1, 1, 1, 1, 1, 1, 0], bool)  # the last step is after a night
    out = drop_short_spells(lit, follows, 3)
    assert out.astype(int).tolist() == [[0, 0, 0, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1, 0]]


@pytest.fixture
def block(engine: Engine) -> int:
    working_crs(engine)
    with engine.begin() as conn:
        return add_box(conn, X0, Y0, 20, 12, 9, name="block")


def test_a_north_facade_at_the_equinox_gets_no_sun_around_noon(
    engine: Engine, settings: Settings, block: int
) -> None:
    window = {"start": "2026-03-20T10:00:00+02:00", "end": "2026-03-20T14:00:00+02:00"}
    doc = _run(engine, settings, facades=[block], **window)
    pts = doc["points"]
    assert {p["kind"] for p in pts} == {"facade"} and all(p["building_id"] == block for p in pts)
    north = [p for p in pts if abs(((p["facing"] + 180) % 360) - 180) < 5]
    south = [p for p in pts if abs(p["facing"] - 180) < 5]
    # a 20 m wall every 3 m: 6 points, at mid-storey heights 1.5, 4.5 and 7.5 m
    assert len(north) == len(south) == 18
    assert sorted({round(p["z"], 1) for p in north}) == [1.5, 4.5, 7.5]
    assert all(p["sun_hours"] == 0.0 for p in north)
    assert all(p["sun_hours"] == pytest.approx(4.0, abs=1e-4) for p in south)
    # the whole day: a few minutes at most, when the sun sets just north of west
    settings.timezone = "Europe/Helsinki"
    whole = _run(engine, settings, facades=[block], date="2026-03-20")
    north_day = [
        p["sun_hours"] for p in whole["points"] if abs(((p["facing"] + 180) % 360) - 180) < 5
    ]
    assert max(north_day) < 0.5
    assert whole["period"]["start"] == "2026-03-20T00:00:00+02:00"


def test_a_date_alone_needs_twin_timezone(engine: Engine, settings: Settings, block: int) -> None:
    with pytest.raises(Exception, match="TWIN_TIMEZONE"):
        _run(engine, settings, facades=[block], date="2026-03-20")
    with pytest.raises(Exception, match="no building 999"):
        _run(engine, settings, facades=[999], **NOON)
    with pytest.raises(Exception, match="--points"):
        _run(engine, settings, **NOON)
    inside = _points(("in", X0 + 10, Y0 + 6))
    inside["features"][0]["geometry"]["coordinates"].append(2.0)
    with pytest.raises(Exception, match=f"inside building {block}"):
        _run(engine, settings, points=inside, **NOON)
    with pytest.raises(Exception, match="lon/lat"):
        _run(engine, settings, points={**_points(("x", X0, Y0)), "crs": None}, **NOON)


def test_roofs_see_the_whole_sky(engine: Engine, settings: Settings, block: int) -> None:
    doc = _run(engine, settings, roofs=[block], spacing=4, **NOON)
    pts = doc["points"]
    assert len(pts) == 15  # a 20 x 12 roof at 4 m: 5 x 3
    assert all(p["z"] == pytest.approx(9.05, abs=0.01) for p in pts)
    assert all(p["sun_hours"] == pytest.approx(40 / 60, abs=1e-4) for p in pts)


def test_a_scenario_tower_takes_sun_from_a_grid(
    engine: Engine, settings: Settings, wall: dict[str, int], tmp_path: Path
) -> None:
    # the tower (60 m, south-east of the grid at 15:00) shades part of the ground north-west
    grid = (X0 + 150.0, Y0 - 40.0, X0 + 200.0, Y0 - 10.0)
    window = {"start": "2026-06-21T14:00:00+03:00", "end": "2026-06-21T16:00:00+03:00"}
    doc = _run(engine, settings, grid=grid, spacing=5, scenario="tower", step=20, **window)
    pts = doc["points"]
    assert {p["kind"] for p in pts} == {"ground"}
    delta = np.array([p["sun_hours_delta"] for p in pts if p["sun_hours_delta"] is not None])
    assert (delta < 0).any() and (delta <= 1e-9).all()
    covered = [p for p in pts if p["sun_hours_scenario"] is None]
    assert covered and all(X0 + 195 < p["x"] < X0 + 205 and p["y"] < Y0 - 30 for p in covered)
    assert doc["summary"]["points_losing_sun"] == int((delta < 0).sum())
    raster = doc["raster"]
    assert (raster["rows"], raster["cols"]) == (6, 10)
    files = doc["_files"]
    assert set(files) == {"sun_hours.tif", "sun_hours.png", "sun_hours_scenario.png",
                          "sun_hours_delta.png"}  # fmt: skip
    import rasterio
    from PIL import Image

    path = tmp_path / "s.tif"
    path.write_bytes(files["sun_hours.tif"])
    with rasterio.open(path) as tif:
        assert tif.count == 3 and tif.crs.to_epsg() == 3067 and tif.res == (5.0, 5.0)
        base = tif.read(1)
        assert base.max() == pytest.approx(2.0, abs=1e-4) and tif.descriptions[2] == "delta"
    assert Image.open(io.BytesIO(files["sun_hours.png"])).size == (10, 6)


def test_sun_hours_lost_by_the_neighbours(
    engine: Engine, settings: Settings, wall: dict[str, int]
) -> None:
    settings.timezone = "Europe/Helsinki"
    with engine.begin() as conn:  # a 40 m block 20 m south of the east wall
        sid = add_scenario(conn, "shade")
        add_box(conn, X0 + 40, Y0 - 30, 20, 10, 40, name="shade", scenario_id=sid)
    ctx = AnalysisContext(engine, settings, Principal("test", "admin"))
    far = sun_hours_lost(ctx, find_scenario(engine, "tower"), date(2026, 6, 21), step_minutes=30)
    assert [b["building_id"] for b in far["buildings"]] == [wall["east"]]  # within 100 m
    doc = sun_hours_lost(ctx, find_scenario(engine, "shade"), date(2026, 6, 21), step_minutes=30)
    got = {b["building_id"]: b for b in doc["buildings"]}
    assert set(got) == {wall["west"], wall["east"]}
    east = got[wall["east"]]
    assert east["mean_sun_hours_lost"] > 0.1 and east["points"] > 0
    assert east["mean_sun_hours_after"] < east["mean_sun_hours_before"]
    lost = sum(b["point_hours_lost"] for b in doc["buildings"])
    assert doc["total"]["point_hours_lost"] == pytest.approx(lost, abs=1e-3)
    assert doc["total"]["m2_hours_lost"] == pytest.approx(lost * 9, rel=1e-3)  # 3 m x 3 m


def test_cli_points_file_and_api_job(
    db_url: str, engine: Engine, settings: Settings, wall: dict[str, int], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("TWIN_DATABASE_URL", db_url)
    monkeypatch.setenv("TWIN_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("TWIN_TIMEZONE", raising=False)
    monkeypatch.setenv("COLUMNS", "500")
    src = tmp_path / "pts.geojson"
    src.write_text(json.dumps(_points(("south", X0 - 30, Y0 - 5), ("north", X0 - 30, Y0 + 7))))
    args = ["analyse", "sunhours", "--points", str(src), "--start", NOON["start"]]
    got = CliRunner().invoke(
        cli_app, [*args, "--end", NOON["end"], "--scenario", "tower", "--json"]
    )
    assert got.exit_code == 0, got.output
    doc = json.loads(got.stdout)
    assert [p["id"] for p in doc["points"]] == ["south", "north"]
    assert doc["points"][0]["sun_hours_delta"] == 0.0
    dated = CliRunner().invoke(cli_app, ["analyse", "sunhours", "--points", str(src),
                                         "--date", "2026-06-21", "--json"])  # fmt: skip
    assert dated.exit_code != 0 and "TWIN_TIMEZONE" in dated.output
    from fastapi.testclient import TestClient

    from twin.app import create_app

    with TestClient(create_app(settings, engine=engine)) as c:
        body = {"grid": [X0 + 150, Y0 - 40, X0 + 170, Y0 - 30], "spacing": 5, **NOON}
        started = c.post("/api/analysis/sunhours", json=body)
        assert started.status_code == 202, started.text
        for _ in range(400):
            state = c.get(started.headers["Location"]).json()
            if state["status"] in ("done", "failed"):
                break
            import time

            time.sleep(0.05)
        assert state["status"] == "done", state
        png = c.get(state["result"]["files"]["sun_hours.png"])
        assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
