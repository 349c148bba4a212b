"""Benchmark: buildings tileset from PostGIS, ours against ``py3dtiles export``, same table.

    .venv/bin/python bench/tiles.py --sizes 10000 100000
    .venv/bin/python bench/tiles.py --incremental --sizes 100000 1000000

``--incremental`` runs, per size, a full build, an unchanged rebuild, a 1% clustered
change (a square block of the synthetic grid) and a 1% scattered change (every 100th id),
and prints each build's time as a share of the full build. The peers (py3dtiles,
pg2b3dm) have no incremental mode: every change costs them a full export. ``--repeat R``
runs every step R times (the same change again) and reports medians: on these machines one
build moves by a quarter either way.

For each size N it starts the project's embedded PostgreSQL on a free port in a temporary
folder (never the machine's own), generates N buildings in SQL (tiles.synthetic), then runs:

- ours: ``tiles.build.build_tileset`` in a child process (all cores); buildings/s is taken
  over the build itself and, end to end, over the whole process (interpreter start and
  imports included, as py3dtiles' figure is);
- py3dtiles: ``py3dtiles export`` on a MultiPolygonZ table made from the same footprints with
  postgis_sfcgal's ST_Extrude (py3dtiles cannot extrude; making that table is not timed).

Each run's peak memory is the largest total RSS of the process and all its descendants,
sampled from /proc every 50 ms (our build forks workers; a single ru_maxrss would miss the
sum). It prints buildings/s for both, the ratio, peak RSS, output bytes, and the share of our
tileset fetched for the first full view (root + first level).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The parent's imports (alembic, the ORM models, the embedded cluster) are done in the
# functions that need them, so the child process that runs our build imports only what a
# `twin tiles build` needs and its start-up time is not inflated by the benchmark itself.


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_PAGE = os.sysconf("SC_PAGE_SIZE")


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.scandir(f"/proc/{pid}/task"):
            with open(f"{task.path}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def _tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants (Linux /proc, children files)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * _PAGE
        except OSError:
            continue
        todo += _children(p)
    return total


def run_measured(argv: list[str], **kw: object) -> tuple[float, int, subprocess.CompletedProcess]:
    """Run a command; return (seconds, peak tree RSS in bytes, completed process)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)  # type: ignore[call-overload]
    peak = 0
    done = threading.Event()

    def poll() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            time.sleep(0.05)

    th = threading.Thread(target=poll, daemon=True)
    th.start()
    out, err = proc.communicate()
    done.set()
    th.join()
    seconds = time.perf_counter() - t0
    return seconds, peak, subprocess.CompletedProcess(argv, proc.returncode, out, err)


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def child_build(url: str, out: str, workers: int | None, full: bool = True) -> None:
    """Child mode: build the buildings tileset and print the report as JSON."""
    from sqlalchemy import create_engine

    from tiles.build import build_tileset, report_dict

    engine = create_engine(url)
    if os.environ.get("BENCH_PROFILE"):  # a developer's look inside one step
        import cProfile

        prof = cProfile.Profile()
        report = prof.runcall(build_tileset, engine, "buildings", out, full=full, workers=workers)
        stem = f"{os.environ['BENCH_PROFILE']}-{report.mode}-{report.changed}"
        n = 0
        while Path(f"{stem}-{n}.prof").exists():  # two steps may change as many rows
            n += 1
        prof.dump_stats(f"{stem}-{n}.prof")
    else:
        report = build_tileset(engine, "buildings", out, full=full, workers=workers)
    sys.stdout.write(json.dumps(report_dict(report)) + "\n")


