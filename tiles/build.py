"""Build driver: PostGIS -> a 3D Tiles 1.1 tileset on disk, streamed, parallel, and
proportional to the change.

A build runs in one REPEATABLE READ transaction (every pass sees the same data; its first
statement takes the snapshot and reads the change log's state, :mod:`tiles.changes`).

*Full build* (no usable manifest, ``full=True``, builder or style changed, log pruned past
the last build, a truncated table, data outside the root cell, or more than
``INCREMENTAL_MAX_SHARE`` of the features changed):

1. *Index pass*: a server-side cursor streams one light row per feature, largest first; the
   large-first quadtree (:mod:`tiles.quadtree`) assigns each to a tile and the assignment is
   COPYed (binary) into a temporary table.
2. *Content pass*: the full rows joined with that table, ordered by tile, go tile by tile
   to worker processes (:mod:`tiles.tilework`) that mesh them into hash-named GLBs.

*Incremental build*: the ids the log names since the previous build's snapshot are read
(index rows of those ids only), moved in the kept membership (:mod:`tiles.members`), and
only the tiles whose feature sets changed go through the content pass; every other tile
keeps its file, bytes and ETag. With no change at all only the manifest moves on.

*Swap* (:mod:`tiles.publish`): tileset.json, the manifest and the membership are replaced
atomically; a crash or Ctrl-C at any point leaves the previous tileset whole.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from sqlalchemy import Engine, text

from geodata.access import strictest
from geodata.datasets import sources_visibility
from geodata.errors import Conflict, NotFound
from geodata.layers import LAYERS
from geodata.working_crs import require_working_crs
from tiles import changes
from tiles import members as members_mod
from tiles.kinds import TilesetSpec, baseline_specs, kind_of, project_spec, scenario_spec
from tiles.layout import CONTENT_DIR, LOCK, read_manifest, tileset_dir
from tiles.publish import (
    BuildReport,
    TileEntry,
    entries_of,
    publish,
    remove_tileset,
    republish_unchanged,
    stats_of,
)
from tiles.quadtree import Quadtree, TreeParams
from tiles.tilework import (
    BUILDER_VERSION,
    STYLE_DIGEST,
    Patch,
    Progress,
    Result,
    content_pass,
    copy_assign,
    create_assign_table,
)

LOGGER = logging.getLogger(__name__)

INDEX_BATCH = 50_000
#: past this share of changed features a full build is cheaper (and gives a fresh tree)
INCREMENTAL_MAX_SHARE = 0.3

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
        and tree.get("params") == asdict(params)
    )
    return previous if same else None


@dataclass
class _Run:
    """One build in its snapshot: what both the full and the incremental path need."""

    pg: Any
    cur: Any
    spec: TilesetSpec
    out: Path
    state: changes.LogState
    hidden: list[int]
    epsg: int
    report: BuildReport
    progress: Progress | None
    workers: int | None

    def mesh(
        self,
        tree: Quadtree,
        old: dict[int, TileEntry],
        count: int,
        patches: dict[int, Patch] | None = None,
    ) -> tuple[dict[int, TileEntry], set[int]]:
        """The content pass over ``tile_assign``: entries of the tiles built, and the keys
        of those written (the others reused a file of ``old``)."""
        self.cur.execute("ANALYZE tile_assign")
        reusable = frozenset(e.digest for e in old.values())
        results = content_pass(
            self.pg,
            self.spec,
            tree,
            self.epsg,
            self.out / CONTENT_DIR,
            reusable,
            count,
            self.progress,
            self.workers,
            patches,
        )
        self.pg.rollback()
        tiles = {k: _entry(r, old) for k, r in results.items()}
        return tiles, {k for k, r in results.items() if not r.reused}

    def publish(
        self,
        tree: Quadtree,
        tiles: dict[int, TileEntry],
        members: members_mod.Members,
        stats: dict[int, members_mod.TileStat],
        written: set[int],
        previous: dict[str, Any] | None,
    ) -> None:
        publish(
            self.spec,
            self.out,
            tree,
            self.epsg,
            tiles,
            members,
            stats,
            written,
            previous,
            self.hidden,
            self.state,
            self.report,
        )


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
        run = _Run(pg, cur, spec, out, state, hidden, epsg, report, progress, workers)
        base = None if full else _reusable_manifest(previous, spec, epsg, params)
        if base is not None and changes.covers(state, base) and _incremental(run, base):
            return state
        report.mode = "full"
        return state if _full(run, previous, params, reuse=not full) else None
    finally:
        with contextlib.suppress(Exception):
            pg.rollback()
            pg.isolation_level = None
        raw.close()


def _full(run: _Run, previous: dict[str, Any] | None, params: TreeParams, *, reuse: bool) -> bool:
    """Tile every feature afresh; ``reuse``: keep the previous build's files whose input
    did not change (``--full`` meshes every tile)."""
    spec, cur = run.spec, run.cur
    kind = kind_of(spec)
    count, extent, total_bytes = cur.execute(kind.extent_sql(spec), spec.sql_params).fetchone()
    count = int(count or 0)
    if count == 0 or extent is None:
        remove_tileset(run.out)
        run.report.empty = True
        return False
    tree = Quadtree.around(*_parse_box(extent), float(total_bytes), params)
    create_assign_table(cur)
    parts: list[members_mod.Members] = []
    done = 0
    with run.pg.cursor(name="tiles_index", binary=True) as icur:
        icur.itersize = INDEX_BATCH
        icur.execute(kind.index_sql(spec), spec.sql_params)
        while batch := icur.fetchmany(INDEX_BATCH):
            rows = members_mod.index_rows(batch)
            keys = tree.assign(rows["x"], rows["y"], rows["nbytes"], rows["size"])
            copy_assign(cur, rows["src"], rows["id"], keys)
            part = np.empty(len(rows), dtype=members_mod.MEMBER)
            for name in ("src", "id", "size", "nbytes"):
                part[name] = rows[name]
            part["tile"] = keys
            parts.append(part)
            done += len(batch)
            if run.progress:
                run.progress("index", done, count)
    usable = reuse and previous and previous.get("builder") == BUILDER_VERSION
    old = entries_of(previous) if previous and usable else {}
    tiles, written = run.mesh(tree, old, count)
    members = np.concatenate(parts)
    run.publish(tree, tiles, members, members_mod.tile_stats(members), written, previous)
    return True


def _entry(r: Result, old: dict[int, TileEntry]) -> TileEntry:
    if r.reused:
        prev = old[r.key]
        return TileEntry(r.key, r.digest, prev.features, prev.nbytes, prev.lo, prev.hi)
    return TileEntry(r.key, r.digest, r.features, r.nbytes, r.lo, r.hi)


def _incremental(run: _Run, base: dict[str, Any]) -> bool:
    """Rebuild only what changed; False when a full build must be done instead."""
    spec, cur = run.spec, run.cur
    kind = kind_of(spec)
    changed = changes.changed_ids(cur, kind.tables, base["snapshot"])
    if changed is None:
        return False
    n_changed = sum(len(v) for v in changed.values())
    if n_changed == 0 and run.hidden == base.get("hidden", []) and base.get("title") == spec.title:
        republish_unchanged(run.spec, run.out, base, run.state, run.report)
        return True
    if n_changed > INCREMENTAL_MAX_SHARE * max(1, int(base.get("features", 0))):
        return False
    info = base.get("members") or {}
    members = members_mod.load(run.out / str(info.get("file")), int(info.get("count", -1)))
    if members is None:
        return False
    t = base["tree"]
    tree = Quadtree(t["x0"], t["y0"], t["side"], t["total_bytes"], TreeParams(**t["params"]))
    params = {**spec.sql_params, **{f"ids_{s}": ids.tolist() for s, ids in changed.items()}}
    rows = members_mod.index_rows(
        cur.execute(kind.index_sql(spec, changed=True), params).fetchall()
    )
    if not all(
        tree.holds(x, y) for x, y in zip(rows["x"].tolist(), rows["y"].tolist(), strict=True)
    ):
        return False  # the data grew out of the root cell: a new tree
    change = members_mod.apply(tree, members, changed, rows, stats_of(base))
    if not len(change.members):
        return False  # everything went: the full path removes the tileset
    old = entries_of(base)
    patches: dict[int, Patch] | None = None
    if kind.patchable:  # read the changed rows only; other features stay in their files
        todo = change.members[len(change.members) - change.placed :]
        patches = {
            k: Patch(old[k].digest, tuple(change.dropped.get(k, [])))
            for k in sorted(change.touched & set(change.stats))
            if k in old
        }
    else:  # read every row of the touched tiles
        todo = change.members[np.isin(change.members["tile"], sorted(change.touched))]
    create_assign_table(cur)
    if len(todo):
        copy_assign(cur, todo["src"], todo["id"], todo["tile"])
    built, written = run.mesh(tree, old, len(todo), patches)
    tiles = {k: e for k, e in old.items() if k not in change.touched}
    tiles.update(built)
    run.report.mode = "incremental"
    run.report.changed = n_changed
    run.publish(tree, tiles, change.members, change.stats, written, base)
    return True


def _parse_box(extent: Any) -> tuple[float, float, float, float]:
    """ST_Extent's ``BOX(xmin ymin,xmax ymax)`` text."""
    if isinstance(extent, str):
        inner = extent[extent.index("(") + 1 : extent.rindex(")")]
        lo, hi = inner.split(",")
        xmin, ymin = (float(v) for v in lo.split()[:2])
        xmax, ymax = (float(v) for v in hi.split()[:2])
        return xmin, ymin, xmax, ymax
    raise TypeError(f"unexpected extent {extent!r}")


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
