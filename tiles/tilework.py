"""Meshing tiles, in worker processes: rows of one tile -> a hash-named GLB, or the file of
an earlier build when the hash says its input did not change.

A content file is named by the hash of everything its bytes depend on (builder version,
style, kind, tile key, CRS, options, rows), written through a temporary file and never
rewritten in place: a crash or Ctrl-C leaves the previous build's files intact.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import pickle
import struct
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from geodata.errors import TileBuildError
from tiles import style
from tiles.frames import Frame
from tiles.kinds import KINDS, TilesetSpec, kind_of
from tiles.layout import content_uri, write_new
from tiles.quadtree import Quadtree

#: bump when meshing, encoding or the manifest changes: every tile is then rebuilt once
BUILDER_VERSION = "tiles-2"
ROW_BATCH = 5_000
#: below this many features a build runs in-process (a pool costs more than it saves)
PARALLEL_MIN_FEATURES = 4_000
#: patching a tile (incremental builds) costs a few milliseconds: a pool pays from this many
PARALLEL_MIN_PATCHES = 40

Progress = Callable[[str, int, int], None]

#: colours and sizes are part of every tile's bytes: changing them rebuilds the tiles
STYLE_DIGEST = hashlib.blake2b(
    repr(sorted((k, v) for k, v in vars(style).items() if k.isupper())).encode(), digest_size=8
).hexdigest()


@dataclass(frozen=True)
class Patch:
    """An incremental change to a tile that has content: drop these ids, add the rows."""

    previous: str  # digest of the tile's current content file
    drop: tuple[int, ...]


@dataclass
class Task:
    kind: str
    key: int
    epsg: int
    centre: tuple[float, float]
    rows: list[tuple[Any, ...]]
    options: Any
    content_dir: str
    patch: Patch | None = None


@dataclass
class Result:
    key: int
    digest: str
    reused: bool
    features: int
    nbytes: int = 0
    lo: list[float] = field(default_factory=list)
    hi: list[float] = field(default_factory=list)


_REUSABLE: frozenset[str] = frozenset()


def _init_worker(reusable: frozenset[str]) -> None:
    global _REUSABLE
    _REUSABLE = reusable


def digest(task: Task) -> str:
    """Hash of everything a tile's bytes depend on.

    The rows are pickled (protocol 5): for tuples of None, bool, int, float, str and bytes
    the pickle is a deterministic function of the values, and much cheaper than repr.
    """
    h = hashlib.blake2b(digest_size=16)
    h.update(STYLE_DIGEST.encode())
    h.update(
        repr((BUILDER_VERSION, task.kind, task.key, task.epsg, task.centre, task.options)).encode()
    )
    if task.patch is not None:
        h.update(repr(("patch", task.patch.previous, sorted(task.patch.drop))).encode())
    h.update(pickle.dumps(task.rows, protocol=5))
    return h.hexdigest()


def make_tile(task: Task, reusable: frozenset[str] | None = None) -> Result:
    """Hash a tile's rows; reuse the previous file when the hash is known, else mesh it."""
    reusable = _REUSABLE if reusable is None else reusable
    d = digest(task)
    path = Path(task.content_dir).parent / content_uri(d)
    if d in reusable and path.exists():
        return Result(task.key, d, True, len(task.rows))
    kind = KINDS[task.kind]
    frame = Frame.at(task.epsg, *task.centre)
    if task.patch is not None:
        built = _patched(task, kind, frame)
    else:
        built = kind.build_content(frame, kind.rows(task.rows), task.options)
    write_new(path, built.glb)
    return Result(
        task.key,
        d,
        False,
        built.features,
        len(built.glb),
        [float(v) for v in built.lo],
        [float(v) for v in built.hi],
    )


def _patched(task: Task, kind: Any, frame: Frame) -> Any:
    """The tile's previous file patched with the task's rows; a previous file that cannot be
    read back (cut short, overwritten) is a TileBuildError naming it and what to do."""
    assert task.patch is not None
    tileset = Path(task.content_dir).parent
    uri = content_uri(task.patch.previous)
    before = (tileset / uri).read_bytes()
    try:
        return kind.patch_content(
            frame, before, set(task.patch.drop), kind.rows(task.rows), task.options
        )
    except (TileBuildError, KeyError, IndexError, TypeError, ValueError) as exc:
        raise TileBuildError(
            f"tileset {tileset.name!r}: the previous build's file {uri} is damaged ({exc}): "
            "run `twin tiles build --full` to remake every tile from the database"
        ) from None


Job = Callable[[], Result]


def _run_job(job: Job) -> Result:
    return job()


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
) -> tuple[dict[int, Result], list[Result]]:
    """Stream the rows of every tile in ``tile_assign`` and mesh them, in parallel; returns
    their results, and those of ``jobs`` (other tiles made in the same pool: the far
    field's, tiles.farfield), which go to the workers first.

    With ``patches`` (an incremental build of a patchable kind) ``tile_assign`` holds the
    changed rows only; they are gathered first (a small share) and every patched tile is
    built from its previous file, those rows and the ids it loses. ``later`` makes more
    jobs once every patch is queued, so that the workers patch while this process makes
    them (the far field sums its bins; it may use the connection then).
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
                initializer=_init_worker,
                initargs=(reusable,),
            )

    start_pool(len(patches or ()) + len(jobs))
    pending: set[Future[Result]] = set()
    of_jobs: set[Future[Result]] = set()
    done_features = 0

    def collect(r: Result, future: Future[Result] | None = None) -> None:
        nonlocal done_features
        if future is not None and future in of_jobs:
            job_results.append(r)
            return
        results[r.key] = r
        done_features += r.features
        if progress:
            progress("tiles", done_features, count)

    def submit(
        key: int, rows: list[tuple[Any, ...]], patch: Patch | None = None, throttle: bool = True
    ) -> None:
        nonlocal pending
        task = Task(spec.kind, key, epsg, tree.centre(key), rows, options, str(content_dir), patch)
        if pool is None:
            collect(make_tile(task, reusable))
            return
        pending.add(pool.submit(make_tile, task))
        if throttle and len(pending) >= 2 * n_workers:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in finished:
                collect(f.result(), f)

    def submit_jobs(todo: Sequence[Job]) -> None:
        for job in todo:
            if pool is None:
                job_results.append(job())
            else:
                f = pool.submit(_run_job, job)
                of_jobs.add(f)
                pending.add(f)

    try:
        submit_jobs(jobs)  # independent of the rows: they keep the workers busy meanwhile
        if patches is None and later is not None:
            submit_jobs(later())
        if patches is not None:
            by_tile: dict[int, list[tuple[Any, ...]]] = {}
            for row in pg.execute(kind.rows_sql(spec), spec.sql_params, binary=True):
                by_tile.setdefault(row[0], []).append(tuple(row[1:]))
            # every patch queued at once (their rows are the changed ones only: small)
            for k in sorted(set(by_tile) | set(patches)):
                submit(k, by_tile.get(k, []), patches.get(k), throttle=False)
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
