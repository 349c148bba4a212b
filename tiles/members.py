"""Which tile holds which feature, kept between builds, and how changed features move.

A build writes its membership (``src, id, tile, size, est_bytes`` per feature) next to the
manifest. The next build removes the changed and deleted features from their tiles and
places the changed ones again, largest first, as the full build's quadtree would: each
goes down its root-to-leaf path to the first tile with room, skipping tiles that already
refine into children and hold only larger features (the skyline stays on top). A feature
edited in place stays in its tile while that tile's cell holds it and its budget allows.
A full tile never grows: the feature goes one level down, so a leaf that overflows splits
into children. Only the tiles whose feature sets changed are meshed again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from tiles import records, statelog
from tiles.quadtree import Quadtree, ancestors, decode, parent, with_ancestors

MEMBER = np.dtype([("src", "i2"), ("id", "i8"), ("tile", "i8"), ("size", "f8"), ("nbytes", "i8")])
#: an index-pass row: ``(src, id, x, y, size, est_bytes)``
INDEX = np.dtype(
    [("src", "i2"), ("id", "i8"), ("x", "f8"), ("y", "f8"), ("size", "f8"), ("nbytes", "i8")]
)

Members = NDArray[np.void]


def index_rows(batch: list[tuple[object, ...]]) -> Members:
    arr = np.empty(len(batch), dtype=INDEX)
    if batch:
        cols = list(zip(*batch, strict=True))
        for name, col in zip(INDEX.names or (), cols, strict=True):
            arr[name] = col
    return arr


#: a changed feature, as the log keeps it
KEY = np.dtype([("src", "i2"), ("id", "i8")])


@dataclass
class Membership:
    """Which tile holds which feature: the base's features but the ``gone`` ones, then the
    ``placed`` ones. Kept in these parts from load to save: a build appends the change it
    made to the log (tiles.statelog) and never needs the whole array, whose copy at 100k
    features is 3.4 MB of fresh memory; only a fresh base (:meth:`whole`) joins them."""

    base: Members
    gone: NDArray[np.bool_]  # the base's features that a change removed or moved
    placed: Members  # the features changes placed since the base, still current

    @classmethod
    def of(cls, members: Members) -> Membership:
        return cls(members, np.zeros(len(members), dtype=bool), members[:0])

    def __len__(self) -> int:
        return len(self.base) - int(np.count_nonzero(self.gone)) + len(self.placed)

    def select(self, in_base: NDArray[np.bool_], in_placed: NDArray[np.bool_]) -> Members:
        """The current features that the masks (over the base, over the placed) pick."""
        return records.concat(
            [records.take(self.base, in_base & ~self.gone), records.take(self.placed, in_placed)]
        )

    def whole(self) -> Members:
        return self.select(np.ones(len(self.base), dtype=bool), np.ones(len(self.placed), bool))


@dataclass
class Kept:
    """A build's membership, and what it changed since the state it was loaded from (None:
    laid out afresh), so that saving it appends the change (tiles.statelog)."""

    members: Membership
    previous: statelog.Stored | None = None
    frame: statelog.Arrays | None = None

    def save(self, out: Path) -> statelog.Stored:
        return statelog.save(
            out, "members", self.previous, self.frame, lambda: [self.members.whole()]
        )


def load(out: Path, stored: statelog.Stored, count: int) -> Membership | None:
    """The kept membership (its base and the logged changes), or None when missing or not
    what the manifest says."""
    got = statelog.load(out, stored)
    if got is None or len(got[0]) != 1 or got[0][0].dtype != MEMBER:
        return None
    base, frames = got[0][0], got[1]
    if any(len(f) != 2 or f[0].dtype != KEY or f[1].dtype != MEMBER for f in frames):
        return None
    placed = base[:0]
    for keys, again in frames:  # a later frame's keys void what earlier ones placed
        placed = records.concat([records.take(placed, ~_mask(placed, _by_src(keys))), again])
    keys = records.concat([f[0] for f in frames]) if frames else np.zeros(0, dtype=KEY)
    loaded = Membership(base, _mask(base, _by_src(keys)), placed)
    return loaded if len(loaded) == count else None


def _by_src(keys: NDArray[np.void]) -> dict[int, NDArray[np.int64]]:
    return {int(src): keys["id"][keys["src"] == src] for src in np.unique(keys["src"])}


def frame_of(changed: dict[int, NDArray[np.int64]], change: Change) -> statelog.Arrays:
    """The log's record of ``change``: the changed keys and the features placed again."""
    keys = np.zeros(sum(len(v) for v in changed.values()), dtype=KEY)
    at = 0
    for src, ids in sorted(changed.items()):
        keys["src"][at : at + len(ids)] = src
        keys["id"][at : at + len(ids)] = ids
        at += len(ids)
    return [keys, change.new]


@dataclass
class TileStat:
    """What placement needs to know of a tile (kept in the manifest)."""

    count: int
    nbytes: int  # estimated
    largest: float
    smallest: float


