"""The two ways a build fills its tileset inside one snapshot: tiling every feature afresh
(:func:`full`), or moving only the changed ones (:func:`incremental`); see tiles.build."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tiles import changes, farfield, statelog
from tiles import members as members_mod
from tiles.blocks import light_rows
from tiles.farfield import FarField, FarJob
from tiles.farstate import Centres, FarState
from tiles.kinds import TilesetSpec, kind_of
from tiles.layout import CONTENT_DIR
from tiles.publish import (
    BuildReport,
    FarTiles,
    TileEntry,
    entries_of,
    far_entries,
    load_far_state,
    publish,
    remove_tileset,
    republish_unchanged,
    stats_of,
)
from tiles.quadtree import Quadtree, TreeParams
from tiles.tiletask import BUILDER_VERSION, Patch, Result
from tiles.tilework import Progress, content_pass, copy_assign, create_assign_table

INDEX_BATCH = 50_000
#: past this share of changed features a full build is cheaper (and gives a fresh tree)
INCREMENTAL_MAX_SHARE = 0.3


@dataclass
class Run:
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
        far: FarPlan | Callable[[], FarPlan] | None = None,
        patch_rows: dict[int, list[tuple[Any, ...]]] | None = None,
    ) -> tuple[dict[int, TileEntry], set[int], FarTiles | None]:
        """The content pass over ``tile_assign``, or over the ``patch_rows`` of a patch pass
        (and the far field's tiles to mesh, in the same workers; planned meanwhile when
        ``far`` is a function): entries of the tiles built, the keys of those written (the
        others reused a file of ``old``), and the far field's tiles."""
        if patch_rows is None:
            self.cur.execute("ANALYZE tile_assign")
        reusable = frozenset(e.digest for e in old.values())
        planned: list[FarPlan] = [far] if isinstance(far, FarPlan) else []

        def later() -> list[FarJob]:
            assert callable(far)
            planned.append(far())
            return planned[0].jobs

        results, far_results = content_pass(
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
            planned[0].jobs if planned else (),
            later if callable(far) else None,
            patch_rows,
        )
        self.pg.rollback()
        tiles = {k: _entry(r, old) for k, r in results.items()}
        written = {k for k, r in results.items() if not r.reused}
        return tiles, written, planned[0].finish(far_results) if planned else None

    def publish(
        self,
        tree: Quadtree,
        tiles: dict[int, TileEntry],
        kept: members_mod.Kept,
        stats: dict[int, members_mod.TileStat],
        written: set[int],
        previous: dict[str, Any] | None,
        ff: FarTiles | None = None,
    ) -> None:
        publish(
            self.spec,
            self.out,
            tree,
            self.epsg,
            tiles,
            kept,
            stats,
            written,
            previous,
            self.hidden,
            self.state,
            self.report,
            ff,
        )

    def far_field(
        self, far: FarField, old: dict[int, TileEntry], since: FarUpdate | None = None
    ) -> FarPlan:
        """The far-field tiles in this snapshot: all of them from every building, or with
        ``since`` only those above the bins its changed buildings touch (the others keep
        their entries). ``old``'s files are kept where a tile's blocks did not change (its
        name is the hash of its input); the others are left to mesh as jobs."""
        reusable = frozenset(e.digest for e in old.values())
        content = self.out / CONTENT_DIR
        if since is None:
            made = far.build(self.cur, self.epsg, content, reusable)
            kept: dict[int, TileEntry] = {}
        else:
            made, looked_at = far.update(
                self.cur, since.state, since.changed, since.at, self.epsg, content, reusable
            )
            kept = {k: e for k, e in old.items() if k not in looked_at}
        assert far.state is not None
        self.report.far_read = far.read
        kept.update((r.key, _entry(r, old)) for r in made if isinstance(r, Result))
        jobs = [j for j in made if isinstance(j, FarJob)]
        return FarPlan(far, kept, jobs)


