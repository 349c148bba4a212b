"""The analyses' one scene: buildings meshed as the tiles mesh them, before and after a
scenario, in one ENU frame with its inverse; rays cast by Embree in-process and in the worker
processes giving the same answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, text

from tests.scene_support import X0, Y0, add_box, add_scenario, remove, working_crs
from twin.analysis.rays import IN_PROCESS_BELOW, RayCaster
from twin.analysis.scene import BUILDING, GROUND, PROJECT, build_scene, find_scenario


@pytest.fixture
def world(engine: Engine) -> dict[str, int]:
    working_crs(engine)
    with engine.begin() as conn:
        north = add_box(conn, X0 - 10, Y0 + 20, 20, 30, 15, name="north")
        east = add_box(conn, X0 + 30, Y0 - 10, 10, 20, 30, name="east")
        sid = add_scenario(conn, "tower")
        tower = add_box(conn, X0 - 10, Y0 - 60, 20, 20, 60, name="tower", scenario_id=sid)
        remove(conn, sid, east)
    return {"north": north, "east": east, "tower": tower, "scenario": sid}


def test_before_and_after_select_as_the_scenario_tileset(
    engine: Engine, world: dict[str, int]
) -> None:
    before = build_scene(engine, X0, Y0, radius=200)
    after = build_scene(engine, X0, Y0, radius=200, scenario=find_scenario(engine, "tower"))
    assert set(before.building[before.kind == BUILDING]) == {world["north"], world["east"]}
    assert set(after.building[after.kind == BUILDING]) == {world["north"]}
    assert set(after.building[after.kind == PROJECT]) == {world["tower"]}
    assert (before.kind == GROUND).sum() == 2 and before.ground_z == 0.0
    with pytest.raises(Exception, match="tower"):
        find_scenario(engine, "nope")


def test_rays_hit_what_stands_there(engine: Engine, world: dict[str, int]) -> None:
    scene = build_scene(engine, X0, Y0, radius=200)
    eye = scene.local(X0, Y0, 1.6)
    with RayCaster(scene) as rays:
        # north: the north box's south wall is 20 m away; up: the sky; down: the ground
        dirs = np.array([[0, 1, 0], [0, 0, 1], [0, 0, -1], [1, 0, 0]], dtype=np.float32)
        prim, t = rays.intersect(np.repeat(eye, 4, axis=0), dirs)
        assert scene.building[prim[0]] == world["north"] and t[0] == pytest.approx(20, abs=0.05)
        assert prim[1] == -1 and np.isinf(t[1])
        assert scene.kind[prim[2]] == GROUND and t[2] == pytest.approx(1.6, abs=0.01)
        assert scene.building[prim[3]] == world["east"] and t[3] == pytest.approx(30, abs=0.05)
        blocked = rays.occluded(np.repeat(eye, 4, axis=0), dirs)
        assert blocked.tolist() == [True, False, True, True]
        assert rays.occluded(eye, dirs[:1], tmax=np.array([19.0])).tolist() == [False]
        # the frame's north is true north: in Helsinki it points 1.79° east of grid north
        # (the meridian convergence), so it meets the wall 0.62 m east of the eye
        hit = eye + dirs[0] * t[0]
        x, y, z = scene.frame.to_working(hit)[0]
        skew = 20 * np.tan(np.radians(1.7873))
        assert (x, y, z) == pytest.approx((X0 + skew, Y0 + 20, 1.6), abs=0.02)


def test_worker_processes_give_the_same_answers(engine: Engine, world: dict[str, int]) -> None:
    scene = build_scene(engine, X0, Y0, radius=200)
    rng = np.random.default_rng(7)
    n = IN_PROCESS_BELOW + 1000
    dirs = rng.normal(size=(n, 3)).astype(np.float32)
    dirs /= np.linalg.norm(dirs, axis=1)[:, None]
    eye = np.repeat(scene.local(X0, Y0, 1.6), n, axis=0)
    with RayCaster(scene, processes=1) as one, RayCaster(scene, processes=2) as two:
        p1, t1 = one.intersect(eye, dirs)
        p2, t2 = two.intersect(eye, dirs)
        assert (p1 == p2).all() and np.allclose(t1, t2)
        assert (one.occluded(eye, dirs) == two.occluded(eye, dirs)).all()
        assert (p1 >= 0).mean() > 0.5  # the lower half sees the ground, some rays a wall


def test_the_ground_is_the_dem_where_the_twin_has_one(
    engine: Engine, world: dict[str, int], tmp_path: Path
) -> None:
    """On a DEM rising 0.1 m per metre east and 0.05 m per metre north, a ray straight down
    from 1.6 m above the ground meets it after 1.6 m anywhere on it, the boxes (placed on
    their lowest ground by the DEM import) stand on it, and the plane stays under it."""
    from geodata.importers.dem import import_dem
    from tests.flood_support import write_tif

    size, x0, y0 = 400, X0 - 200, Y0 + 200
    rows, cols = np.indices((size, size))
    z = 20 + 0.1 * (cols + 0.5) + 0.05 * (size - rows - 0.5)  # at cell centres
    import_dem(engine, write_tif(tmp_path / "slope.tif", z, x0=x0, y0=y0))

    def ground(x: float, y: float) -> float:
        return 20 + 0.1 * (x - x0) + 0.05 * (y - (y0 - size))

    scene = build_scene(engine, X0, Y0, radius=200)
    assert scene.ground_z == pytest.approx(ground(X0, Y0), abs=1e-3)
    assert (scene.kind == GROUND).sum() > 1000
    pts = [(X0, Y0 - 5), (X0 - 150, Y0 + 120), (X0 + 170, Y0 - 160)]
    eyes = np.concatenate([scene.local(x, y, ground(x, y) + 1.6) for x, y in pts])
    down = np.tile(np.array([[0, 0, -1]], np.float32), (len(pts), 1))
    with RayCaster(scene) as rays:
        prim, t = rays.intersect(eyes, down)
    assert (scene.kind[prim] == GROUND).all()
    assert t == pytest.approx([1.6] * len(pts), abs=0.01)
    with engine.connect() as conn:
        north = conn.execute(
            text("SELECT base_z, z_source FROM buildings WHERE id = :i"), {"i": world["north"]}
        ).one()
    # the north box's lowest corner is its south-west one, (X0 - 10, Y0 + 20)
    assert north.z_source == "dem" and north.base_z == pytest.approx(ground(X0 - 10, Y0 + 20))