def _our_build(url: str, out: Path, workers: int | None, *, full: bool) -> dict:
    argv = [sys.executable, __file__, "--child-build", url, str(out)]
    if workers:
        argv += ["--workers", str(workers)]
    if not full:
        argv.append("--child-incremental")
    secs, rss, proc = run_measured(argv, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"our build failed:\n{proc.stderr[-3000:]}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    report["process_s"] = secs
    report["rss"] = rss
    return report


#: the changes of an incremental run: (name, SQL); ``:k`` is the side of the changed block
#: and ``:cols`` the synthetic grid's width (tiles.synthetic lays building i at column
#: i % cols, row i / cols)
CHANGES = [
    ("unchanged", None),
    (
        "1% clustered",
        "UPDATE buildings SET height = height + 1 WHERE (source_id::int % :cols) "
        "BETWEEN :cols / 2 AND :cols / 2 + :k - 1 AND (source_id::int / :cols) "
        "BETWEEN :cols / 2 AND :cols / 2 + :k - 1",
    ),
    ("1% scattered", "UPDATE buildings SET height = height + 1 WHERE id % 100 = 37"),
]


def bench_incremental(
    n: int, work: Path, *, workers: int | None, skip_peer: bool, repeat: int = 1
) -> dict:
    """Full build, then an unchanged rebuild, a 1% clustered and a 1% scattered change; the
    peer (py3dtiles, no incremental mode) re-exports everything, once, for comparison.

    With ``repeat`` R, each step runs R times in a row (the full build with ``--full``, the
    changes on the same rows again) and its median is reported, its share taken of the
    full builds' median: a noisy machine moves one build by a quarter either way."""
    from sqlalchemy import text

    with twin_with_buildings(work, n) as (pg, url, engine, _):
        out = work / f"inc{n}"
        fulls = [_our_build(url, out, workers, full=True) for _ in range(repeat)]
        steps = [("full", fulls, 0)]
        cols = max(1, round(n**0.5))
        k = max(1, round((n / 100) ** 0.5))
        for name, sql in CHANGES:
            runs, changed = [], 0
            for _ in range(repeat):
                if sql is not None:
                    with engine.begin() as conn:
                        changed = conn.execute(text(sql), {"cols": cols, "k": k}).rowcount
                runs.append(_our_build(url, out, workers, full=False))
            steps.append((name, runs, changed))
        peer = {} if skip_peer else run_py3dtiles(engine, pg.port, work, n)
        full_s = _median(fulls)["seconds"]
        return {
            "n": n,
            "repeat": repeat,
            **peer,
            "steps": [
                {
                    "step": name,
                    "mode": r["mode"],
                    "changed_rows": changed,
                    "build_s": round(r["seconds"], 3),
                    "runs_s": [round(x["seconds"], 3) for x in runs],
                    "process_s": round(r["process_s"], 2),
                    "share_of_full": round(r["seconds"] / full_s, 4),
                    "tiles": r["tiles"],
                    "written": r["written"],
                    "rss_mb": round(max(x["rss"] for x in runs) / 2**20),
                    "far_read": r.get("far_read", 0),
                    **(
                        {"py3dtiles_over_ours": round(peer["py3dtiles_s"] / r["seconds"], 1)}
                        if peer
                        else {}
                    ),
                }
                for name, runs, changed in steps
                for r in [_median(runs)]
            ],
        }


def _median(runs: list[dict]) -> dict:
    """The run of median build time (the lower middle one of an even count)."""
    return sorted(runs, key=lambda r: r["seconds"])[(len(runs) - 1) // 2]


def print_incremental(r: dict) -> None:
    peer = (
        f"py3dtiles re-exports everything at every step: {r['py3dtiles_s']} s"
        if "py3dtiles_s" in r
        else "py3dtiles not run"
    )
    runs = f", median of {r['repeat']} runs each" if r.get("repeat", 1) > 1 else ""
    sys.stdout.write(
        f"N={r['n']:,}: step, mode, rows changed, build s{runs}, share of full, tiles "
        f"written/total ({peer})\n"
    )
    for s in r["steps"]:
        sys.stdout.write(
            f"  {s['step']:<13} {s['mode']:<12} {s['changed_rows']:>7,} rows  "
            f"{s['build_s']:>9.3f} s  {s['share_of_full']:>7.2%}  "
            f"{s['written']:>5}/{s['tiles']} tiles  (process {s['process_s']} s, "
            f"peak RSS {s['rss_mb']} MB, far-field rows read {s['far_read']:,})"
            + (
                f"  py3dtiles/ours {s['py3dtiles_over_ours']}x"
                if "py3dtiles_over_ours" in s
                else ""
            )
            + "\n"
        )
    sys.stdout.flush()


def run_py3dtiles(engine: object, port: int, work: Path, n: int) -> dict:
    """``py3dtiles export`` of the same buildings, extruded by postgis_sfcgal (not timed)."""
    from sqlalchemy import text

    with engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis_sfcgal"))
        conn.execute(text("DROP TABLE IF EXISTS bench_extruded"))
        conn.execute(
            text(
                "CREATE TABLE bench_extruded AS SELECT id, (SELECT ST_Collect(d.geom) "
                "FROM ST_Dump(ST_Extrude(ST_Translate(ST_Force3D(footprint), 0, 0, base_z),"
                " 0, 0, height)) d)::geometry(MultiPolygonZ, 3067) AS geom FROM buildings"
            )
        )
    peer_out = work / f"py3dtiles{n}"
    shutil.rmtree(peer_out, ignore_errors=True)
    conninfo = f"dbname=twin host=127.0.0.1 port={port} user=twin"
    exe = str(Path(sys.executable).with_name("py3dtiles"))
    argv = [exe, "export", "-D", conninfo, "-t", "bench_extruded", "-c", "geom", "-i", "id"]
    secs, rss, proc = run_measured([*argv, "-s", str(peer_out)], cwd=work)
    if proc.returncode != 0:
        raise SystemExit(f"py3dtiles export failed:\n{proc.stderr[-3000:]}")
    return {
        "py3dtiles_s": round(secs, 2),
        "py3dtiles_per_s": round(n / secs),
        "py3dtiles_rss_mb": round(rss / 2**20),
        "py3dtiles_bytes": dir_bytes(peer_out),
    }


@contextlib.contextmanager
def twin_with_buildings(work: Path, n: int) -> Iterator[tuple[Any, str, Any, float]]:
    """The project's embedded PostgreSQL on a free port in ``work``, migrated, with ``n``
    synthetic buildings: yields (cluster, URL, engine, seconds taken to generate)."""
    from sqlalchemy import text

    from bench.access import private_postgis
    from geodata.working_crs import set_working_crs
    from tiles import synthetic

    with private_postgis("tiles", work=work / f"cluster{n}") as db:
        pg, url, engine = db.pg, db.url, db.engine
        t0 = time.perf_counter()
        with engine.begin() as conn:
            set_working_crs(conn, 3067)
            synthetic.insert_buildings(conn, n)
        with engine.begin() as conn:
            conn.execute(text("ANALYZE buildings"))
        yield pg, url, engine, time.perf_counter() - t0


def bench_size(n: int, work: Path, *, skip_peer: bool, workers: int | None) -> dict:
    with twin_with_buildings(work, n) as (pg, url, engine, gen):
        out = work / f"ours{n}"
        argv = [sys.executable, __file__, "--child-build", url, str(out)]
        if workers:
            argv += ["--workers", str(workers)]
        secs, rss, proc = run_measured(argv, cwd=ROOT)
        if proc.returncode != 0:
            raise SystemExit(f"our build failed:\n{proc.stderr[-3000:]}")
        report = json.loads(proc.stdout.strip().splitlines()[-1])
        result = {
            "n": n,
            "generate_s": round(gen, 2),
            "ours_s": round(secs, 2),
            "ours_build_s": round(report["seconds"], 2),
            "ours_per_s": round(n / report["seconds"]),
            "ours_e2e_per_s": round(n / secs),
            "ours_rss_mb": round(rss / 2**20),
            "ours_bytes": dir_bytes(out / "buildings"),
            "tiles": report["tiles"],
            "first_view_fraction": round(report["first_view_fraction"], 4),
        }
        if not skip_peer:
            result.update(run_py3dtiles(engine, pg.port, work, n))
            result["ratio"] = round(result["ours_per_s"] / result["py3dtiles_per_s"], 1)
            result["ratio_e2e"] = round(result["ours_e2e_per_s"] / result["py3dtiles_per_s"], 1)
        return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--skip-peer", action="store_true", help="do not run py3dtiles")
    ap.add_argument(
        "--peer-max",
        type=int,
        default=200_000,
        help="with --incremental, run py3dtiles only up to this size (it holds the whole "
        "table in memory and takes about half an hour at 1M)",
    )
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="with --incremental, run every step this many times and report medians",
    )
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument(
        "--incremental",
        action="store_true",
        help="full build, unchanged rebuild, 1%% clustered and 1%% scattered change",
    )
    ap.add_argument("--child-build", nargs=2, metavar=("URL", "OUT"), help=argparse.SUPPRESS)
    ap.add_argument("--child-incremental", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_build:
        child_build(*args.child_build, args.workers, full=not args.child_incremental)
        return
    work = Path(tempfile.mkdtemp(prefix="bench-tiles-"))
    results = []
    try:
        for n in args.sizes:
            if args.incremental:
                skip = args.skip_peer or n > args.peer_max
                r = bench_incremental(
                    n, work, workers=args.workers, skip_peer=skip, repeat=max(1, args.repeat)
                )
                results.append(r)
                print_incremental(r)
                continue
            r = bench_size(n, work, skip_peer=args.skip_peer, workers=args.workers)
            results.append(r)
            line = (
                f"N={n:>8,}  ours {r['ours_per_s']:>7,} buildings/s "
                f"(build {r['ours_build_s']} s; process {r['ours_s']} s = "
                f"{r['ours_e2e_per_s']:,}/s; peak RSS {r['ours_rss_mb']} MB, "
                f"{r['ours_bytes'] / 1e6:.1f} MB, {r['tiles']} tiles, "
                f"first view {r['first_view_fraction']:.1%})"
            )
            if "ratio" in r:
                line += (
                    f"  |  py3dtiles {r['py3dtiles_per_s']:>6,} buildings/s "
                    f"({r['py3dtiles_s']} s, peak RSS {r['py3dtiles_rss_mb']} MB, "
                    f"{r['py3dtiles_bytes'] / 1e6:.1f} MB)  |  ratio {r['ratio']}x "
                    f"(process to process {r['ratio_e2e']}x)"
                )
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        sys.stdout.write(json.dumps(results) + "\n")
    finally:
        if args.keep:
            sys.stdout.write(f"kept {work}\n")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
