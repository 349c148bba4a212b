"""The far field's bins kept between builds: what makes an incremental far field
proportional to the change (see tiles.blocks for the sums, tiles.farfield for the tiles).

``levels[L]`` holds the bins of far-field level ``L`` (sorted by Morton code), each the sum
of its four children at ``L + 1``, the finest level the sum of its buildings; ``uses[L]``
the built area per usage of the same bins; ``owners`` the finest bin of every building.
A change re-reads the buildings of the finest bins it touches, sums those bins again and
rolls them up level by level: each level re-sums only the parents of what changed below.
Records are overwritten in place when the same bins stay (an edit), inserted by binary
search otherwise: no level is ever sorted or summed whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tiles import records, statelog
from tiles.blocks import (
    BIN,
    F64,
    I64,
    OWNER,
    USE,
    Grid,
    Light,
    merge_light,
    read_light,
    roll_up,
    sum_bins,
)

Records = NDArray[np.void]


@dataclass
class Centres:
    """Buildings' centres (the index pass's: the middle of the footprint's box), and their
    light rows when the pass read them too (None: the update reads them)."""

    id: I64
    x: F64
    y: F64
    light: Light | None = None


@dataclass
class FarState:
    """Bins of every far-field level, the bin of every building, the usage names (sorted:
    ties of the main usage go to the first)."""

    levels: list[Records]
    uses: list[Records]
    owners: Records
    usages: list[str]
    #: the last update's change, as the log keeps it (tiles.statelog); None after a full sum
    frame: statelog.Arrays | None = None
    #: where the state was loaded from (None: summed afresh)
    stored: statelog.Stored | None = None

    @classmethod
    def of(cls, light: Light, grid: Grid, n_levels: int) -> FarState:
        usages = sorted(set(light.usage))
        codes = grid.codes(light.x, light.y)
        bins, uses = sum_bins(light, codes, usages)
        levels, use_levels = [bins], [uses]
        for _ in range(n_levels - 1):
            bins, uses = roll_up(bins, uses)
            levels.insert(0, bins)
            use_levels.insert(0, uses)
        owners = np.zeros(len(light.id), dtype=OWNER)
        owners["id"], owners["code"] = light.id, codes
        return cls(levels, use_levels, owners, usages)

    def extent(self) -> tuple[float, float, float, float]:
        b = self.levels[0]
        return (
            float(b["xmin"].min()),
            float(b["ymin"].min()),
            float(b["xmax"].max()),
            float(b["ymax"].max()),
        )

    def save(self, out: Path) -> statelog.Stored:
        """Append the last update's change to the log of the state it was loaded from while
        that is worth it, else write the whole state afresh."""

        def base() -> statelog.Arrays:
            names = np.array(self.usages, dtype=str)
            return [np.array([len(self.levels)]), *self.levels, *self.uses, self.owners, names]

        return statelog.save(out, "far", self.stored, self.frame, base)

    @classmethod
    def load(
        cls, out: Path, stored: statelog.Stored, buildings: int, n_levels: int
    ) -> FarState | None:
        """The kept state (its base with the logged changes replayed), or None when missing
        or not what the manifest says."""
        got = statelog.load(out, stored)
        if got is None:
            return None
        arrs, frames = got
        if len(arrs) != 2 * n_levels + 3 or int(arrs[0][0]) != n_levels:
            return None
        n = n_levels
        s = cls(arrs[1 : n + 1], arrs[n + 1 : 2 * n + 1], arrs[2 * n + 1], _names(arrs[-1]))
        same = all(b.dtype == BIN for b in s.levels) and all(u.dtype == USE for u in s.uses)
        if not same or s.owners.dtype != OWNER:
            return None
        try:
            for frame in frames:
                s._replay(frame)
        except (ValueError, IndexError, KeyError):
            return None
        s.stored = stored
        return s if len(s.owners) == buildings else None

    def _replay(self, frame: statelog.Arrays) -> None:
        """Apply a logged update: the same steps :meth:`update` took, from what it read."""
        usages, changed, add = _names(frame[0]), frame[1], frame[2]
        if usages != self.usages:
            self.uses = [_recode(u, self.usages, usages) for u in self.uses]
            self.usages = usages
        ow = self.owners
        self.owners = _owners(ow, _runs(ow["id"], changed, changed + 1), add)  # as update()
        rest = frame[3:]
        if len(rest) != 3 * len(self.levels):
            raise ValueError("a far-field log frame of another depth")
        for level in range(len(self.levels)):
            touched, bins, uses = rest[3 * level : 3 * level + 3]
            self.levels[level] = _replace(self.levels[level], touched, bins)
            self.uses[level] = _replace(self.uses[level], touched, uses)
        self.frame = None

    def update(self, cur: Any, grid: Grid, changed: I64, at: Centres) -> tuple[list[I64], int]:
        """Re-read the buildings of every finest bin the ``changed`` ids were or now are in,
        sum those bins again and roll them up; returns the touched codes of every level
        and how many rows it read. ``at`` is where the changed buildings that still exist
        are now, as the index pass read them (the same centres): their new bins are known
        without reading them twice."""
        ow = self.owners
        changed = np.unique(changed)
        hit = _runs(ow["id"], changed, changed + 1)  # owners are sorted by id
        order = np.argsort(at.id, kind="stable")
        ids = at.id[order]
        now = grid.codes(at.x[order], at.y[order])
        touched: I64 = np.unique(np.concatenate([ow["code"][hit], now]))
        add = np.zeros(len(ids), dtype=OWNER)
        add["id"], add["code"] = ids, now
        self.owners = ow = _owners(ow, hit, add)
        need = ow["id"][np.isin(ow["code"], touched)]
        if at.light is None:
            light = read_light(cur, need)
        else:  # the changed ones came with the index pass: only their bins' others are read
            rest = need[~np.isin(need, at.light.id)]
            light = merge_light([at.light, *([read_light(cur, rest)] if len(rest) else [])])
        before, self.usages = self.usages, sorted(set(self.usages) | set(light.usage))
        if before != self.usages:
            self.uses = [_recode(u, before, self.usages) for u in self.uses]
        bins, uses = sum_bins(light, grid.codes(light.x, light.y), self.usages)
        out = [touched]
        level = len(self.levels) - 1
        per_level: list[statelog.Arrays] = []
        while True:
            self.levels[level] = _replace(self.levels[level], touched, bins)
            self.uses[level] = _replace(self.uses[level], touched, uses)
            per_level.insert(0, [touched, bins, uses])
            if level == 0:
                break
            touched = np.unique(touched >> 2)
            below, below_uses = self.levels[level], self.uses[level]
            # the children of the touched parents: runs of codes found by binary search
            lo, hi = touched << 2, (touched + 1) << 2
            bins, uses = roll_up(
                below[_runs(below["code"], lo, hi)], below_uses[_runs(below_uses["code"], lo, hi)]
            )
            out.insert(0, touched)
            level -= 1
        names = np.array(self.usages, dtype=str)
        self.frame = [names, np.asarray(changed, dtype=np.int64), add]
        self.frame += [a for arrays in per_level for a in arrays]
        return out, len(light.id)


def _owners(owners: Records, hit: I64, add: Records) -> Records:
    """``owners`` with those at ``hit`` replaced by ``add`` (sorted by id): in place for
    edits only (the same ids, new codes), else by deletion and insertion."""
    if np.array_equal(owners["id"][hit], add["id"]):
        owners["code"][hit] = add["code"]
        return owners
    return _insert(records.delete(owners, hit), add, "id")


def _runs(codes: NDArray[np.int64], lo: I64, hi: I64) -> I64:
    """Indices, in order, of the sorted ``codes`` in any ``[lo[i], hi[i])`` (disjoint,
    sorted ranges): a binary search per range, not a pass over a level per change."""
    c = np.ascontiguousarray(codes)
    start, stop = np.searchsorted(c, lo), np.searchsorted(c, hi)
    n = stop - start
    if not n.sum():
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(start - np.concatenate([[0], np.cumsum(n)[:-1]]), n)
    out: I64 = offsets + np.arange(int(n.sum()), dtype=np.int64)
    return out


def _names(arr: NDArray[Any]) -> list[str]:
    return [str(u) for u in arr.tolist()]


def _recode(uses: Records, before: list[str], after: list[str]) -> Records:
    """Usage indices of ``before``'s names -> indices in ``after`` (a superset, sorted)."""
    pos = {u: i for i, u in enumerate(after)}
    remap = np.array([pos[u] for u in before], dtype=np.int32)
    out = uses.copy()
    out["usage"] = remap[uses["usage"]]
    return out


def _replace(recs: Records, touched: I64, new: Records) -> Records:
    """``recs`` with those of the ``touched`` codes replaced by ``new`` (sorted; only
    codes of ``touched``): in place when the same records stay, else by insertion."""
    at = _runs(recs["code"], touched, touched + 1)
    old = records.take(recs, at)
    same = len(old) == len(new) and np.array_equal(old["code"], new["code"])
    if same and "usage" in (new.dtype.names or ()):
        same = np.array_equal(old["usage"], new["usage"])
    if same:
        records.put(recs, at, new)
        return recs
    return _insert(records.delete(recs, at), new, "code")


def _insert(kept: Records, new: Records, by: str) -> Records:
    """``new`` records (sorted, none with a ``by`` value of ``kept``) put in place among the
    sorted ``kept``: one copy, no sort of the whole."""
    return records.insert(kept, np.searchsorted(kept[by], new[by]), new)
