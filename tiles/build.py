"""Build driver: PostGIS -> a 3D Tiles 1.1 tileset on disk, streamed, parallel, incremental.

How a build runs (one REPEATABLE READ transaction, so both passes see the same data):

1. *Index pass*: a server-side cursor streams one light row per feature, largest first; the
   large-first quadtree (:mod:`tiles.quadtree`) assigns each to a tile and the assignment is
   COPYed (binary) into a temporary table. Memory holds one batch and the tree's counters.
2. *Content pass*: a second server-side cursor streams the full rows joined with that table,
   ordered by tile. Each tile's rows go to a worker process that hashes them (with the
   builder version, tile key and CRS): a tile whose hash is in the previous build is reused
   as is (no meshing, same file, same bytes, same ETag); any other is meshed and written as
   ``content/{hash}.glb`` through a temporary file and a rename.
3. *Swap*: ``tileset.json`` (and its gzip) and ``build.json`` (the manifest) are replaced
   atomically with ``os.replace``. Only then are files referenced by neither this build nor
   the one before removed, so a viewer that loaded the previous tileset.json a moment ago
   still finds its tiles.

Content files are named by the hash of their input and never rewritten in place: a crash or
Ctrl-C at any point leaves the previous tileset.json and all its files intact.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import logging
import multiprocessing
import os
import pickle
import struct
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import psycopg
from sqlalchemy import Engine, text

from geodata.errors import InputError, NotFound
from geodata.working_crs import require_working_crs
from tiles import content as content_mod
from tiles import style
from tiles.farfield import FarField
from tiles.frames import Frame
from tiles.quadtree import Quadtree, TreeParams, decode, parent
from tiles.sources import TilesetSpec, baseline_specs, project_spec, scenario_spec
from tiles.tileset import TileInfo, build_tree, tileset_json

LOGGER = logging.getLogger(__name__)

#: bump when meshing or encoding changes: every tile is then rebuilt once
BUILDER_VERSION = "tiles-1"
GENERATOR = "urban-twin tiles"
MANIFEST = "build.json"
TILESET = "tileset.json"
CONTENT_DIR = "content"
INDEX_BATCH = 50_000
ROW_BATCH = 5_000
#: below this many features a build runs in-process (a pool costs more than it saves)
PARALLEL_MIN_FEATURES = 4_000

Progress = Callable[[str, int, int], None]


@dataclass
class BuildReport:
    """What a build did: the CLI prints it, the benchmark and tests read it."""

    name: str
    path: str
    features: int = 0
    tiles: int = 0
    written: int = 0
    reused: int = 0
    removed: int = 0
    bytes: int = 0
    first_view_bytes: int = 0
    seconds: float = 0.0
    empty: bool = False

    @property
    def first_view_fraction(self) -> float:
        return self.first_view_bytes / self.bytes if self.bytes else 0.0


@dataclass
class _Task:
    kind: str
    key: int
    epsg: int
    centre: tuple[float, float]
    rows: list[tuple[Any, ...]]
    options: dict[str, Any]
    content_dir: str


@dataclass
class _Result:
    key: int
    digest: str
    reused: bool
    features: int
    nbytes: int = 0
    lo: list[float] = field(default_factory=list)
    hi: list[float] = field(default_factory=list)


#: colours and sizes are part of every tile's bytes: changing them rebuilds the tiles
_STYLE_DIGEST = hashlib.blake2b(
    repr(sorted((k, v) for k, v in vars(style).items() if k.isupper())).encode(), digest_size=8
).digest()


# -- worker side ----------------------------------------------------------------------------
_REUSABLE: frozenset[str] = frozenset()


def _init_worker(reusable: frozenset[str]) -> None:
    global _REUSABLE
    _REUSABLE = reusable


def _digest(task: _Task) -> str:
    """Hash of everything a tile's bytes depend on.

    The rows are pickled (protocol 5): for tuples of None, bool, int, float, str and bytes
    the pickle is a deterministic function of the values, and much cheaper than repr.
    """
    h = hashlib.blake2b(digest_size=16)
    h.update(_STYLE_DIGEST)
    h.update(
        repr(
            (
                BUILDER_VERSION,
                task.kind,
                task.key,
                task.epsg,
                task.centre,
                sorted(task.options.items()),
            )
        ).encode()
    )
    h.update(pickle.dumps(task.rows, protocol=5))
    return h.hexdigest()


def _make_tile(task: _Task, reusable: frozenset[str] | None = None) -> _Result:
    """Hash a tile's rows; reuse the previous file when the hash is known, else mesh it."""
    reusable = _REUSABLE if reusable is None else reusable
    digest = _digest(task)
    path = Path(task.content_dir) / f"{digest}.glb"
    if digest in reusable and path.exists():
        return _Result(task.key, digest, True, len(task.rows))
    frame = Frame.at(task.epsg, *task.centre)
    built = content_mod.BUILDERS[task.kind](frame, task.rows, **task.options)
    if path.exists():  # may be served right now: replace it atomically
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(built.glb)
        os.replace(tmp, path)
    else:  # a new name nobody references yet: a crash leaves an unreferenced file only
        path.write_bytes(built.glb)
    return _Result(
        task.key,
        digest,
        False,
        built.features,
        len(built.glb),
        [float(v) for v in built.lo],
        [float(v) for v in built.hi],
    )


