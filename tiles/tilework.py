"""The content pass: the rows of every tile streamed from PostgreSQL and meshed in a pool of
worker processes (tiles.tiletask does one tile's or one patch batch's work there).
"""

from __future__ import annotations

import multiprocessing
import os
import struct
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tiles.frames import Frame
from tiles.kinds import TilesetSpec, kind_of
from tiles.quadtree import Quadtree
from tiles.tiletask import Patch, PatchBatch, Result, Task, init_worker, make_patches, make_tile

ROW_BATCH = 5_000
#: below this many features a build runs in-process (a pool costs more than it saves)
PARALLEL_MIN_FEATURES = 4_000
#: patching a tile (incremental builds) costs a few milliseconds: a pool pays from this many
PARALLEL_MIN_PATCHES = 40
#: patch batches per worker: enough to balance the workers, few enough that each batch
#: meshes many tiles in one pass
BATCHES_PER_WORKER = 4

Progress = Callable[[str, int, int], None]


Job = Callable[[], Result]


def _run_jobs(jobs: Sequence[Job]) -> list[Result]:
    return [job() for job in jobs]


def _batches(items: Sequence[Any], n: int) -> list[Sequence[Any]]:
    """``items`` cut into at most ``n`` runs of consecutive items."""
    size = max(1, -(-len(items) // max(1, n)))
    return [items[i : i + size] for i in range(0, len(items), size)]


def content_pass(
    pg: Any,
    spec: TilesetSpec,
    tree: Quadtree,
    epsg: int,
    content_dir: Path,
    reusable: frozenset[str],
    count: int,
    progress: Progress | None,
    workers: int | None,
    patches: dict[int, Patch] | None = None,
    jobs: Sequence[Job] = (),
    later: Callable[[], Sequence[Job]] | None = None,
    patch_rows: dict[int, list[tuple[Any, ...]]] | None = None,
) -> tuple[dict[int, Result], list[Result]]:
    """Stream the rows of every tile in ``tile_assign`` and mesh them, in parallel; returns
    their results, and those of ``jobs`` (other tiles made in the same pool: the far
    field's, tiles.farfield), which go to the workers first.

    With ``patches`` (an incremental build of a patchable kind) the changed rows only are
    meshed: ``patch_rows``, by tile, as the index pass read them (``tile_assign`` is not
    used), and every patched tile is built from its previous file, those rows and the ids
    it loses. ``later`` makes more jobs once every patch is queued, so that the
    workers patch while this process makes them (the far field sums its bins; it may use
    the connection then).
    """
    kind = kind_of(spec)
    options = kind.options(spec)
    results: dict[int, Result] = {}
    job_results: list[Result] = []
    n_workers = workers if workers is not None else (os.cpu_count() or 1)
    pool: ProcessPoolExecutor | None = None
    Frame.at(epsg, *tree.centre(0))  # the CRS transformer, made once before forking

    def start_pool(tasks: int) -> None:
        nonlocal pool
        heavy = count >= PARALLEL_MIN_FEATURES or tasks >= PARALLEL_MIN_PATCHES
        if pool is None and n_workers > 1 and heavy:
            pool = ProcessPoolExecutor(
                n_workers,
                mp_context=multiprocessing.get_context("fork"),
                initializer=init_worker,
                initargs=(reusable,),
            )

    start_pool(len(patches or ()) + len(jobs))
    pending: set[Future[Any]] = set()
    of_jobs: set[Future[Any]] = set()
    done_features = 0

    def collect(r: Result | list[Result], future: Future[Any] | None = None) -> None:
        nonlocal done_features
        got = r if isinstance(r, list) else [r]
        if future is not None and future in of_jobs:
            job_results.extend(got)
            return
        for one in got:
            results[one.key] = one
            done_features += one.features
        if progress:
            progress("tiles", done_features, count)

    def task(key: int, rows: list[tuple[Any, ...]], patch: Patch | None = None) -> Task:
        return Task(spec.kind, key, epsg, tree.centre(key), rows, options, str(content_dir), patch)

    def submit(key: int, rows: list[tuple[Any, ...]]) -> None:
        nonlocal pending
        if pool is None:
            collect(make_tile(task(key, rows), reusable))
            return
        pending.add(pool.submit(make_tile, task(key, rows)))
        if len(pending) >= 2 * n_workers:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in finished:
                collect(f.result(), f)

    def submit_batches(tasks: list[Task]) -> None:
        """Every patch queued at once (their rows are the changed ones only: small), in
        batches of neighbouring tiles."""
        for part in _batches(tasks, n_workers * BATCHES_PER_WORKER if pool is not None else 1):
            batch = PatchBatch(list(part))
            if pool is None:
                collect(make_patches(batch, reusable))
            else:
                pending.add(pool.submit(make_patches, batch))

    def submit_jobs(todo: Sequence[Job]) -> None:
        """Jobs go to the workers in batches too (one round trip for many far-field tiles)."""
        if pool is None:
            job_results.extend(job() for job in todo)
            return
        for part in _batches(todo, n_workers * BATCHES_PER_WORKER):
            f = pool.submit(_run_jobs, part)
            of_jobs.add(f)
            pending.add(f)

    try:
        submit_jobs(jobs)  # independent of the rows: they keep the workers busy meanwhile
        if patches is None and later is not None:
            submit_jobs(later())
        if patches is not None:
            assert patch_rows is not None, "a patch pass is given its rows"
            by_tile = patch_rows
            keys = sorted(set(by_tile) | set(patches))
            for k in keys:
                if k not in patches:
                    submit(k, by_tile[k])
            submit_batches([task(k, by_tile.get(k, []), patches[k]) for k in keys if k in patches])
            if later is not None:
                more = later()
                start_pool(len(patches) + len(jobs) + len(more))
                submit_jobs(more)
            for f in wait(pending)[0]:
                collect(f.result(), f)
            return results, job_results
        with pg.cursor(name="tiles_rows", binary=True) as rcur:
            rcur.itersize = ROW_BATCH
            rcur.execute(kind.rows_sql(spec), spec.sql_params)
            key: int | None = None
            rows: list[tuple[Any, ...]] = []
            while batch := rcur.fetchmany(ROW_BATCH):
                for row in batch:
                    if row[0] != key:
                        if key is not None:
                            submit(key, rows)
                        key, rows = row[0], []
                    rows.append(tuple(row[1:]))
            if key is not None:
                submit(key, rows)
        for f in wait(pending)[0]:
            collect(f.result(), f)
    except BaseException:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
            pool = None
        raise
    finally:
        if pool is not None:
            pool.shutdown()
    return results, job_results


# -- the tile_assign temporary table -------------------------------------------------------
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)
_COPY_REC = np.dtype(
    [
        ("n", ">i2"),
        ("l1", ">i4"),
        ("src", ">i2"),
        ("l2", ">i4"),
        ("id", ">i8"),
        ("l3", ">i4"),
        ("tile", ">i8"),
    ]
)


def create_assign_table(cur: Any) -> None:
    cur.execute(
        "CREATE TEMP TABLE tile_assign (src smallint, id bigint, tile bigint) ON COMMIT DROP"
    )


def copy_assign(
    cur: Any, src: NDArray[np.int16], ids: NDArray[np.int64], tile: NDArray[np.int64]
) -> None:
    """PostgreSQL binary COPY of (src, id, tile) rows into ``tile_assign``."""
    out = np.empty(len(ids), dtype=_COPY_REC)
    out["n"] = 3
    out["l1"] = 2
    out["l2"] = 8
    out["l3"] = 8
    out["src"] = src
    out["id"] = ids
    out["tile"] = tile
    with cur.copy("COPY tile_assign (src, id, tile) FROM STDIN (FORMAT BINARY)") as cp:
        cp.write(_COPY_HEADER + out.tobytes() + _COPY_TRAILER)