@dataclass
class FarPlan:
    """A far field whose bins are summed: the tiles kept, and those still to mesh."""

    far: FarField
    tiles: dict[int, TileEntry]
    jobs: list[FarJob]

    def finish(self, results: list[Result]) -> FarTiles:
        tiles = dict(self.tiles)
        tiles.update((r.key, _entry(r, {})) for r in results)
        assert self.far.state is not None
        return FarTiles(self.far, tiles, {r.key for r in results}, self.far.state)


@dataclass
class FarUpdate:
    """What an incremental far field starts from: the previous bins, the changed ids, and
    where those that still exist are now."""

    state: FarState
    changed: NDArray[np.int64]
    at: Centres


def full(run: Run, previous: dict[str, Any] | None, params: TreeParams, *, reuse: bool) -> bool:
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
    box = _parse_box(extent)
    tree = Quadtree.around(*box, float(total_bytes), params)
    far = _plan_far(spec, tree, count, box)
    tree = far.tree if far else tree
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
    # the far field reads its rows before the content pass ends the snapshot
    plan = run.far_field(far, far_entries(previous) if previous and usable else {}) if far else None
    tiles, written, ff = run.mesh(tree, old, count, far=plan)
    members = np.concatenate(parts)
    stats = members_mod.tile_stats(members)
    kept = members_mod.Kept(members_mod.Membership.of(members))
    run.publish(tree, tiles, kept, stats, written, previous, ff)
    return True


def _plan_far(
    spec: TilesetSpec, tree: Quadtree, count: int, box: tuple[float, float, float, float]
) -> FarField | None:
    return FarField.plan(
        tree,
        kind=spec.kind,
        baseline=not spec.is_variant,
        features=count,
        layer=spec.layer,
        extent=box,
    )


def _entry(r: Result, old: dict[int, TileEntry]) -> TileEntry:
    if r.reused:
        prev = old[r.key]
        return TileEntry(r.key, r.digest, prev.features, prev.nbytes, prev.lo, prev.hi)
    return TileEntry(r.key, r.digest, r.features, r.nbytes, r.lo, r.hi)


