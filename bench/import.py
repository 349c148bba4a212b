"""Benchmark: ``twin import`` against ``ogr2ogr`` on the same GeoPackage of N buildings.

For each size N the script generates one GeoPackage (rotated rectangles and L-shaped
footprints with height, levels, usage, year and sometimes a name), starts a private PostGIS
cluster (twin.services.postgres.EmbeddedPostgres, temp dir, free port) and imports the file:

- with ``twin import FILE --layer buildings`` (a subprocess, into a fresh migrated database);
- with ``ogr2ogr -f PostgreSQL PG:... FILE -nln buildings`` (into another fresh database with
  PostGIS, same cluster, GDAL defaults: COPY and a GiST index).

Each command runs under ``/usr/bin/time`` so its peak RSS is its own (server memory is not
counted for either). Migration and database creation are not timed; Python start-up and
imports are, because a user pays them. Python byte-code is cached in the temp folder (a
warm-up import runs first), so a PYTHONDONTWRITEBYTECODE environment does not make twin pay
for compiling pandas on every run. Each measurement is the best of ``--repeat`` runs, each
into a fresh database, because shared machines are noisy. Targets: twin no slower than 1.5x
ogr2ogr, and peak RSS flat as N grows (twin streams; ogr2ogr does too).

    .venv/bin/python bench/import.py [--sizes 10000,100000] [--repeat 3] [--profile] [--keep]

With ``--citygml`` it runs the CityGML case instead: the same N LoD2 gabled houses (synthetic,
on a grid in Delft, EPSG:28992, with measured height, storeys and a generic attribute) written
as CityGML 2.0 and as CityJSON 2.0 (one document, and CityJSONSeq), each imported with
``twin import`` into a fresh database; it prints the CityGML rate as a share of each CityJSON
rate (target: at least 50 %).

    .venv/bin/python bench/import.py --citygml [--sizes 10000,50000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psycopg
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.access import cluster_cpu, private_postgis  # noqa: E402
from geodata.db import migrate  # noqa: E402
from twin.services.postgres import EmbeddedPostgres  # noqa: E402

console = Console()
TIME = "/usr/bin/time"
EPSG = 3067  # Helsinki, ETRS-TM35FIN
USAGES = np.array(
    [
        "residential",
        "residential",
        "residential",
        "commercial",
        "office",
        "industrial",
        "public",
        "garage",
    ]
)


@dataclass
class Run:
    seconds: float
    peak_rss_mb: float
    rows: int
    #: CPU seconds of the command plus the database cluster's while it ran: less sensitive
    #: than wall time to other work on a shared machine
    cpu: float = float("nan")


# -- data -------------------------------------------------------------------------------------
def footprints(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` realistic footprints on a 30 m grid: 70 % rotated rectangles, 30 % L-shapes."""
    import shapely

    side = int(np.ceil(np.sqrt(n)))
    i = np.arange(n)
    cx = 385_000.0 + (i % side) * 30.0 + rng.uniform(-3, 3, n)
    cy = 6_671_000.0 + (i // side) * 30.0 + rng.uniform(-3, 3, n)
    w = rng.uniform(8, 22, n)
    d = rng.uniform(6, 14, n)
    angle = rng.uniform(0, np.pi, n)
    is_l = rng.random(n) < 0.3
    # local rings, origin at the centre, closed; L-shapes cut a corner off the rectangle
    rect = np.stack(
        [[-w / 2, -d / 2], [w / 2, -d / 2], [w / 2, d / 2], [-w / 2, d / 2], [-w / 2, -d / 2]]
    ).transpose(2, 0, 1)  # (n, 5, 2)
    cw, cd = w * rng.uniform(0.3, 0.6, n), d * rng.uniform(0.3, 0.6, n)
    ell = np.stack(
        [
            [-w / 2, -d / 2],
            [w / 2, -d / 2],
            [w / 2, d / 2 - cd],
            [w / 2 - cw, d / 2 - cd],
            [w / 2 - cw, d / 2],
            [-w / 2, d / 2],
            [-w / 2, -d / 2],
        ]
    ).transpose(2, 0, 1)  # (n, 7, 2)

    def place(local: np.ndarray, sel: np.ndarray) -> np.ndarray:
        c, s = np.cos(angle[sel])[:, None], np.sin(angle[sel])[:, None]
        x, y = local[sel, :, 0], local[sel, :, 1]
        xy = np.stack([cx[sel, None] + c * x - s * y, cy[sel, None] + s * x + c * y], axis=2)
        return shapely.polygons(np.round(xy, 3))

    out = np.empty(n, dtype=object)
    out[~is_l] = place(rect, ~is_l)
    out[is_l] = place(ell, is_l)
    return out


def make_gpkg(path: Path, n: int) -> None:
    import geopandas as gpd

    rng = np.random.default_rng(42)
    levels = rng.integers(1, 12, n).astype("float64")
    height = np.round(levels * rng.uniform(2.8, 3.6, n) + rng.uniform(0, 2, n), 1)
    height[rng.random(n) < 0.3] = np.nan  # 30 % without height: levels or default
    levels[rng.random(n) < 0.2] = np.nan
    names = np.where(rng.random(n) < 0.1, [f"Talo {k}" for k in range(n)], None)
    gdf = gpd.GeoDataFrame(
        {
            "id": [f"B{k:07d}" for k in range(n)],
            "height": height,
            "levels": levels,
            "usage": rng.choice(USAGES, n),
            "year_built": rng.integers(1850, 2025, n),
            "name": names,
        },
        geometry=footprints(n, rng),
        crs=f"EPSG:{EPSG}",
    )
    gdf.to_file(path, driver="GPKG", layer="buildings")


# -- running ------------------------------------------------------------------------------------
def timed(
    argv: list[str], env: dict[str, str], workdir: Path, pg: EmbeddedPostgres
) -> tuple[float, float, float]:
    """Run ``argv`` under /usr/bin/time: (wall seconds, peak RSS in MB, CPU seconds of the
    command and the cluster)."""
    stats = workdir / "time.txt"
    prefix = [TIME, "-f", "%M %U %S", "-o", str(stats)] if Path(TIME).exists() else []
    cpu0 = cluster_cpu(pg)
    started = time.perf_counter()
    proc = subprocess.run([*prefix, *argv], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    time.sleep(0.2)  # let the postmaster reap the finished backend
    server = cluster_cpu(pg) - cpu0
    if proc.returncode != 0:
        console.print(f"[red]{argv[0]} failed ({proc.returncode}):[/]\n{proc.stderr[-3000:]}")
        raise SystemExit(1)
    if not prefix:
        return seconds, float("nan"), float("nan")
    rss_kb, user, system = stats.read_text().strip().splitlines()[-1].split()
    return seconds, float(rss_kb) / 1024, float(user) + float(system) + server


def fresh_db(pg: EmbeddedPostgres, name: str, *, twin: bool) -> str:
    with psycopg.connect(
        f"postgresql://twin@127.0.0.1:{pg.port}/postgres", autocommit=True
    ) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    url = f"postgresql://twin@127.0.0.1:{pg.port}/{name}"
    if twin:
        migrate(url.replace("postgresql://", "postgresql+psycopg://"))
    else:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    return url


def count(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]


def twin_env(url: str, work: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "TWIN_DATABASE_URL": url,
        "TWIN_DATA_DIR": str(work / "var"),
        "COLUMNS": "120",
        "PYTHONPYCACHEPREFIX": str(work / "pycache"),
    }
    env.pop("TWIN_CRS", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def warm_up(work: Path) -> None:
    """Compile and cache the byte-code of everything ``twin import`` loads."""
    code = (
        "import twin.cli, twin.runtime, geodata.importers, geodata.importers.ogr, "
        "geodata.importers.pipeline, geodata.importers.citygml, geodata.importers.cityjson, "
        "geodata.db, alembic.command, rich.progress"
    )
    subprocess.run(
        [sys.executable, "-c", code], env=twin_env("postgresql://x/y", work), check=True, cwd=ROOT
    )


def run_twin(gpkg: Path, url: str, work: Path, pg: EmbeddedPostgres, profile: Path | None) -> Run:
    env = twin_env(url, work)
    args = ["import", str(gpkg), "--layer", "buildings", "--source", "bench"]
    if profile:
        code = (
            "import cProfile, sys; from twin.cli import app; "
            f"sys.argv = ['twin', *{args!r}]; cProfile.run('app()', {str(profile)!r})"
        )
        argv = [sys.executable, "-c", code]
    else:
        argv = [str(ROOT / ".venv" / "bin" / "twin"), *args]
        if not Path(argv[0]).exists():
            argv = [sys.executable, "-c", "from twin.cli import main; main()", *args]
    seconds, rss, cpu = timed(argv, env, work, pg)
    return Run(seconds, rss, count(url, "buildings"), cpu)


def run_ogr(gpkg: Path, url: str, work: Path, pg: EmbeddedPostgres) -> Run:
    dbname = url.rsplit("/", 1)[1]
    target = f"PG:host=127.0.0.1 port={pg.port} dbname={dbname} user=twin"
    argv = ["ogr2ogr", "-f", "PostgreSQL", target, str(gpkg), "-nln", "buildings"]
    seconds, rss, cpu = timed(argv, dict(os.environ), work, pg)
    return Run(seconds, rss, count(url, "buildings"), cpu)


def best(runs: list[Run]) -> Run:
    """Fastest run, with the highest peak RSS seen (memory does not get luckier)."""
    fastest = min(runs, key=lambda r: r.seconds)
    return Run(
        fastest.seconds, max(r.peak_rss_mb for r in runs), fastest.rows, min(r.cpu for r in runs)
    )


def show_profile(path: Path) -> None:
    import io
    import pstats

    buf = io.StringIO()
    pstats.Stats(str(path), stream=buf).sort_stats("cumulative").print_stats(30)
    console.print(f"[bold]cProfile of twin import[/] ({path}):")
    console.print(buf.getvalue(), highlight=False, markup=False)


# -- the CityGML case: the same buildings as CityGML and as CityJSON ---------------------------
CITY_EPSG = 28992


def make_city_files(work: Path, n: int) -> dict[str, Path]:
    """``n`` LoD2 houses as CityGML 2.0, CityJSON 2.0 and CityJSONSeq (synthetic data)."""
    from tests.citygml_data import CityGMLWriter
    from tests.import_data import DELFT_RD, CityModel

    x0, y0 = DELFT_RD
    rng = np.random.default_rng(42)
    side = int(np.ceil(np.sqrt(n)))
    xs = x0 + (np.arange(n) % side) * 15.0
    ys = y0 + (np.arange(n) // side) * 12.0
    zs = np.round(rng.uniform(0, 3, n), 2)
    ridges = np.round(rng.uniform(7, 14, n), 2)
    storeys = rng.integers(1, 5, n)
    model = CityModel(scale=0.001, translate=(x0, y0, 0.0))
    gml = work / f"city_{n}.gml"
    with gml.open("w", encoding="utf-8") as f:
        w = CityGMLWriter(f, "2.0", f"EPSG:{CITY_EPSG}")
        w.start((x0, y0, 0, float(xs.max()) + 10, float(ys.max()) + 8, 20))
        for k in range(n):
            attrs = {"measuredHeight": float(ridges[k]), "storeysAboveGround": int(storeys[k])}
            generic = {"district": f"D{k % 20}"}
            x, y, z, ridge = float(xs[k]), float(ys[k]), float(zs[k]), float(ridges[k])
            w.building(f"B{k:07d}", x, y, z, ridge=ridge, attrs=attrs, generic=generic)
            model.house(
                f"B{k:07d}",
                x,
                y,
                z,
                ridge=ridge,
                lod0=False,
                lod1=False,
                attributes={**attrs, **generic},
            )
        w.end()
    crs = f"https://www.opengis.net/def/crs/EPSG/0/{CITY_EPSG}"
    return {
        "CityGML": gml,
        "CityJSON": model.write(work / f"city_{n}.city.json", crs=crs),
        "CityJSONSeq": model.write_seq(work / f"city_{n}.city.jsonl", crs=crs),
    }


def run_city_case(args: argparse.Namespace, sizes: list[int]) -> None:
    formats = ("CityGML", "CityJSON", "CityJSONSeq")
    results: list[tuple[int, dict[str, Run]]] = []
    with private_postgis("import-city", migrated=False, keep=args.keep) as db:
        pg, work = db.pg, db.work
        warm_up(work)
        for n in sizes:
            console.print(f"generating {n:,} LoD2 houses as CityGML and CityJSON ...")
            files = make_city_files(work, n)
            runs: dict[str, list[Run]] = {f: [] for f in formats}
            for k in range(max(1, args.repeat)):
                for fmt in formats:
                    url = fresh_db(pg, f"{fmt.lower()}_{n}_{k}", twin=True)
                    runs[fmt].append(run_twin(files[fmt], url, work, pg, None))
                console.print(
                    f"  {n:,} run {k + 1}: "
                    + ", ".join(
                        f"{f} {runs[f][-1].seconds:.2f} s (CPU {runs[f][-1].cpu:.2f} s)"
                        for f in formats
                    )
                )
            results.append((n, {f: best(r) for f, r in runs.items()}))
    table = Table(title=f"twin import: CityGML vs CityJSON, same LoD2 houses (EPSG:{CITY_EPSG})")
    # CityGML's rate as a share of each CityJSON one: CityJSON seconds / CityGML seconds, in
    # wall time and in CPU (command and cluster: less sensitive to a shared machine's load)
    for col in (
        "buildings",
        "CityGML s",
        "CityJSON s",
        "CJSeq s",
        "vs CityJSON",
        "vs CJSeq",
        "CPU vs CityJSON",
        "CPU vs CJSeq",
        "GML RSS MB",
        "rows",
    ):
        table.add_column(col, justify="right")

    def share(value: float) -> str:
        return f"[{'green' if value >= 0.5 else 'red'}]{value:.0%}[/]"

    for n, r in results:
        gml = r["CityGML"]
        table.add_row(
            f"{n:,}",
            *(f"{r[f].seconds:.2f}" for f in formats),
            *(share(r[f].seconds / gml.seconds) for f in ("CityJSON", "CityJSONSeq")),
            *(share(r[f].cpu / gml.cpu) for f in ("CityJSON", "CityJSONSeq")),
            f"{gml.peak_rss_mb:.0f}",
            " / ".join(sorted({f"{r[f].rows:,}" for f in formats})),
        )
    Console(width=170).print(table)
    console.print(
        "CityGML rate as a share of the CityJSON rate (CityJSON seconds / CityGML seconds); "
        "target >= 50 %"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default="10000,100000",
        help="comma-separated numbers of buildings (default 10000,100000)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs per tool and size, each into a fresh database; the best time counts (default 3)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run twin import under cProfile and print the top functions",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    parser.add_argument(
        "--citygml",
        action="store_true",
        help="the CityGML case: the same LoD2 houses as CityGML and CityJSON, twin only",
    )
    args = parser.parse_args()
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    if args.citygml:
        run_city_case(args, sizes)
        return
    if not shutil.which("ogr2ogr"):
        console.print("[red]ogr2ogr not found: install gdal-bin (make setup does)[/]")
        raise SystemExit(1)

    results: list[tuple[int, Run, Run]] = []
    with private_postgis("import", migrated=False, keep=args.keep) as db:
        pg, work = db.pg, db.work
        console.print(f"a private PostGIS cluster runs in {work / 'pg'}")
        warm_up(work)
        for n in sizes:
            gpkg = work / f"buildings_{n}.gpkg"
            console.print(f"generating {n:,} buildings -> {gpkg.name} ...")
            make_gpkg(gpkg, n)
            twins: list[Run] = []
            ogrs: list[Run] = []
            for k in range(max(1, args.repeat)):
                ogr_url = fresh_db(pg, f"ogr_{n}_{k}", twin=False)
                twin_url = fresh_db(pg, f"twin_{n}_{k}", twin=True)
                ogrs.append(run_ogr(gpkg, ogr_url, work, pg))
                twins.append(run_twin(gpkg, twin_url, work, pg, None))
                console.print(
                    f"  {n:,} run {k + 1}: twin {twins[-1].seconds:.2f} s "
                    f"(CPU {twins[-1].cpu:.2f} s), ogr2ogr {ogrs[-1].seconds:.2f} s "
                    f"(CPU {ogrs[-1].cpu:.2f} s)"
                )
            results.append((n, best(twins), best(ogrs)))
            if args.profile:
                prof = work / f"twin_{n}.prof"
                run_twin(gpkg, fresh_db(pg, f"twin_{n}_prof", twin=True), work, pg, prof)
                show_profile(prof)

    table = Table(
        title=f"twin import vs ogr2ogr (GeoPackage, EPSG:{EPSG}, best of {max(1, args.repeat)})"
    )
    for col in (
        "buildings",
        "twin s",
        "ogr2ogr s",
        "ratio",
        "twin CPU s",
        "ogr2ogr CPU s",
        "CPU ratio",
        "twin RSS MB",
        "ogr2ogr RSS MB",
        "rows",
    ):
        table.add_column(col, justify="right")
    for n, twin, ogr in results:
        ratio = twin.seconds / ogr.seconds
        colour = "green" if ratio <= 1.5 else "red"
        rows = f"{twin.rows:,}" if twin.rows == ogr.rows else f"{twin.rows:,} / {ogr.rows:,}"
        table.add_row(
            f"{n:,}",
            f"{twin.seconds:.2f}",
            f"{ogr.seconds:.2f}",
            f"[{colour}]{ratio:.2f}[/]",
            f"{twin.cpu:.2f}",
            f"{ogr.cpu:.2f}",
            f"{twin.cpu / ogr.cpu:.2f}",
            f"{twin.peak_rss_mb:.0f}",
            f"{ogr.peak_rss_mb:.0f}",
            rows,
        )
    console.print(table)
    if len(results) > 1:
        (n0, t0, o0), (n1, t1, o1) = results[0], results[-1]
        console.print(
            f"twin peak RSS from {n0:,} to {n1:,} buildings: "
            f"{t0.peak_rss_mb:.0f} -> {t1.peak_rss_mb:.0f} MB "
            f"(x{t1.peak_rss_mb / t0.peak_rss_mb:.2f} for x{n1 / n0:.0f} data)"
        )
        # the cost of each extra building, without the fixed start-up (Python imports,
        # schema check, working CRS): what decides large imports
        twin_us = (t1.seconds - t0.seconds) / (n1 - n0) * 1e6
        ogr_us = (o1.seconds - o0.seconds) / (n1 - n0) * 1e6
        console.print(
            f"marginal cost per building from {n0:,} to {n1:,}: twin {twin_us:.1f} us, "
            f"ogr2ogr {ogr_us:.1f} us, ratio {twin_us / ogr_us:.2f}; fixed start-up "
            f"~{t0.seconds - n0 * twin_us / 1e6:.1f} s vs "
            f"~{o0.seconds - n0 * ogr_us / 1e6:.1f} s"
        )
    if work.exists():
        console.print(f"kept {work}")


if __name__ == "__main__":
    main()
