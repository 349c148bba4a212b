"""Benchmark: a sun-hours ground grid around the demo project against raw embreex.

The work (issue #12): a 2 m grid around the demo's project (its site's box plus
``--around`` metres), one day (the June solstice: Helsinki's longest, the most sun-up
steps), 10-minute steps. The project's side is :func:`twin.analysis.sunhours_core.sunlit`
(facing test, one occlusion ray per facing point per sun-up step, batched to the
:class:`~twin.analysis.rays.RayCaster`'s worker processes); the peer is raw embreex on the
same scene, origins and directions: one ``EmbreeScene.run(..., query='OCCLUDED')`` per step
in one process, as a hand-written loop would. Both are timed warm (the worker pool started
by a first run), best of ``--rounds``; the whole analysis (scenes from PostGIS, points,
SPA, rays, GeoTIFF and PNGs) is timed too. Target: within 2x of raw embreex.

The script starts a private PostGIS cluster (temp dir, free port) and loads the demo.

    .venv/bin/python bench/sunhours.py [--around 50] [--step 10] [--rounds 3] [--date 2026-06-21]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.access import private_postgis
from geodata.access import Principal
from geodata.demo import load_demo
from twin.analysis.base import AnalysisContext
from twin.analysis.rays import RayCaster, processes_for
from twin.analysis.sunhours import (
    SunHours,
    SunHoursParams,
    period_of,
    place_of,
    scenes_for,
)
from twin.analysis.sunhours_core import step_times, sun_steps, sunlit
from twin.analysis.sunpoints import ground_grid
from twin.settings import Settings

console = Console()


def raw_embreex(soup: np.ndarray, origins: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    """The peer: one occlusion query per step over all points, one process."""
    from embreex import rtcore_scene as rtcs
    from embreex.mesh_construction import TriangleMesh

    scene = rtcs.EmbreeScene()
    TriangleMesh(scene, soup)
    o = np.ascontiguousarray(origins, np.float32)
    lit = np.zeros((len(o), len(dirs)), bool)
    for t, d in enumerate(dirs.astype(np.float32)):
        rays = np.ascontiguousarray(np.broadcast_to(d, o.shape))
        lit[:, t] = np.asarray(scene.run(o, rays, query="OCCLUDED")) < 0
    return lit


def best(fn, rounds: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    times, out = [], None
    for _ in range(rounds):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--around", type=float, default=50.0, help="metres around the site's box")
    ap.add_argument("--spacing", type=float, default=2.0)
    ap.add_argument("--step", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--date", default="2026-06-21")
    args = ap.parse_args()
    with private_postgis("sunhours") as db, tempfile.TemporaryDirectory() as tmp:
        console.print("loading the demo district…")
        load_demo(db.engine, synthetic_city=0)
        with db.engine.connect() as conn:
            b = conn.execute(
                text("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT "
                     "ST_Extent(site)::geometry AS e FROM projects WHERE slug = 'new-block') s")
            ).one()  # fmt: skip
        box = (b[0] - args.around, b[1] - args.around, b[2] + args.around, b[3] + args.around)
        settings = Settings(database_url=db.url, data_dir=Path(tmp), timezone="Europe/Helsinki",
                            _env_file=None)  # type: ignore[call-arg]  # fmt: skip
        ctx = AnalysisContext(db.engine, settings, Principal("bench", "admin"))
        params = SunHoursParams.model_validate(
            {"grid": list(box), "spacing": args.spacing, "date": date.fromisoformat(args.date),
             "step": args.step}
        )  # fmt: skip
        period = period_of(params, settings.timezone)
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        radius = float(np.hypot(box[2] - box[0], box[3] - box[1])) / 2 + params.margin
        scene = scenes_for(db.engine, cx, cy, radius, None)["baseline"]
        procs = processes_for(settings.analysis_processes)
        with RayCaster(scene, 1) as rays:
            points, shape, _ = ground_grid(scene, rays, box, args.spacing)
        sun = sun_steps(step_times(period.start, period.end, args.step),
                        *place_of(scene.frame.epsg, cx, cy))  # fmt: skip
        dirs = sun["dirs"]
        n_rays = len(points) * len(dirs)
        ours: dict[int, float] = {}
        for n in sorted({1, procs}):
            with RayCaster(scene, n) as rays:
                sunlit(rays, points.origins, points.normals, dirs)  # warm the worker pool
                ours[n], lit = best(lambda: sunlit(rays, points.origins, points.normals, dirs),
                                    args.rounds)  # fmt: skip
        peer, plit = best(lambda: raw_embreex(scene.soup(), points.origins, dirs), args.rounds)
        assert (lit == plit).all(), "the project and raw embreex disagree on the same rays"
        whole, _ = best(lambda: SunHours().run(ctx, params), 1)
    table = Table(title=f"sun hours: {shape[0]} x {shape[1]} grid at {args.spacing} m, "
                        f"{len(points):,} ground points, {len(dirs)} sun-up steps of "
                        f"{args.step:g} min, {len(scene.triangles):,} triangles")  # fmt: skip
    for col in ("what", "seconds", "M rays/s", "ratio to raw embreex"):
        table.add_column(col)
    table.add_row("raw embreex, 1 process, one run per step", f"{peer:.3f}",
                  f"{n_rays / peer / 1e6:.2f}", "1.00")  # fmt: skip
    for n, secs in ours.items():
        table.add_row(f"twin sunlit(), RayCaster of {n} process(es)", f"{secs:.3f}",
                      f"{n_rays / secs / 1e6:.2f}", f"{secs / peer:.2f}")  # fmt: skip
    table.add_row("twin analysis end to end (PostGIS, points, SPA, files)", f"{whole:.3f}",
                  f"{n_rays / whole / 1e6:.2f}", f"{whole / peer:.2f}")  # fmt: skip
    console.print(table)
    console.print(f"rays: {n_rays:,}; target: the twin within 2x of raw embreex "
                  f"({'met' if min(ours.values()) / peer <= 2 else 'NOT met'} for the rays, "
                  f"{'met' if whole / peer <= 2 else 'not met'} end to end)")  # fmt: skip


if __name__ == "__main__":
    main()