def incremental(run: Run, base: dict[str, Any]) -> bool:
    """Rebuild only what changed; False when a full build must be done instead."""
    spec, cur = run.spec, run.cur
    kind = kind_of(spec)
    changed = changes.changed_ids(cur, kind.tables, base["snapshot"])
    if changed is None:
        return False
    old = entries_of(base)
    on_disk = set(os.listdir(run.out / CONTENT_DIR))  # one listing, not a stat per tile
    if not all(f"{e.digest}.glb" in on_disk for e in old.values()):
        return False  # a content file went missing on disk: only a full build can remake it
    n_changed = sum(len(v) for v in changed.values())
    if n_changed == 0 and run.hidden == base.get("hidden", []) and base.get("title") == spec.title:
        republish_unchanged(run.spec, run.out, base, run.state, run.report)
        return True
    if n_changed > INCREMENTAL_MAX_SHARE * max(1, int(base.get("features", 0))):
        return False
    params = {**spec.sql_params, **{f"ids_{s}": ids.tolist() for s, ids in changed.items()}}
    info = base.get("members") or {}
    stored = statelog.Stored.from_json(info)
    # the changed rows whole, in the index pass (read once), are asked for in a pipeline: the
    # server reads them while this process maps the kept membership and far-field bins
    with run.pg.pipeline() if kind.patchable else contextlib.nullcontext():
        if kind.patchable:
            cur.execute(kind.changed_sql(spec), params, binary=True)
        members = (
            None if stored is None else members_mod.load(run.out, stored, info.get("count", -1))
        )
        far_state = load_far_state(run.out, base) if base.get("farfield") else None
        got = cur.fetchall() if kind.patchable else []
    if members is None:
        return False
    t = base["tree"]
    tree = Quadtree(t["x0"], t["y0"], t["side"], t["total_bytes"], TreeParams(**t["params"]))
    whole: dict[tuple[int, int], tuple[Any, ...]] = {}
    light = None
    if kind.patchable:
        rows = members_mod.index_rows([r[:6] for r in got])
        end = -kind.changed_tail or None
        whole = {(r[0], r[1]): tuple(r[6:end]) for r in got}
        if end is not None:  # id, centre, then the kind's tail: the far field's light rows
            light = light_rows([(r[1], r[2], r[3], *r[end:]) for r in got if r[0] == 0])
    else:
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
    same, far = _kept_far(spec, tree, base, len(change.members))
    if not same:
        return False  # the far field comes or goes (or its parameters changed): a new tree
    since = None
    if far is not None:
        if (state := far_state) is None:
            return False  # its bins are missing (an older build): only a full build has them
        base_rows = rows[rows["src"] == 0]
        at = Centres(base_rows["id"].copy(), base_rows["x"].copy(), base_rows["y"].copy(), light)
        since = FarUpdate(state, changed.get(0, np.zeros(0, dtype=np.int64)), at)
    patches: dict[int, Patch] | None = None
    by_tile: dict[int, list[tuple[Any, ...]]] | None = None
    if kind.patchable:  # the changed rows only; other features stay in their files
        todo = change.new
        patches = {
            k: Patch(old[k].digest, tuple(change.dropped.get(k, [])))
            for k in sorted(change.touched & set(change.stats))
            if k in old
        }
        by_tile = {}
        placed = zip(todo["tile"].tolist(), todo["src"].tolist(), todo["id"].tolist(), strict=True)
        for tile, src, fid in sorted(placed):  # by tile, then id: as rows_sql orders them
            by_tile.setdefault(tile, []).append(whole[(src, fid)])
    else:  # read every row of the touched tiles
        every = change.members.whole()
        todo = every[np.isin(every["tile"], sorted(change.touched))]
        create_assign_table(cur)
        if len(todo):
            copy_assign(cur, todo["src"], todo["id"], todo["tile"])
    # the far field's tiles above the changed buildings' bins, summed while the workers
    # patch, before the content pass ends the snapshot
    plan = (lambda: run.far_field(far, far_entries(base), since)) if far else None
    built, written, ff = run.mesh(tree, old, len(todo), patches, plan, by_tile)
    tiles = {k: e for k, e in old.items() if k not in change.touched}
    tiles.update(built)
    run.report.mode = "incremental"
    run.report.changed = n_changed
    kept = members_mod.Kept(change.members, stored, members_mod.frame_of(changed, change))
    run.publish(tree, tiles, kept, change.stats, written, base, ff)
    return True


def _kept_far(
    spec: TilesetSpec, tree: Quadtree, base: dict[str, Any], count: int
) -> tuple[bool, FarField | None]:
    """Whether a full build of ``count`` features would plan the far field of ``base``
    (or, like it, none), and that far field (None: a plain tree)."""
    section = base.get("farfield")
    x0, y0 = tree.x0, tree.y0
    wanted = _plan_far(spec, tree, count, (x0, y0, x0 + tree.side, y0 + tree.side))
    if section is None:
        return wanted is None, None
    if (
        wanted is None
        or wanted.first_level != tree.params.first_level
        or section.get("params") != asdict(farfield.DEFAULT_PARAMS)
    ):
        return False, None
    xmin, ymin, xmax, ymax = (float(v) for v in section["extent"])
    return True, FarField(tree, wanted.params, spec.layer, (xmin, ymin, xmax, ymax))


def _parse_box(extent: Any) -> tuple[float, float, float, float]:
    """ST_Extent's ``BOX(xmin ymin,xmax ymax)`` text."""
    if isinstance(extent, str):
        inner = extent[extent.index("(") + 1 : extent.rindex(")")]
        lo, hi = inner.split(",")
        xmin, ymin = (float(v) for v in lo.split()[:2])
        xmax, ymax = (float(v) for v in hi.split()[:2])
        return xmin, ymin, xmax, ymax
    raise TypeError(f"unexpected extent {extent!r}")
