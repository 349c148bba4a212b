"""Benchmark: the balcony renderer (twin.analysis.rays through twin.analysis.balcony) against
raw embreex on the same scene and the same rays, in one run, on the demo district.

Why: the issue's targets are at least 70% of raw embreex's throughput using both cores, and a
2048 x 1024 panorama of the demo district in under 1 s end to end. The peers:

- raw embreex, 1 process: one ``EmbreeScene.run`` call on all the panorama's rays (origins and
  directions already in memory, the scene already built): Embree's own speed here;
- raw embreex, N processes: each process holds the scene and its share of the rays already,
  and times only its ``run`` call: the ceiling of any multi-process caster on this machine.

The renderer is timed as an analysis meets it: ``render`` (the rays' directions generated,
shared with the worker processes, cast, the hits turned into kinds) on a warm pool; then end
to end, a panorama from nothing (the scene loaded from PostGIS and meshed, cast, drawn as PNG)
and the whole ``balcony`` analysis (before and after the demo project, POIs, three PNGs).

    .venv/bin/python bench/rays.py [--width 2048] [--processes 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

console = Console(width=110)


def _raw_worker(args: tuple[Any, ...]) -> tuple[float, float]:
    """One process of the raw peer: build the scene, then time one run on its rays (wall
    and CPU seconds)."""
    soup, origins, dirs = args
    from twin.analysis.rays import _embree

    scene = _embree(soup)
    scene.run(origins[:1000], dirs[:1000], output=1)  # warm
    t0, c0 = time.perf_counter(), time.process_time()
    scene.run(origins, dirs, output=1)
    return time.perf_counter() - t0, time.process_time() - c0


def raw_parallel(soup: Any, origins: Any, dirs: Any, processes: int) -> tuple[float, float]:
    """Wall time of the slowest process when each casts its share at the same moment, and
    the CPU seconds of all."""
    parts = np.array_split(np.arange(len(dirs)), processes)
    with mp.get_context("spawn").Pool(processes) as pool:
        times = pool.map(_raw_worker, [(soup, origins[p], dirs[p]) for p in parts])
    return max(t[0] for t in times), sum(t[1] for t in times)


def cpu_seconds() -> float:
    """CPU seconds of this process and of the ray caster's worker processes so far: on a
    shared machine, wall time measures the neighbours' load; CPU time measures the work."""
    from twin.analysis import rays

    total = time.process_time()
    tick = os.sysconf("SC_CLK_TCK")
    for proc in getattr(rays._pool, "_pool", []) or []:
        try:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


