"""Benchmark: buildings out of PostGIS as CityJSONSeq, the twin against cjdb.

cjdb (3DGI's CityJSON <-> PostgreSQL tool, in its own environment: ``scripts/bench-peers.sh``)
exports the same buildings from its own schema, which it loaded from the twin's export (not
timed). Both write CityJSONSeq files from the same database on the same cluster; cjdb's time
is shown whole and less its interpreter start (``cjdb --help``), so the comparison is of the
work, not of Python starting. The twin's also writes LoD1 solids with semantics computed from
footprints (cjdb copies stored CityJSON geometry). Buildings of several polygons are left
out: cjdb 2.3 cannot read the MultiSolid the twin writes for them. A private PostGIS cluster
is started and removed.

    .venv/bin/python bench/export.py [--buildings 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.access import best, private_postgis  # noqa: E402
from geodata import export  # noqa: E402
from geodata.access import Principal  # noqa: E402
from geodata.working_crs import set_working_crs  # noqa: E402
from tiles import synthetic  # noqa: E402

console = Console()
CJDB = ROOT / "var" / "peers" / "cjdb" / "bin" / "cjdb"


def _run(args: list[str]) -> float:
    env = {**os.environ, "PGPASSWORD": "twin"}
    t0 = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[:2])} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--buildings", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    subprocess.run(["bash", str(ROOT / "scripts" / "bench-peers.sh")], check=True)
    with private_postgis("export") as db:
        engine, work = db.engine, db.work
        console.print(f"seeding {args.buildings:,} buildings ...")
        with engine.begin() as conn:
            set_working_crs(conn, 3067)
            synthetic.insert_buildings(conn, args.buildings, source="bench")
            # cjdb 2.3 cannot read a MultiSolid (a footprint of several polygons)
            conn.execute(text("DELETE FROM buildings WHERE ST_NumGeometries(footprint) > 1"))
            count = conn.execute(text("SELECT count(*) FROM buildings")).scalar_one()
        with engine.connect() as conn:
            plan = export.plan_export(conn, Principal("bench", "admin"), "buildings", "cityjsonseq")
        ours_file = work / "ours.city.jsonl"
        t_ours = best(lambda: export.write(engine, plan, ours_file), args.repeat)
        db_args = ["-H", "127.0.0.1", "-p", str(db.pg.port), "-U", "twin", "-d", "twin"]
        console.print("cjdb: loading the twin's export into its own schema (not timed) ...")
        _run([str(CJDB), "import", *db_args, "-s", "cjdb", "-f", str(ours_file)])
        peer_file = work / "peer.city.jsonl"
        export_args = [str(CJDB), "export", *db_args, "-s", "cjdb", "-o", str(peer_file)]
        t_peer = min(_run(export_args) for _ in range(args.repeat))
        t_start = min(_run([str(CJDB), "--help"]) for _ in range(args.repeat))
        lines = sum(1 for _ in peer_file.open()) - 1
        sizes = ours_file.stat().st_size / 1e6, peer_file.stat().st_size / 1e6
    table = Table("what", "seconds", "features", "MB", "ours / peer")
    work_peer = max(t_peer - t_start, 1e-9)
    table.add_row("twin (cityjsonseq)", f"{t_ours:.2f}", f"{count:,}",
                  f"{sizes[0]:.1f}", "")  # fmt: skip
    table.add_row("cjdb export", f"{t_peer:.2f}", f"{lines:,}",
                  f"{sizes[1]:.1f}", f"{t_ours / t_peer:.2f}")  # fmt: skip
    table.add_row("cjdb export less its start", f"{work_peer:.2f}", "", "",
                  f"{t_ours / work_peer:.2f}")  # fmt: skip
    console.print(table)


if __name__ == "__main__":
    main()
