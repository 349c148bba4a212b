"""The balcony view against known answers on hand-built scenes: the infinite street canyon's
sky-view factor in both definitions, a round wall of 45° that blocks 70.7% of the hemisphere
(but half its pixels), the eye where the viewer's balcony camera stands, POIs behind a
project, and bad input refused before anything is written."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from geodata.access import Principal
from geodata.errors import InputError, NotFound
from tests.scene_support import X0, Y0, add_box, add_ring, add_scenario, working_crs
from twin.analysis.balcony import BalconyView, look
from twin.analysis.base import AnalysisContext
from twin.analysis.eye import EYE_HEIGHT_M, FACADE_STEP_M, storeys
from twin.analysis.panorama import PROJECT, Weights
from twin.analysis.place import resolve_place
from twin.analysis.registry import get_analysis
from twin.analysis.runner import parse_params, run_analysis
from twin.analysis.scene import find_scenario
from twin.cli import app as cli_app
from twin.settings import Settings

EYE = 0.05  # the eye just above the canyon's floor; walls are H above the eye


def ctx_for(engine: Engine, settings: Settings, role: str = "admin") -> AnalysisContext:
    return AnalysisContext(engine, settings, Principal("test", role))


def run(ctx: AnalysisContext, **raw: object) -> dict:  # type: ignore[type-arg]
    analysis = get_analysis("balcony")
    return run_analysis(analysis, ctx, parse_params(analysis, raw), use_cache=False).stored.data


def add_poi(conn: object, x: float, y: float, z: float, sid: str) -> None:
    conn.execute(  # type: ignore[attr-defined]
        text(
            "INSERT INTO pois (name, geom, source, source_id) VALUES "
            "(:n, ST_SetSRID(ST_MakePoint(:x, :y, :z), 3067), 'test', :sid)"
        ),
        {"n": f"poi {sid}", "x": x, "y": y, "z": z, "sid": sid},
    )


def test_formulas_of_the_known_answers() -> None:
    """The canyon's answers from the definitions: seen from the floor's middle, the sky is
    the wedge within atan(W / 2H) of the zenith across the street. Cos-weighted (a 2-D view
    factor): sin(atan(W / 2H)) = cos(atan(2H / W)) = 1/√5 for H/W = 1; by solid angle: a
    dihedral wedge of angle 2α holds 4α of 4π sr, so 2α/π = 1 − (2/π)·atan 2."""
    alpha = math.atan(0.5)
    assert math.sin(alpha) == pytest.approx(1 / math.sqrt(5))
    assert 2 * alpha / math.pi == pytest.approx(1 - 2 / math.pi * math.atan(2))
    # an upper hemisphere's weights sum to 2π (solid angle) and π (cos-weighted)
    w = Weights.of(512)
    assert (w.solid * 512).sum() == pytest.approx(4 * math.pi)
    assert (w.cos * 512).sum() == pytest.approx(math.pi)


def test_street_canyon_sky_view_factor(engine: Engine, settings: Settings) -> None:
    working_crs(engine)
    h = w = 20.0
    with engine.begin() as conn:
        add_box(conn, X0 - w / 2 - 5, Y0 - 1000, 5, 2000, h + EYE, name="west")
        add_box(conn, X0 + w / 2, Y0 - 1000, 5, 2000, h + EYE, name="east")
    doc = run(ctx_for(engine, settings), x=X0, y=Y0, z=EYE, heading=0.0, width=1024)
    assert doc["before"]["svf_cos"] == pytest.approx(1 / math.sqrt(5), abs=0.005)
    assert doc["before"]["svf_solid_angle"] == pytest.approx(
        1 - 2 / math.pi * math.atan(2), abs=0.005
    )
    assert doc["after"] == doc["before"] and doc["blocked_hemisphere_share"] == 0.0
    assert doc["eye_z"] == EYE and doc["width"] == 1024 and doc["height"] == 512


def test_round_wall_blocks_by_solid_angle_not_pixels(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    working_crs(engine)
    with engine.begin() as conn:
        sid = add_scenario(conn, "ring")
        add_ring(conn, X0, Y0, 20.0, 21.0, 20.0 + EYE, name="ring", scenario_id=sid)
        add_poi(conn, X0 + 60, Y0, 0.0, "behind")  # seen before, hidden by the ring after
        tower = add_box(conn, X0 - 10, Y0 + 150, 20, 20, 60, name="landmark")
        add_poi(conn, X0, Y0 + 160, 0.0, "in-landmark")  # inside a tall building: seen by it
    ctx = ctx_for(engine, settings)
    doc = run(ctx, x=X0, y=Y0, z=EYE, heading=90.0, width=1024, scenario="ring")
    assert doc["blocked_hemisphere_share"] == pytest.approx(math.sqrt(2) / 2, abs=0.005)
    assert doc["blocked_view_share"] == pytest.approx(0.5, abs=0.005)
    assert doc["after"]["svf_cos"] == pytest.approx(0.5, abs=0.005)  # cos² 45°
    assert doc["after"]["svf_solid_angle"] == pytest.approx(1 - math.sqrt(2) / 2, abs=0.005)
    # the landmark stands in the sky's way before: the before sky is all but its patch
    assert doc["before"]["svf_solid_angle"] > 0.98
    # half of the upper pixels show the wall: the share above is not a pixel count
    views = look(ctx, X0, Y0, EYE, 90.0, find_scenario(engine, "ring"), width=1024, radius=500)
    upper = views.after.kind[: views.after.kind.shape[0] // 2]
    assert (upper == PROJECT).mean() == pytest.approx(0.5, abs=0.005)
    before = {p["source_id"] for p in doc["before"]["pois_visible"]}
    after = {p["source_id"] for p in doc["after"]["pois_visible"]}
    assert before == {"behind", "in-landmark"} and after == set()
    assert tower > 0
    behind = next(p for p in doc["before"]["pois_visible"] if p["source_id"] == "behind")
    # true azimuth of a point due grid-east: 90° plus the meridian convergence (−1.79°)
    assert behind["azimuth"] == pytest.approx(90 - 1.787, abs=0.05)
    assert behind["name"] == "poi behind" and behind["distance_m"] == pytest.approx(60, abs=0.1)


def test_panorama_files_are_2_to_1_heading_centred(engine: Engine, settings: Settings) -> None:
    working_crs(engine)
    with engine.begin() as conn:
        sid = add_scenario(conn, "east-block")
        add_box(conn, X0 + 30, Y0 - 10, 20, 20, 40, name="project", scenario_id=sid)
    analysis = get_analysis("balcony")
    raw = {"x": X0, "y": Y0, "z": 1.5, "heading": 90.0, "width": 256, "scenario": "east-block"}
    params = parse_params(analysis, raw)
    result = BalconyView().run(ctx_for(engine, settings), params)  # type: ignore[arg-type]
    assert set(result.files) == {"before.png", "after.png", "compare.png"}
    after = np.asarray(Image.open(io.BytesIO(result.files["after.png"])).convert("RGB"))
    before = np.asarray(Image.open(io.BytesIO(result.files["before.png"])).convert("RGB"))
    assert after.shape == (128, 256, 3) and before.shape == (128, 256, 3)
    # the project is due east, the heading: the centre column just above the horizon is
    # orange after, sky before; the left edge (the back, west) is sky in both
    centre, above = 128, 60
    assert tuple(after[above, centre]) != tuple(before[above, centre])
    assert after[above, centre, 0] > after[above, centre, 2]  # orange: red over blue
    assert before[above, centre, 2] > before[above, centre, 0]  # sky: blue over red
    assert tuple(after[above, 2]) == tuple(before[above, 2])


def test_eye_stands_where_the_viewer_camera_stands(engine: Engine, settings: Settings) -> None:
    working_crs(engine)
    with engine.begin() as conn:
        home = add_box(conn, X0 - 10, Y0 - 10, 20, 20, 15, name="home", levels=5, base_z=2.0)
        plain = add_box(conn, X0 + 100, Y0, 10, 10, 10, name="plain")  # no levels
    ctx = ctx_for(engine, settings)
    doc = run(ctx, building=home, floor=3, heading=180.0, width=64)
    # viewer's rule (ProjectMode.ts balconyHeight): base + floor x height/levels + 1.5
    assert doc["eye_z"] == pytest.approx(2.0 + 3 * 15 / 5 + EYE_HEIGHT_M)
    assert doc["storey_height"] == pytest.approx(3.0)
    # heading south (true): the south wall's middle, a step outside, along the heading
    conv = resolve_place(3067, x=X0, y=Y0).convergence
    grid = math.radians(180.0 - conv)
    reach = 10 / abs(math.cos(grid))
    assert doc["eye"]["x"] == pytest.approx(X0 + (reach + FACADE_STEP_M) * math.sin(grid), abs=0.01)
    assert doc["eye"]["y"] == pytest.approx(Y0 - 10 - FACADE_STEP_M * abs(math.cos(grid)), abs=0.01)
    assert doc["grid_heading"] == pytest.approx((180.0 - conv) % 360)
    # without levels: the twin's storey height, floors = height // storey
    assert storeys(10.0, None, settings.storey_height).floors == 3
    doc = run(ctx, building=plain, floor=2, heading=0.0, width=64)
    assert doc["eye_z"] == pytest.approx(2 * settings.storey_height + EYE_HEIGHT_M)
    with pytest.raises(InputError, match=r"floor 3 is out of range.*0 \(ground\) to 2"):
        run(ctx, building=plain, floor=3, heading=0.0, width=64)


def test_bad_input_names_the_fix_and_writes_nothing(engine: Engine, settings: Settings) -> None:
    working_crs(engine)
    with engine.begin() as conn:
        box = add_box(conn, X0 - 10, Y0 - 10, 20, 20, 15, name="box")
        add_scenario(conn, "known-one")
    ctx = ctx_for(engine, settings)
    results = settings.analysis_dir / "results"
    with pytest.raises(InputError, match=f"inside building {box}.*--building ID --floor N"):
        run(ctx, x=X0, y=Y0, z=5.0, heading=0.0)
    with pytest.raises(NotFound, match="no existing building 999999"):
        run(ctx, building=999999, floor=0, heading=0.0)
    with pytest.raises(NotFound, match="no scenario 'nope'; known: known-one"):
        run(ctx, x=X0 + 50, y=Y0, z=5.0, heading=0.0, scenario="nope")
    with pytest.raises(InputError, match="heading"):
        run(ctx, x=X0 + 50, y=Y0, z=5.0, heading=360.0)
    with pytest.raises(InputError, match="heading"):
        run(ctx, x=X0 + 50, y=Y0, z=5.0, heading=-1.0)
    with pytest.raises(InputError, match="floor"):
        run(ctx, building=box, floor=-1, heading=0.0)
    with pytest.raises(InputError, match="--x, --y and --z"):
        run(ctx, x=X0 + 50, y=Y0, heading=0.0)
    with pytest.raises(InputError, match="in one way"):
        run(ctx, x=X0 + 50, y=Y0, z=1.0, building=box, floor=0, heading=0.0)
    with pytest.raises(InputError, match="even width"):
        run(ctx, x=X0 + 50, y=Y0, z=1.0, heading=0.0, width=101)
    with pytest.raises(InputError, match="outside what EPSG:3067"):
        run(ctx, x=1e8, y=1e8, z=1.0, heading=0.0)
    with pytest.raises(InputError, match="x"):
        run(ctx, x=1e9, y=Y0, z=1.0, heading=0.0)
    assert not results.exists() or not any(results.rglob("*.png"))


def test_cli_writes_the_panoramas(
    engine: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    working_crs(engine)
    with engine.begin() as conn:
        sid = add_scenario(conn, "east-block")
        add_box(conn, X0 + 30, Y0 - 10, 20, 20, 40, name="project", scenario_id=sid)
    monkeypatch.setenv("TWIN_DATABASE_URL", db_url)
    monkeypatch.setenv("TWIN_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.chdir(tmp_path)
    args = ["analyse", "balcony", "--x", str(X0), "--y", str(Y0), "--z", "1.5", "--heading", "90"]
    args += ["--scenario", "east-block", "--width", "128", "--out", str(tmp_path / "out"), "--json"]
    got = CliRunner().invoke(cli_app, args)
    assert got.exit_code == 0, got.output
    doc = json.loads(got.stdout)
    for key in ("blocked_hemisphere_share", "blocked_view_share", "eye_z"):
        assert key in doc
    for side in ("before", "after"):
        assert {"svf_cos", "svf_solid_angle", "pois_visible"} <= set(doc[side])
    assert doc["after"]["svf_cos"] < doc["before"]["svf_cos"]
    assert doc["blocked_hemisphere_share"] > 0.05
    for name in ("before.png", "after.png", "compare.png"):
        assert (tmp_path / "out" / name).stat().st_size > 100
    bad = CliRunner().invoke(cli_app, [*args[:-5], "--scenario", "nope", "--json"])
    assert bad.exit_code != 0 and "east-block" in bad.output


def test_api_open_to_citizens_but_a_restricted_project_is_not(
    engine: Engine, settings: Settings
) -> None:
    from fastapi.testclient import TestClient

    from twin.accounts import create_user
    from twin.app import create_app

    working_crs(engine)
    with engine.begin() as conn:
        sid = add_scenario(conn, "east-block")
        add_box(conn, X0 + 30, Y0 - 10, 20, 20, 40, name="project", scenario_id=sid)
        pid = conn.execute(
            text(
                "INSERT INTO projects (slug, name, visibility) VALUES ('secret', 'S', 'agent') "
                "RETURNING id"
            )
        ).scalar_one()
        hidden = add_scenario(conn, "secret-block")
        conn.execute(
            text("UPDATE scenarios SET project_id = :p WHERE id = :s"), {"p": pid, "s": hidden}
        )
    citizen = {"Authorization": f"Bearer {create_user(engine, 'u-citizen', 'citizen')}"}
    agent = {"Authorization": f"Bearer {create_user(engine, 'u-agent', 'agent')}"}
    body = {"x": X0, "y": Y0, "z": 1.5, "heading": 90.0, "width": 128}
    with TestClient(create_app(settings, engine=engine)) as c:
        for headers in ({}, citizen):
            got = c.post("/api/analysis/balcony", json={**body, "scenario": "east-block"},
                         headers=headers)  # fmt: skip
            assert got.status_code == 200, got.text
            doc = got.json()
            assert doc["blocked_hemisphere_share"] > 0.05
            png = c.get(doc["files"]["after.png"], headers=headers)
            assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
        secret = {**body, "scenario": "secret-block"}
        assert c.post("/api/analysis/balcony", json=secret).status_code == 401
        assert c.post("/api/analysis/balcony", json=secret, headers=citizen).status_code == 403
        assert c.post("/api/analysis/balcony", json=secret, headers=agent).status_code == 200
        got = c.post("/api/analysis/balcony", json={**body, "scenario": "nope"})
        assert got.status_code == 404 and "east-block" in got.text
        got = c.post("/api/analysis/balcony", json={**body, "heading": 400})
        assert got.status_code == 400 and "heading" in got.text


def test_panorama_rays_made_in_the_workers_give_the_same_answers(engine: Engine) -> None:
    from twin.analysis.panorama import directions
    from twin.analysis.rays import IN_PROCESS_BELOW, RayCaster
    from twin.analysis.scene import build_scene

    working_crs(engine)
    with engine.begin() as conn:
        add_box(conn, X0 - 10, Y0 + 20, 20, 30, 15, name="north")
        add_box(conn, X0 + 30, Y0 - 10, 10, 20, 30, name="east")
    scene = build_scene(engine, X0, Y0, radius=200)
    eye = scene.local(X0, Y0, 1.6)[0]
    width = 512
    assert width * width // 2 > IN_PROCESS_BELOW  # the pool's path
    with RayCaster(scene, processes=1) as one, RayCaster(scene, processes=2) as two:
        p1, t1 = one.intersect(eye, directions(width, 33.0))
        p2, t2 = two.panorama(eye, width, 33.0)
        p3, _ = one.panorama(eye, width, 33.0)
    assert (p1 == p2).all() and (p1 == p3).all() and np.allclose(t1, t2)
    assert 0.3 < (p1 >= 0).mean() < 0.9


def test_view_change_for_the_scenarios_compare(engine: Engine, settings: Settings) -> None:
    from twin.analysis.balcony import view_change

    working_crs(engine)
    with engine.begin() as conn:
        sid = add_scenario(conn, "ring")
        add_ring(conn, X0, Y0, 20.0, 21.0, 20.0 + EYE, name="ring", scenario_id=sid)
    got = view_change(
        ctx_for(engine, settings),
        find_scenario(engine, "ring"),
        [(X0, Y0, EYE, 0.0), (X0 + 200, Y0, 1.5, 270.0)],
        width=512,
    )
    assert len(got) == 2
    inside, far = got
    assert inside["blocked_hemisphere_share"] == pytest.approx(math.sqrt(2) / 2, abs=0.01)
    assert inside["before"]["svf_cos"] == pytest.approx(1.0, abs=0.001)
    assert inside["after"]["svf_cos"] == pytest.approx(0.5, abs=0.01)
    # 200 m east, looking west at the ring: a sliver of the hemisphere, more of the view
    assert 0 < far["blocked_hemisphere_share"] < far["blocked_view_share"] < 0.05
    assert far["x"] == X0 + 200 and far["heading"] == 270.0


def test_a_shared_wall_moves_the_balcony_along_the_facade(
    engine: Engine, settings: Settings
) -> None:
    working_crs(engine)
    with engine.begin() as conn:
        home = add_box(conn, X0 - 10, Y0 - 10, 20, 20, 15, name="home", levels=5)
        add_box(conn, X0 - 10, Y0 - 30, 20, 20, 15, name="neighbour", levels=5)  # south, shared
    doc = run(ctx_for(engine, settings), building=home, floor=2, heading=180.0, width=64)
    # the south wall is shared: the free wall facing most south (west: the grid heading is
    # 181.79°), at its southern end, a step out square to it
    assert doc["eye"]["x"] == pytest.approx(X0 - 10 - FACADE_STEP_M, abs=0.01)
    assert Y0 - 10 < doc["eye"]["y"] < Y0 - 8