def demo_balcony(engine: Any) -> dict[str, Any]:
    """A balcony near the demo project's site: a baseline building of 3+ levels 60-400 m
    from the site's centre, its top floor but one, looking at the site."""
    from sqlalchemy import text

    with engine.connect() as conn:
        row = conn.execute(
            text(
                "WITH s AS (SELECT ST_Centroid(site) AS c FROM projects WHERE slug = 'new-block') "
                "SELECT b.id, b.levels, ST_X(s.c), ST_Y(s.c), ST_X(ST_Centroid(b.footprint)), "
                "ST_Y(ST_Centroid(b.footprint)) FROM buildings b, s WHERE b.scenario_id IS NULL "
                "AND b.levels >= 3 AND ST_Distance(b.footprint, s.c) BETWEEN 60 AND 400 "
                "ORDER BY ST_Distance(b.footprint, s.c) LIMIT 1"
            )
        ).one()
    from twin.analysis.place import resolve_place

    bid, levels, sx, sy, bx, by = row
    place = resolve_place(3067, x=bx, y=by)
    grid = math.degrees(math.atan2(sx - bx, sy - by)) % 360
    return {"building": int(bid), "floor": int(levels) - 2, "heading": place.true_azimuth(grid)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--width", type=int, default=2048)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from bench.access import private_postgis
    from geodata.access import Principal
    from geodata.demo import load_demo
    from twin.analysis.balcony import BalconyView, locate, render
    from twin.analysis.base import AnalysisContext
    from twin.analysis.panorama import directions
    from twin.analysis.rays import RayCaster, _embree
    from twin.analysis.registry import get_analysis
    from twin.analysis.runner import parse_params
    from twin.analysis.scene import build_scene, find_scenario
    from twin.settings import Settings

    with private_postgis("rays") as db:
        with console.status("loading the demo district"):
            load_demo(db.engine)
        settings = Settings(
            database_url=db.url,
            data_dir=db.work / "var",
            analysis_processes=args.processes,
            _env_file=None,
        )
        ctx = AnalysisContext(db.engine, settings, Principal("bench", "admin"))
        where = demo_balcony(db.engine)
        raw = {**where, "width": args.width, "scenario": "new-block"}
        params = parse_params(get_analysis("balcony"), raw)
        eye = locate(ctx, params, find_scenario(db.engine, "new-block"))  # type: ignore[arg-type]
        scene = build_scene(db.engine, eye.x, eye.y)
        origin = scene.local(eye.x, eye.y, eye.z)[0].astype(np.float32)
        dirs = directions(args.width, where["heading"])
        origins = np.ascontiguousarray(np.broadcast_to(origin, dirs.shape))
        n = len(dirs)
        console.print(
            f"[bench] scene: {len(scene.triangles):,} triangles; {n:,} rays "
            f"({args.width} x {args.width // 2}) from building {where['building']} floor "
            f"{where['floor']}, heading {where['heading']:.1f}° (true)"
        )
        # raw embreex, one process, one run call
        embree = _embree(scene.soup())
        embree.run(origins[:1000], dirs[:1000], output=1)
        raw1, raw1_cpu = [], []
        for _ in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            embree.run(origins, dirs, output=1)
            raw1.append(time.perf_counter() - t0)
            raw1_cpu.append(time.process_time() - c0)
        rawn_both = [
            raw_parallel(scene.soup(), origins, dirs, args.processes) for _ in range(args.repeat)
        ]
        rawn, rawn_cpu = [t[0] for t in rawn_both], [t[1] for t in rawn_both]
        # the renderer on a warm pool
        with RayCaster(scene, processes=args.processes) as caster:
            render(caster, origin, args.width, where["heading"])  # warm: the pool, the scene
            ours, ours_cpu = [], []
            for _ in range(args.repeat):
                t0, c0 = time.perf_counter(), cpu_seconds()
                render(caster, origin, args.width, where["heading"])
                ours.append(time.perf_counter() - t0)
                ours_cpu.append(cpu_seconds() - c0)
            # end to end: one panorama from nothing (scene from PostGIS, cast, PNG)
            e2e, parts, e2e_cpu = [], [], []
            for _ in range(args.repeat):
                t0, c0 = time.perf_counter(), cpu_seconds()
                s = build_scene(db.engine, eye.x, eye.y)
                t1 = time.perf_counter()
                with RayCaster(s, processes=args.processes) as c2:
                    pano = render(c2, s.local(eye.x, eye.y, eye.z)[0], args.width, where["heading"])
                t2 = time.perf_counter()
                pano.png()
                t3 = time.perf_counter()
                e2e.append(t3 - t0)
                e2e_cpu.append(cpu_seconds() - c0)
                parts.append((t1 - t0, t2 - t1, t3 - t2))
        whole = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            doc = BalconyView().run(ctx, params).data  # type: ignore[arg-type]
            whole.append(time.perf_counter() - t0)

    r1, rn, us = statistics.median(raw1), statistics.median(rawn), statistics.median(ours)
    c1, cn, cu = (statistics.median(v) for v in (raw1_cpu, rawn_cpu, ours_cpu))
    table = Table(title=f"{n:,} panorama rays on the demo district ({args.processes} processes)")
    cols = ("what", "wall s", "M rays/s", "CPU s", "M rays/CPU s", f"vs raw {args.processes}")
    for col in cols:
        table.add_column(col, justify="right" if col != "what" else "left")
    for what, t, c in (
        ("raw embreex, 1 process, one run call", r1, c1),
        (f"raw embreex, {args.processes} processes (run calls only)", rn, cn),
        (f"renderer (render, {args.processes} processes, warm pool)", us, cu),
    ):
        table.add_row(
            what, f"{t:.3f}", f"{n / t / 1e6:.2f}", f"{c:.3f}", f"{n / c / 1e6:.2f}",
            f"{rn / t:.2f}",
        )  # fmt: skip
    console.print(table)
    console.print(
        f"[bench] renderer / raw embreex on {args.processes} processes: {rn / us:.2f} by wall "
        f"time (target ≥ 0.70); by CPU time (the work, whatever the neighbours' load): "
        f"{cn / cu:.2f} of raw on {args.processes}, {c1 / cu:.2f} of raw on 1"
    )
    e2e_c = statistics.median(e2e_cpu)
    console.print(
        f"[bench] one {args.width} x {args.width // 2} panorama end to end (scene from PostGIS, "
        f"cast, PNG): {statistics.median(e2e):.3f} s (target < 1 s): scene "
        f"{statistics.median(p[0] for p in parts):.3f} s, rays "
        f"{statistics.median(p[1] for p in parts):.3f} s, PNG "
        f"{statistics.median(p[2] for p in parts):.3f} s; CPU "
        f"{e2e_c:.3f} s (with {args.processes} free cores at least {e2e_c / args.processes:.3f} s "
        "of wall time, at most the CPU time)"
    )
    console.print(
        f"[bench] the balcony analysis (before + after + POIs + 3 PNGs): "
        f"{statistics.median(whole):.3f} s; svf_cos {doc['before']['svf_cos']:.3f} -> "
        f"{doc['after']['svf_cos']:.3f}, blocked view share {doc['blocked_view_share']:.3f}"
    )


if __name__ == "__main__":
    main()
