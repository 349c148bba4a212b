"""Benchmark: dataset downloads, streamed, against peers doing the same work in one go.

GeoJSON and CSV: ``geodata.export`` (server-side cursor, batches of 2,000, chunks) against
the naive peer that reads every row into memory and encodes the whole document at once (same
SQL, same encoders). Python heap peaks are traced with tracemalloc (a separate run from the
timing). GeoPackage: ``geodata.export.write_gpkg`` (Arrow stream into pyogrio) against
``ogr2ogr`` reading the same rows from PostGIS; time only (both are mostly GDAL's C memory).
A private PostGIS cluster (temp dir, free port) is started and removed.

    .venv/bin/python bench/download.py [--buildings 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.access import best, peak_mb, private_postgis  # noqa: E402
from geodata import export  # noqa: E402
from geodata.access import ANONYMOUS  # noqa: E402
from geodata.features import feature_from_row, select_sql  # noqa: E402
from geodata.working_crs import set_working_crs  # noqa: E402
from tiles import synthetic  # noqa: E402

console = Console()


def _drain(chunks: object) -> int:
    return sum(len(c) for c in chunks)  # type: ignore[attr-defined]


def naive_geojson(engine: Engine, plan: export.ExportPlan) -> int:
    """The peer: every feature in memory, then one document."""
    sql = f"{select_sql(plan.layer, ' WHERE ' + plan.where, plan.srid)} ORDER BY id"
    with engine.connect() as conn:
        rows = conn.execute(text(sql), dict(plan.params)).all()
    doc = {
        "type": "FeatureCollection",
        **plan.terms,
        "features": [feature_from_row(plan.layer, r) for r in rows],
    }
    return len(orjson.dumps(doc))


def naive_csv(engine: Engine, plan: export.ExportPlan) -> int:
    """The peer: the same CSV, rows fetched all at once, then one string."""
    import csv
    import io

    header, sql = export.table_sql(
        plan, "ST_AsText(ST_Transform(" + plan.layer.output_geom + ", 4326), 9)"
    )
    with engine.connect() as conn:
        rows = conn.execute(text(sql), dict(plan.params)).all()
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return len(buf.getvalue().encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--buildings", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with private_postgis("download") as db:
        pg, work, engine = db.pg, db.work, db.engine
        console.print(f"seeding {args.buildings:,} buildings ...")
        with engine.begin() as conn:
            set_working_crs(conn, 3067)
            synthetic.insert_buildings(conn, args.buildings, source="bench")
            dataset_id = conn.execute(
                text(
                    "INSERT INTO datasets (source, layer, title, licence, visibility) VALUES "
                    "('bench', 'buildings', 'Bench', 'CC0-1.0', 'public') RETURNING id"
                )
            ).scalar_one()
        with engine.connect() as conn:
            plans = {
                f: export.plan_download(conn, ANONYMOUS, dataset_id, f)
                for f in export.DATASET_FORMATS
            }
        table = Table(
            "format",
            "peer",
            "peer (s)",
            "ours (s)",
            "ratio",
            "peer heap MB",
            "ours heap MB",
            "heap ratio",
        )
        streamed = {"geojson": naive_geojson, "csv": naive_csv}
        for fmt, peer in streamed.items():
            plan = plans[fmt]

            def ours(plan: export.ExportPlan = plan, fmt: str = fmt) -> int:
                return _drain(export.CHUNKS[fmt](engine, plan))

            def theirs(plan: export.ExportPlan = plan, peer: Callable = peer) -> int:  # type: ignore[type-arg]
                return int(peer(engine, plan))

            t_peer, t_ours = best(theirs, args.repeat), best(ours, args.repeat)
            m_peer, m_ours = peak_mb(theirs), peak_mb(ours)
            table.add_row(
                fmt,
                "all in memory",
                f"{t_peer:.2f}",
                f"{t_ours:.2f}",
                f"{t_ours / t_peer:.2f}",
                f"{m_peer:.0f}",
                f"{m_ours:.1f}",
                f"{m_ours / m_peer:.3f}",
            )
        out = work / "out"
        out.mkdir()
        ogr = shutil.which("ogr2ogr")
        if ogr:
            conninfo = f"PG:host=127.0.0.1 port={pg.port} user=twin dbname=twin"
            _, sql = export.table_sql(plans["gpkg"], plans["gpkg"].layer.output_geom)
            sql = sql.replace(":source", "'bench'")

            def gdal() -> None:
                target = out / "peer.gpkg"
                target.unlink(missing_ok=True)
                subprocess.run(
                    [ogr, "-f", "GPKG", str(target), conninfo, "-sql", sql, "-nln", "buildings"],
                    check=True,
                )

            def ours_gpkg() -> None:
                target = out / "ours.gpkg"
                target.unlink(missing_ok=True)
                export.write_gpkg(engine, plans["gpkg"], target)

            t_peer, t_ours = best(gdal, args.repeat), best(ours_gpkg, args.repeat)
            table.add_row(
                "gpkg",
                "ogr2ogr",
                f"{t_peer:.2f}",
                f"{t_ours:.2f}",
                f"{t_ours / t_peer:.2f}",
                "-",
                "-",
                "-",
            )
        console.print(table)


if __name__ == "__main__":
    main()
