"""Build driver: PostGIS -> a 3D Tiles 1.1 tileset on disk, streamed, parallel, and
proportional to the change.

A build runs in one REPEATABLE READ transaction (every pass sees the same data; its first
statement takes the snapshot and reads the change log's state, :mod:`tiles.changes`).

*Full build* (no usable manifest, ``full=True``, builder or style changed, log pruned past
the last build, a truncated table, data outside the root cell, or more than
``tiles.passes.INCREMENTAL_MAX_SHARE`` of the features changed):

1. *Index pass*: a server-side cursor streams one light row per feature, largest first; the
   large-first quadtree (:mod:`tiles.quadtree`) assigns each to a tile and the assignment is
   COPYed (binary) into a temporary table.
2. *Content pass*: the full rows joined with that table, ordered by tile, go tile by tile
   to worker processes (:mod:`tiles.tilework`, :mod:`tiles.tiletask`) that mesh them into
   hash-named GLBs.

*Incremental build*: the ids the log names since the previous build's snapshot are read
(index rows of those ids only), moved in the kept membership (:mod:`tiles.members`), and
only the tiles whose feature sets changed go through the content pass (buildings tiles are
patched from their previous files, many tiles to a worker task); every other tile keeps its
file, bytes and ETag. With no change at all only the manifest moves on.

*Swap* (:mod:`tiles.publish`): tileset.json, the manifest and the membership are replaced
atomically; a crash or Ctrl-C at any point leaves the previous tileset whole.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, text

from geodata.access import strictest
from geodata.datasets import sources_visibility
from geodata.errors import Conflict, NotFound
from geodata.layers import LAYERS
from geodata.working_crs import require_working_crs
from tiles import changes, passes
from tiles.kinds import TilesetSpec, baseline_specs, kind_of, project_spec, scenario_spec
from tiles.layout import CONTENT_DIR, LOCK, read_manifest, tileset_dir
from tiles.publish import (
    BuildReport,
)
from tiles.quadtree import TreeParams
from tiles.tiletask import BUILDER_VERSION, STYLE_DIGEST
from tiles.tilework import Progress

LOGGER = logging.getLogger(__name__)


__all__ = ["BuildReport", "build_all", "build_spec", "build_tileset", "report_dict"]


@contextlib.contextmanager
def _lock(out: Path) -> Iterator[None]:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / LOCK, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Conflict(
                f"another build of tileset {out.name!r} is running: wait for it to finish"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


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
    out = tileset_dir(tiles_dir, spec.name)
    report = BuildReport(spec.name, str(out))
    with _lock(out):
        content_dir = out / CONTENT_DIR
        content_dir.mkdir(parents=True, exist_ok=True)
        for stale in content_dir.glob("*.tmp"):
            stale.unlink(missing_ok=True)
        previous = read_manifest(out)
        state = _build_into(
            engine, spec, out, previous, report, progress, workers, params or TreeParams(), full
        )
    if state is not None:
        changes.record(engine, str(out.resolve()), state)
    report.seconds = time.perf_counter() - t0
    LOGGER.info(
        "tileset %s (%s): %d features, %d tiles (%d written, %d reused), %.1f MB in %.2f s",
        spec.name,
        report.mode,
        report.features,
        report.tiles,
        report.written,
        report.reused,
        report.bytes / 1e6,
        report.seconds,
    )
    return report


def _reusable_manifest(
    previous: dict[str, Any] | None, spec: TilesetSpec, epsg: int, params: TreeParams
) -> dict[str, Any] | None:
    """The previous manifest when an incremental build may start from it."""
    if previous is None:
        return None
    tree = previous.get("tree") or {}
    same = (
        previous.get("builder") == BUILDER_VERSION
        and previous.get("style") == STYLE_DIGEST
        and previous.get("kind") == spec.kind
        and previous.get("epsg") == epsg
        # the far field's first_level is the build's own choice (tiles.farfield), not asked for
        and dict(tree.get("params") or {}, first_level=params.first_level) == asdict(params)
    )
    return previous if same else None


def _build_into(
    engine: Engine,
    spec: TilesetSpec,
    out: Path,
    previous: dict[str, Any] | None,
    report: BuildReport,
    progress: Progress | None,
    workers: int | None,
    params: TreeParams,
    full: bool,
) -> changes.LogState | None:
    """Run the build in one snapshot; returns the log state it consumed (None: empty)."""
    kind = kind_of(spec)
    with engine.connect() as sa_conn:
        epsg = require_working_crs(sa_conn)
        # a tileset is as restricted as the most restricted dataset its rows come from
        tables = list(kind.tables.values())
        data_vis = sources_visibility(sa_conn, tables, LAYERS[spec.layer].where)
        spec = replace(spec, min_visibility=strictest(spec.min_visibility, data_vis))
    raw = engine.raw_connection()
    pg: Any = raw.driver_connection
    try:
        pg.rollback()
        pg.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        cur = pg.cursor()
        cur.execute("SET LOCAL jit = off")  # compiling costs more than it saves on these scans
        state = changes.read_state(cur)  # the first query: it takes the snapshot
        hidden: list[int] = []
        if (sql := kind.hidden_sql(spec)) is not None:
            hidden = [r[0] for r in cur.execute(sql, spec.sql_params).fetchall()]
        run = passes.Run(pg, cur, spec, out, state, hidden, epsg, report, progress, workers)
        base = None if full else _reusable_manifest(previous, spec, epsg, params)
        if base is not None and changes.covers(state, base) and passes.incremental(run, base):
            return state
        report.mode = "full"
        return state if passes.full(run, previous, params, reuse=not full) else None
    finally:
        with contextlib.suppress(Exception):
            pg.rollback()
            pg.isolation_level = None
        raw.close()


# -- entry points ---------------------------------------------------------------------------
def resolve_specs(
    engine: Engine, *, layer: str | None = None, scenario: str | None = None
) -> list[TilesetSpec]:
    """The tilesets a build should make: every one, one layer's, or one scenario's."""
    with engine.connect() as conn:
        # a scenario of a project is as visible as its project
        scenarios = conn.execute(
            text(
                "SELECT s.id, s.slug, s.name, p.visibility FROM scenarios s "
                "LEFT JOIN projects p ON p.id = s.project_id ORDER BY s.slug"
            )
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
        return [replace(scenario_spec(s.id, s.slug, s.name), min_visibility=s.visibility)]
    baseline = baseline_specs()
    specs = baseline + [
        replace(scenario_spec(s.id, s.slug, s.name), min_visibility=s.visibility) for s in scenarios
    ]
    specs += [project_spec(p.id, p.slug, p.visibility, p.name) for p in projects]
    if layer is None:
        return specs
    names = {s.name for s in baseline}
    chosen = [
        s
        for s in specs
        if s.name == layer
        or (
            s.name in names
            and (
                layer in (s.layer, s.kind)
                or (s.kind == "network" and layer in ("networks", s.params.get("network")))
            )
        )
    ]
    if not chosen:
        raise NotFound(
            f"no tileset for layer {layer!r}; tilesets: {', '.join(s.name for s in specs)}"
        )
    return chosen


def build_tileset(
    engine: Engine,
    name: str,
    tiles_dir: Path | str,
    *,
    layer: str | None = None,
    scenario: str | None = None,
    full: bool = False,
    progress: Progress | None = None,
    **kw: Any,
) -> BuildReport:
    """Build the tileset called ``name`` (e.g. ``buildings``, ``network-gas``,
    ``scenario-tower``) into ``tiles_dir/name`` (``Settings.tiles_dir``)."""
    specs = resolve_specs(engine, layer=layer, scenario=scenario)
    match = [s for s in specs if s.name == name]
    if not match:
        raise NotFound(f"no tileset {name!r}; tilesets: {', '.join(s.name for s in specs)}")
    return build_spec(engine, match[0], Path(tiles_dir), full=full, progress=progress, **kw)


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
    specs = resolve_specs(engine, layer=layer, scenario=scenario)
    for spec in specs:
        cb: Progress | None = None
        if progress is not None:

            def cb(phase: str, done: int, total: int, _n: str = spec.name) -> None:
                progress(_n, phase, done, total)

        reports.append(build_spec(engine, spec, Path(tiles_dir), full=full, progress=cb, **kw))
    if layer is None and scenario is None:  # every tileset is known: drop stale cursors
        root = Path(tiles_dir).resolve()
        changes.forget(engine, str(root), {str(root / s.name) for s in specs})
    return reports


def report_dict(report: BuildReport) -> dict[str, Any]:
    d = asdict(report)
    d["first_view_fraction"] = report.first_view_fraction
    return d