def tile_stats(members: Members) -> dict[int, TileStat]:
    """Per tile: feature count, estimated bytes, largest and smallest feature size."""
    if not len(members):
        return {}
    order = np.argsort(members["tile"], kind="stable")
    t = members["tile"][order]
    keys, start, counts = np.unique(t, return_index=True, return_counts=True)
    nbytes = np.add.reduceat(members["nbytes"][order], start)
    big = np.maximum.reduceat(members["size"][order], start)
    small = np.minimum.reduceat(members["size"][order], start)
    return {
        k: TileStat(c, b, lg, sm)
        for k, c, b, lg, sm in zip(
            keys.tolist(),
            counts.tolist(),
            nbytes.tolist(),
            big.tolist(),
            small.tolist(),
            strict=True,
        )
    }


def _restat(stats: dict[int, TileStat], members: Members, keys: set[int]) -> None:
    """Recompute ``keys``' stats from ``members``, all the features of those tiles."""
    fresh = tile_stats(members)
    for k in keys:
        if k in fresh:
            stats[k] = fresh[k]
        else:
            stats.pop(k, None)


@dataclass
class Change:
    members: Membership  # the new membership; the ``placed`` ones are its last placed rows
    touched: set[int]  # tiles whose feature set or rows changed
    placed: int  # how many features were placed again
    dropped: dict[int, list[int]]  # per tile, the ids that left it (or changed in it)
    stats: dict[int, TileStat]  # of every tile that still holds a feature

    @property
    def new(self) -> Members:
        """The features this change placed again."""
        return self.members.placed[len(self.members.placed) - self.placed :]


def _mask(members: Members, changed: dict[int, NDArray[np.int64]]) -> NDArray[np.bool_]:
    hit = np.zeros(len(members), dtype=bool)
    for src, ids in changed.items():
        if len(ids):
            hit |= (members["src"] == src) & np.isin(members["id"], ids)
    return hit


def apply(
    tree: Quadtree,
    members: Membership,
    changed: dict[int, NDArray[np.int64]],
    rows: Members,
    stats: dict[int, TileStat],
) -> Change:
    """Remove every ``changed`` feature, then place the ``rows`` read for them again
    (``rows`` are INDEX records; a changed id without a row was deleted). ``stats`` are the
    tiles' stats before the change; only the touched tiles' are recomputed."""
    hit, hit_placed = _mask(members.base, changed), _mask(members.placed, changed)
    old = members.select(hit, hit_placed)
    touched = set(np.unique(old["tile"]).tolist())
    was_in = {
        (int(s), int(i)): int(t) for s, i, t in zip(old["src"], old["id"], old["tile"], strict=True)
    }
    stats = dict(stats)
    if touched:  # what stays in the tiles the changed features leave
        keys = np.fromiter(touched, np.int64, len(touched))
        in_base, in_placed = (np.isin(m["tile"], keys) for m in (members.base, members.placed))
        _restat(stats, members.select(in_base & ~hit, in_placed & ~hit_placed), touched)
    inner = {up for k in with_ancestors(stats) if (up := parent(k)) is not None}
    p = tree.params
    depth = tree.depth

    def fits(key: int, level: int, b: int) -> bool:
        st = stats.get(key)
        return (
            st is None
            or level == depth
            or (st.count + 1 <= p.max_tile_features and st.nbytes + b <= tree.byte_budget(level))
        )

    order = np.lexsort((rows["id"], rows["src"], -rows["size"]))
    rows = rows[order]
    paths = tree.path_keys(rows["x"], rows["y"]).tolist()
    placed = np.empty(len(rows), dtype=MEMBER)
    for j, (src, fid, _, _, size, b) in enumerate(rows.tolist()):
        path = paths[j]
        key = was_in.get((src, fid), -1)
        level = decode(key)[0] if key >= 0 else 0
        if key < 0 or path[level] != key or not fits(key, level, b):
            for level, key in enumerate(path):
                if level < p.first_level:
                    continue  # the far field's levels (tiles.farfield) hold no feature
                st = stats.get(key)
                if st is not None and key in inner and size < st.smallest:
                    continue  # refines into children and holds larger features only
                if fits(key, level, b):
                    break
        st = stats.get(key)
        if st is None:
            stats[key] = TileStat(1, b, size, size)
            inner.update(ancestors(key))
        else:
            st.count += 1
            st.nbytes += b
            st.largest = max(st.largest, size)
            st.smallest = min(st.smallest, size)
        touched.add(key)
        placed[j] = (src, fid, key, size, b)
    dropped: dict[int, list[int]] = {}
    for (_, fid), key in was_in.items():
        dropped.setdefault(key, []).append(fid)
    now = Membership(
        members.base,
        members.gone | hit,
        records.concat([records.take(members.placed, ~hit_placed), placed]),
    )
    return Change(now, touched, len(placed), dropped, stats)
