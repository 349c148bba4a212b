"""Benchmark: ``twin demo --synthetic-city N`` against ``ogr2ogr`` loading the same buildings.

For each N: a private PostGIS cluster (temp dir, free port) gets the demo district (not
timed); then, in a subprocess under ``/usr/bin/time``, the synthetic city step alone
(generate N buildings around the district and import them through the pipeline, Python
start-up included), against ``ogr2ogr`` loading the very same N footprints, written to a
FlatGeobuf beforehand (not timed), into a fresh PostGIS database. Peak RSS is each command's
own; CPU counts the command and the cluster. Last, the time an unchanged ``load_demo`` re-run
takes to see that nothing is to do, with the city in place.

    .venv/bin/python bench/demo_city.py [--sizes 100000,1000000]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.access import private_postgis  # noqa: E402
from geodata.db import make_engine  # noqa: E402
from geodata.demo import load_demo  # noqa: E402
from geodata.demo.synthetic_city import generate, plan_city  # noqa: E402

_spec = importlib.util.spec_from_file_location("bench_import", ROOT / "bench" / "import.py")
assert _spec is not None and _spec.loader is not None
bench_import = importlib.util.module_from_spec(_spec)
sys.modules["bench_import"] = bench_import
_spec.loader.exec_module(bench_import)  # its cluster, timing and database helpers

console = Console(width=150)
CITY = """
import sys
from geodata.db import make_engine
from geodata.demo.synthetic_city import load_synthetic_city
from geodata.importers.base import ImportOptions
from geodata.working_crs import require_working_crs

engine = make_engine(sys.argv[1])
with engine.begin() as conn:
    srid = require_working_crs(conn)
    print(load_synthetic_city(conn, int(sys.argv[2]), srid, ImportOptions.from_settings()))
"""


def write_peer_file(url: str, n: int, path: Path) -> None:
    """The same N footprints as the twin makes, as a FlatGeobuf for ogr2ogr."""
    engine = make_engine(url)
    with engine.connect() as conn:
        plan = plan_city(conn)
    engine.dispose()
    assert plan is not None
    parts = list(generate(plan, n))
    gdf = gpd.GeoDataFrame(
        {
            "levels": np.concatenate([p.levels for p in parts]),
            "usage": np.concatenate([p.usage for p in parts]).astype(str),
            "year_built": np.concatenate([p.year_built for p in parts]),
        },
        geometry=np.concatenate([p.footprints for p in parts]),
        crs="EPSG:3067",
    )
    gdf.to_file(path, driver="FlatGeobuf")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100000")
    args = ap.parse_args()
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    if not shutil.which("ogr2ogr"):
        console.print("[red]ogr2ogr not found: install gdal-bin[/]")
        raise SystemExit(1)
    table = Table(title="synthetic city: generate + import vs ogr2ogr of the same buildings")
    for col in ("N", "twin s", "ogr2ogr s", "ratio", "twin CPU s", "ogr CPU s", "twin RSS MB",
                "ogr RSS MB", "re-run s"):  # fmt: skip
        table.add_column(col, justify="right")
    with private_postgis("city", migrated=False) as db:
        pg, work = db.pg, db.work
        bench_import.warm_up(work)
        for n in sizes:
            url = bench_import.fresh_db(pg, f"city_{n}", twin=True)
            sa_url = url.replace("postgresql://", "postgresql+psycopg://")
            engine = make_engine(sa_url)
            console.print(f"N = {n:,}: loading the demo district ...")
            load_demo(engine, synthetic_city=0)
            fgb = work / f"city_{n}.fgb"
            write_peer_file(sa_url, n, fgb)
            env = bench_import.twin_env(url, work)
            tw = bench_import.timed([sys.executable, "-c", CITY, sa_url, str(n)], env, work, pg)
            stored = bench_import.count(url, "buildings WHERE source = 'demo-synthetic-city'")
            assert stored == n, (stored, n)
            ogr_url = bench_import.fresh_db(pg, f"ogr_{n}", twin=False)
            dbname = ogr_url.rsplit("/", 1)[1]
            target = f"PG:host=127.0.0.1 port={pg.port} dbname={dbname} user=twin"
            og = bench_import.timed(
                ["ogr2ogr", "-f", "PostgreSQL", target, str(fgb), "-nln", "buildings"],
                dict(os.environ),
                work,
                pg,
            )
            assert bench_import.count(ogr_url, "buildings") == n
            load_demo(engine, synthetic_city=n)  # records the run (the city is unchanged)
            started = time.perf_counter()
            lines = load_demo(engine)
            rerun = time.perf_counter() - started
            assert "already loaded and unchanged" in lines[-1]
            engine.dispose()
            table.add_row(
                f"{n:,}",
                f"{tw[0]:.2f}",
                f"{og[0]:.2f}",
                f"{tw[0] / og[0]:.2f}",
                f"{tw[2]:.2f}",
                f"{og[2]:.2f}",
                f"{tw[1]:.0f}",
                f"{og[1]:.0f}",
                f"{rerun:.2f}",
            )
        console.print(table)


if __name__ == "__main__":
    main()
