"""Benchmark: what the dataset-visibility filter costs a Features API read.

The same reads (``numberMatched`` of the whole layer, a 10,000-feature page, a bbox page)
run for an admin, whose query has no filter (the peer: the query as it was before datasets
were enforced), and for a citizen, whose query carries the ``NOT EXISTS`` anti-join against
the catalogue (geodata.datasets.hidden_rows_clause). N buildings are spread over 8 sources,
one of them agent-only. A private PostGIS cluster (temp dir, free port) is started and
removed. Each figure is the best of ``--repeat`` runs. Target: citizen / admin under 1.3.

    .venv/bin/python bench/access.py [--buildings 200000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geodata import feature_params, features  # noqa: E402
from geodata.access import ANONYMOUS, Principal  # noqa: E402
from geodata.db import make_engine, migrate  # noqa: E402
from geodata.layers import LAYERS  # noqa: E402
from geodata.working_crs import set_working_crs  # noqa: E402
from twin.services.postgres import EmbeddedPostgres  # noqa: E402

console = Console()
ADMIN = Principal("root", "admin")
SOURCES = 8


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cluster_cpu(pg: EmbeddedPostgres) -> float:
    """CPU seconds used so far by the cluster: the postmaster, its live children (backends,
    WAL writer...) and its exited children (a finished connection's backend)."""
    tick = os.sysconf("SC_CLK_TCK")
    try:
        master = int((pg.data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return float("nan")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(stat.parent.name), int(fields[1])
        if pid == master:
            total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
        elif ppid == master:
            total += int(fields[11]) + int(fields[12])
    return total / tick


@dataclass(frozen=True)
class PrivatePostGIS:
    """A bench's own cluster: ``url`` (SQLAlchemy, psycopg) and ``engine`` reach its ``twin``
    database; ``work`` is the bench's scratch folder (the cluster lives in ``work/pg``)."""

    pg: EmbeddedPostgres
    work: Path
    url: str
    engine: Engine


@contextmanager
def private_postgis(
    name: str, *, migrated: bool = True, keep: bool = False, work: Path | None = None
) -> Iterator[PrivatePostGIS]:
    """Start a private PostGIS cluster (never a system one: a temp folder and
    ``TWIN_PG_PORT`` or a free port), migrate its ``twin`` database unless ``migrated`` is
    off, and stop and remove it all afterwards (``keep``: leave the folder; ``work``: a
    folder the caller owns, which is never removed).

    Every bench starts its cluster here, so they all measure the same configuration."""
    own = work is None
    if work is None:
        work = Path(tempfile.mkdtemp(prefix=f"twin-bench-{name}-"))
    work.mkdir(parents=True, exist_ok=True)
    os.chmod(work, 0o755)
    pg = EmbeddedPostgres(work / "pg", int(os.environ.get("TWIN_PG_PORT") or free_port()))
    try:
        pg.start()
        url = pg.url.replace("postgresql://", "postgresql+psycopg://", 1)
        if migrated:
            migrate(url)
        engine = make_engine(url)
        try:
            yield PrivatePostGIS(pg, work, url, engine)
        finally:
            engine.dispose()
    finally:
        pg.stop()
        if own and not keep:
            shutil.rmtree(work, ignore_errors=True)


def seed(url: str, n: int) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        set_working_crs(conn, 3067)
        side = int(n**0.5) + 1
        conn.execute(
            text(
                "INSERT INTO buildings (source, source_id, footprint, height) "
                "SELECT 'src' || (i % :k), i::text, ST_Multi(ST_SetSRID(ST_MakeEnvelope("
                "385000 + (i % :side) * 30, 6672000 + (i / :side) * 30, "
                "385020 + (i % :side) * 30, 6672020 + (i / :side) * 30), 3067)), 12 "
                "FROM generate_series(0, :n - 1) i"
            ),
            {"k": SOURCES, "side": side, "n": n},
        )
        for k in range(SOURCES):
            conn.execute(
                text(
                    "INSERT INTO datasets (source, layer, title, visibility) "
                    "VALUES (:s, 'buildings', :s, :v)"
                ),
                {"s": f"src{k}", "v": "agent" if k == 0 else "public"},
            )
        conn.execute(text("ANALYZE buildings; ANALYZE datasets"))
    engine.dispose()


def peak_mb(fn: Callable[[], object]) -> float:
    """Peak Python heap of one call, in MiB (tracemalloc: run it apart from timed runs)."""
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--buildings", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--explain", action="store_true", help="print the bbox count plans")
    args = parser.parse_args()
    with private_postgis("access") as db:
        console.print(f"seeding {args.buildings:,} buildings from {SOURCES} sources ...")
        seed(db.url, args.buildings)
        engine = db.engine
        layer = LAYERS["buildings"]
        box = feature_params.parse_bbox("24.92,60.16,24.98,60.19")
        reads: dict[str, Callable[[Principal], Callable[[], object]]] = {
            "count": lambda who: (
                lambda: _with(
                    engine, lambda c: features.count_items(conn=c, layer=layer, viewer=who)
                )
            ),
            "page of 10,000": lambda who: (
                lambda: _with(
                    engine,
                    lambda c: features.query_items(conn=c, layer=layer, viewer=who, limit=10_000),
                )
            ),
            "bbox page of 1,000": lambda who: (
                lambda: _with(
                    engine,
                    lambda c: features.query_items(
                        conn=c, layer=layer, viewer=who, bbox=box, limit=1_000
                    ),
                )
            ),
        }
        if args.explain:
            _explain(engine, layer, box)
        table = Table("read", "admin, no filter (s)", "citizen, anti-join (s)", "ratio")
        for name, make in reads.items():
            make(ADMIN)()  # warm the cache and the plans, for both
            make(ANONYMOUS)()
            peer = best(make(ADMIN), args.repeat)
            ours = best(make(ANONYMOUS), args.repeat)
            table.add_row(name, f"{peer:.4f}", f"{ours:.4f}", f"{ours / peer:.2f}")
        console.print(table)


def _explain(engine: object, layer: object, box: object) -> None:
    from geodata.features import where_clause

    with engine.connect() as conn:  # type: ignore[attr-defined]
        for who in (ADMIN, ANONYMOUS):
            where, params = where_clause(layer, who, box, 3067)  # type: ignore[arg-type]
            sql = f"EXPLAIN ANALYZE SELECT count(*) FROM buildings{where}"
            plan = conn.execute(text(sql), params).scalars().all()
            console.print(f"[bold]{who.role}[/]\n" + "\n".join(plan), highlight=False)


def _with(engine: object, fn: Callable[[object], object]) -> object:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        return fn(conn)


if __name__ == "__main__":
    main()