# -- helpers --------------------------------------------------------------------------------
def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_manifest(tileset_dir: Path) -> dict[str, Any] | None:
    try:
        return orjson.loads((tileset_dir / MANIFEST).read_bytes())
    except FileNotFoundError:
        return None
    except orjson.JSONDecodeError:
        LOGGER.warning("%s is unreadable: rebuilding every tile", tileset_dir / MANIFEST)
        return None


@contextlib.contextmanager
def _lock(tileset_dir: Path) -> Iterator[None]:
    tileset_dir.mkdir(parents=True, exist_ok=True)
    with open(tileset_dir / ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(
                f"another build of {tileset_dir.name!r} is running: wait for it to finish"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _copy_binary(rows: np.ndarray) -> bytes:
    """PostgreSQL binary COPY of (smallint src, bigint id, bigint tile) rows."""
    rec = np.dtype(
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
    out = np.empty(len(rows), dtype=rec)
    out["n"] = 3
    out["l1"] = 2
    out["l2"] = 8
    out["l3"] = 8
    out["src"] = rows["src"]
    out["id"] = rows["id"]
    out["tile"] = rows["tile"]
    return out.tobytes()


_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)


# -- the build ------------------------------------------------------------------------------
def build_spec(
    engine: Engine,
    spec: TilesetSpec,
    tiles_dir: Path,
    *,
    full: bool = False,
    progress: Progress | None = None,
    workers: int | None = None,
    params: TreeParams | None = None,
) -> BuildReport:
    """Build one tileset into ``tiles_dir/spec.name`` (see the module docstring)."""
    t0 = time.perf_counter()
    out = Path(tiles_dir) / spec.name
    report = BuildReport(spec.name, str(out))
    with _lock(out):
        content_dir = out / CONTENT_DIR
        content_dir.mkdir(parents=True, exist_ok=True)
        for stale in content_dir.glob("*.tmp"):
            stale.unlink(missing_ok=True)
        previous = read_manifest(out)
        old_tiles: dict[str, Any] = {}
        if previous and previous.get("builder") == BUILDER_VERSION and not full:
            old_tiles = previous.get("tiles", {})
        _build_into(
            engine,
            spec,
            out,
            content_dir,
            old_tiles,
            previous,
            report,
            progress,
            workers,
            params or TreeParams(),
        )
    report.seconds = time.perf_counter() - t0
    LOGGER.info(
        "tileset %s: %d features, %d tiles (%d written, %d reused), %.1f MB in %.1f s",
        spec.name,
        report.features,
        report.tiles,
        report.written,
        report.reused,
        report.bytes / 1e6,
        report.seconds,
    )
    return report


def _build_into(
    engine: Engine,
    spec: TilesetSpec,
    out: Path,
    content_dir: Path,
    old_tiles: dict[str, Any],
    previous: dict[str, Any] | None,
    report: BuildReport,
    progress: Progress | None,
    workers: int | None,
    params: TreeParams,
) -> None:
    with engine.connect() as sa_conn:
        epsg = require_working_crs(sa_conn)
    raw = engine.raw_connection()
    pg = raw.driver_connection
    try:
        pg.rollback()
        pg.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        cur = pg.cursor()
        cur.execute("SET LOCAL jit = off")  # compiling costs more than it saves on these scans
        count, extent, total_bytes = cur.execute(spec.extent_sql(), spec.sql_params).fetchone()
        count = int(count or 0)
        if count == 0 or extent is None:
            pg.rollback()
            _remove_tileset(out)
            report.empty = True
            return
        xmin, ymin, xmax, ymax = _parse_box(extent)
        tree = Quadtree.around(xmin, ymin, xmax, ymax, float(total_bytes), params)
        far = FarField.plan(
            tree,
            kind=spec.kind,
            baseline=spec.scenario_id is None and spec.project_id is None,
            features=count,
            layer=spec.layer,
            extent=(xmin, ymin, xmax, ymax),
        )
        tree = far.tree if far else tree
        hidden: list[int] = []
        if (sql := spec.hidden_sql()) is not None:
            hidden = [r[0] for r in cur.execute(sql, spec.sql_params).fetchall()]

        # pass 1: assign every feature to a tile
        cur.execute(
            "CREATE TEMP TABLE tile_assign (src smallint, id bigint, tile bigint) ON COMMIT DROP"
        )
        done = 0
        with pg.cursor(name="tiles_index", binary=True) as icur:
            icur.itersize = INDEX_BATCH
            icur.execute(spec.index_sql(), spec.sql_params)
            while batch := icur.fetchmany(INDEX_BATCH):
                arr = np.array(batch, dtype=float)
                keys = tree.assign(arr[:, 2], arr[:, 3], arr[:, 5].astype(np.int64), arr[:, 4])
                rows = np.empty(len(batch), dtype=[("src", "i2"), ("id", "i8"), ("tile", "i8")])
                rows["src"] = arr[:, 0]
                rows["id"] = np.array([b[1] for b in batch], dtype=np.int64)
                rows["tile"] = keys
                with cur.copy("COPY tile_assign (src, id, tile) FROM STDIN (FORMAT BINARY)") as cp:
                    cp.write(_COPY_HEADER + _copy_binary(rows) + _COPY_TRAILER)
                done += len(batch)
                if progress:
                    progress("index", done, count)
        cur.execute("ANALYZE tile_assign")

        # pass 2: mesh tile after tile
        results = _content_pass(
            pg, spec, tree, epsg, content_dir, old_tiles, count, progress, workers
        )
        if far:  # merged blocks above the buildings (tiles.farfield), same snapshot
            for t in far.build(cur, epsg, content_dir, frozenset(old_tiles)):
                results[t.key] = _Result(t.key, t.digest, t.reused, 0, t.nbytes, t.lo, t.hi)
        pg.rollback()
    finally:
        with contextlib.suppress(Exception):
            pg.rollback()
            pg.isolation_level = None
        raw.close()

    _finish(spec, out, tree, epsg, results, old_tiles, previous, hidden, report, far)


def _content_pass(
    pg: Any,
    spec: TilesetSpec,
    tree: Quadtree,
    epsg: int,
    content_dir: Path,
    old_tiles: dict[str, Any],
    count: int,
    progress: Progress | None,
    workers: int | None,
) -> dict[int, _Result]:
    reusable = frozenset(old_tiles)
    options = _options(spec)
    results: dict[int, _Result] = {}
    n_workers = workers if workers is not None else (os.cpu_count() or 1)
    parallel = n_workers > 1 and count >= PARALLEL_MIN_FEATURES
    pool: ProcessPoolExecutor | None = None
    if parallel:
        pool = ProcessPoolExecutor(
            n_workers,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_init_worker,
            initargs=(reusable,),
        )
    pending: set[Future[_Result]] = set()
    done_features = 0

    def collect(r: _Result) -> None:
        nonlocal done_features
        results[r.key] = r
        done_features += r.features
        if progress:
            progress("tiles", done_features, count)

    def submit(key: int, rows: list[tuple[Any, ...]]) -> None:
        nonlocal pending
        task = _Task(spec.kind, key, epsg, tree.centre(key), rows, options, str(content_dir))
        if pool is None:
            collect(_make_tile(task, reusable))
            return
        pending.add(pool.submit(_make_tile, task))
        if len(pending) >= 2 * n_workers:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in finished:
                collect(f.result())

    try:
        with pg.cursor(name="tiles_rows", binary=True) as rcur:
            rcur.itersize = ROW_BATCH
            rcur.execute(spec.rows_sql(), spec.sql_params)
            key: int | None = None
            rows: list[tuple[Any, ...]] = []
            while batch := rcur.fetchmany(ROW_BATCH):
                for row in batch:
                    if row[0] != key:
                        if rows:
                            submit(key, rows)  # type: ignore[arg-type]
                        key, rows = row[0], []
                    rows.append(tuple(row[1:]))
            if rows:
                submit(key, rows)  # type: ignore[arg-type]
        for f in wait(pending)[0]:
            collect(f.result())
    except BaseException:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
            pool = None
        raise
    finally:
        if pool is not None:
            pool.shutdown()
    return results


def _options(spec: TilesetSpec) -> dict[str, Any]:
    if spec.kind == "buildings":
        return {
            "layer": spec.layer,
            "scenario": spec.scenario_id is not None or spec.project_id is not None,
        }
    return {"layer": spec.layer, **spec.params}


def _parse_box(extent: Any) -> tuple[float, float, float, float]:
    """ST_Extent's ``BOX(xmin ymin,xmax ymax)`` text (or a geometry's WKB envelope)."""
    if isinstance(extent, str):
        inner = extent[extent.index("(") + 1 : extent.rindex(")")]
        lo, hi = inner.split(",")
        xmin, ymin = (float(v) for v in lo.split()[:2])
        xmax, ymax = (float(v) for v in hi.split()[:2])
        return xmin, ymin, xmax, ymax
    raise TypeError(f"unexpected extent {extent!r}")


def _finish(
    spec: TilesetSpec,
    out: Path,
    tree: Quadtree,
    epsg: int,
    results: dict[int, _Result],
    old_tiles: dict[str, Any],
    previous: dict[str, Any] | None,
    hidden: list[int],
    report: BuildReport,
    far: FarField | None = None,
) -> None:
    errors = tree.geometric_errors()
    if far:
        errors |= far.geometric_errors(errors, list(results))
    infos: dict[int, TileInfo] = {}
    manifest_tiles: dict[str, Any] = {}
    for key, r in results.items():
        if r.reused:
            old = old_tiles[r.digest]
            lo, hi, nbytes = old["lo"], old["hi"], old["bytes"]
            report.reused += 1
        else:
            lo, hi, nbytes = r.lo, r.hi, r.nbytes
            report.written += 1
        cx, cy = far.centre(key) if far else tree.centre(key)
        infos[key] = TileInfo(
            key,
            Frame.at(epsg, cx, cy),
            f"{CONTENT_DIR}/{r.digest}.glb",
            np.array(lo),
            np.array(hi),
            r.features,
            nbytes,
            errors.get(key, 0.0),
        )
        manifest_tiles[r.digest] = {
            "key": key,
            "features": r.features,
            "bytes": nbytes,
            "lo": lo,
            "hi": hi,
        }
        report.features += r.features
        report.bytes += nbytes
        if decode(key)[0] <= 1:
            report.first_view_bytes += nbytes
    children: dict[int, list[int]] = {}
    for key in infos:
        if (up := parent(key)) is not None:
            children.setdefault(up, []).append(key)
    for v in children.values():
        v.sort()
    root_key = min(infos)
    root, _ = build_tree(infos, children, root_key, refine_of=far.refine if far else None)
    built_at = datetime.now(UTC).isoformat(timespec="seconds")
    version = hashlib.blake2b("".join(sorted(manifest_tiles)).encode(), digest_size=8).hexdigest()
    extras = {
        "layer": spec.layer,
        "name": spec.name,
        "title": spec.title,
        "epsg": epsg,
        "builtAt": built_at,
        "features": report.features,
    }
    if spec.scenario_id is not None or spec.project_id is not None:
        extras["hides"] = {"layer": "buildings", "ids": hidden}
    doc = tileset_json(root, generator=GENERATOR, version=version, extras=extras)
    js = orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
    report.tiles = len(infos)
    report.bytes += len(js)
    report.first_view_bytes += len(js)
    manifest = {
        "name": spec.name,
        "kind": spec.kind,
        "layer": spec.layer,
        "title": spec.title,
        "min_visibility": spec.min_visibility,
        "builder": BUILDER_VERSION,
        "epsg": epsg,
        "built_at": built_at,
        "version": version,
        "features": report.features,
        "bytes": report.bytes,
        "first_view_bytes": report.first_view_bytes,
        "tiles": manifest_tiles,
        "previous": sorted(previous.get("tiles", {})) if previous else [],
    }
    _atomic_write(out / TILESET, js)
    _atomic_write(out / (TILESET + ".gz"), gzip.compress(js, 6, mtime=0))
    _atomic_write(out / MANIFEST, orjson.dumps(manifest))
    keep = set(manifest_tiles) | set(manifest["previous"])
    for f in (out / CONTENT_DIR).iterdir():
        if f.name.split(".", 1)[0] not in keep:  # x.glb and its x.glb.gz companion
            f.unlink(missing_ok=True)
            report.removed += f.suffix == ".glb"


def _remove_tileset(out: Path) -> None:
    """A layer with no feature left has no tileset: drop the files of an earlier build."""
    for name in (TILESET, TILESET + ".gz", MANIFEST):
        (out / name).unlink(missing_ok=True)
    for f in (out / CONTENT_DIR).glob("*"):
        f.unlink(missing_ok=True)


# -- entry points ---------------------------------------------------------------------------
def resolve_specs(
    engine: Engine, *, layer: str | None = None, scenario: str | None = None
) -> list[TilesetSpec]:
    """The tilesets a build should make: every one, one layer's, or one scenario's."""
    with engine.connect() as conn:
        scenarios = conn.execute(
            text("SELECT s.id, s.slug, s.name FROM scenarios s ORDER BY s.slug")
        ).all()
        projects = conn.execute(
            text("SELECT id, slug, name, visibility FROM projects ORDER BY slug")
        ).all()
    if scenario is not None:
        match = [s for s in scenarios if s.slug == scenario or str(s.id) == scenario]
        if not match:
            known = ", ".join(s.slug for s in scenarios) or "none"
            raise NotFound(f"no scenario {scenario!r}; known scenarios: {known}")
        s = match[0]
        return [scenario_spec(s.id, s.slug, s.name)]
    specs = baseline_specs()
    specs += [scenario_spec(s.id, s.slug, s.name) for s in scenarios]
    specs += [project_spec(p.id, p.slug, p.visibility, p.name) for p in projects]
    if layer is not None:
        baseline = {s.name for s in baseline_specs()}
        chosen = [
            s
            for s in specs
            if s.name == layer
            or (
                s.name in baseline
                and (
                    layer in (s.layer, s.kind)
                    or (s.kind == "network" and layer in ("networks", s.params.get("network")))
                )
            )
        ]
        if not chosen:
            names = ", ".join(s.name for s in specs)
            raise NotFound(f"no tileset for layer {layer!r}; tilesets: {names}")
        return chosen
    return specs


def build_tileset(
    engine: Engine,
    name: str,
    layer: str | None = None,
    out_dir: Path | str = "var/tiles",
    scenario: str | None = None,
    full: bool = False,
    progress: Progress | None = None,
    **kw: Any,
) -> BuildReport:
    """Build the tileset called ``name`` (e.g. ``buildings``, ``network-gas``,
    ``scenario-tower``) into ``out_dir/name``. ``layer`` or ``scenario`` narrow the lookup."""
    specs = resolve_specs(engine, layer=layer, scenario=scenario)
    match = [s for s in specs if s.name == name]
    if not match:
        raise NotFound(f"no tileset {name!r}; tilesets: {', '.join(s.name for s in specs)}")
    return build_spec(engine, match[0], Path(out_dir), full=full, progress=progress, **kw)


def build_all(
    engine: Engine,
    tiles_dir: Path | str,
    *,
    layer: str | None = None,
    scenario: str | None = None,
    full: bool = False,
    progress: Callable[[str, str, int, int], None] | None = None,
    **kw: Any,
) -> list[BuildReport]:
    """Build every tileset (or those of one layer or scenario); the demo calls this.

    ``progress(tileset, phase, done, total)`` is called as work advances.
    """
    reports = []
    for spec in resolve_specs(engine, layer=layer, scenario=scenario):
        cb: Progress | None = None
        if progress is not None:

            def cb(phase: str, done: int, total: int, _n: str = spec.name) -> None:
                progress(_n, phase, done, total)

        reports.append(build_spec(engine, spec, Path(tiles_dir), full=full, progress=cb, **kw))
    return reports


def report_dict(report: BuildReport) -> dict[str, Any]:
    d = asdict(report)
    d["first_view_fraction"] = report.first_view_fraction
    return d
