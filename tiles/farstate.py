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

from tiles.blocks import BIN, I64, OWNER, USE, Grid, Light, read_light, roll_up, sum_bins

Records = NDArray[np.void]


@dataclass
class FarState:
    """Bins of every far-field level, the bin of every building, the usage names (sorted:
    ties of the main usage go to the first)."""

    levels: list[Records]
    uses: list[Records]
    owners: Records
    usages: list[str]

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

    def save(self, path: Path) -> None:
        """.npy records one after the other in one file (no zip: no CRC over the lot)."""
        tmp = path.with_name(f".{path.name}.tmp")
        arrays = [np.array([len(self.levels)]), *self.levels, *self.uses, self.owners]
        with open(tmp, "wb") as f:
            for arr in (*arrays, np.array(self.usages, dtype=str)):
                np.save(f, arr, allow_pickle=False)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path, buildings: int, n_levels: int) -> FarState | None:
        """The saved state, or None when missing or not what the manifest says."""
        try:
            with open(path, "rb") as f:
                n = int(np.load(f, allow_pickle=False)[0])
                if n != n_levels:
                    return None
                arrs = [np.load(f, allow_pickle=False) for _ in range(2 * n + 2)]
        except (OSError, ValueError, EOFError, IndexError):
            return None
        s = cls(arrs[:n], arrs[n : 2 * n], arrs[2 * n], [str(u) for u in arrs[2 * n + 1]])
        same = all(b.dtype == BIN for b in s.levels) and all(u.dtype == USE for u in s.uses)
        return s if same and s.owners.dtype == OWNER and len(s.owners) == buildings else None

    def update(self, cur: Any, grid: Grid, changed: I64) -> tuple[list[I64], int]:
        """Re-read the buildings of every finest bin the ``changed`` ids were or now are in,
        sum those bins again and roll them up; returns the touched codes of every level
        and how many rows it read."""
        ow = self.owners
        hit = np.isin(ow["id"], changed)
        fresh = read_light(cur, changed)
        now = grid.codes(fresh.x, fresh.y)
        touched: I64 = np.unique(np.concatenate([ow["code"][hit], now]))
        if np.array_equal(ow["id"][hit], fresh.id):  # edits only: same ids, codes in place
            ow["code"][np.flatnonzero(hit)] = now
        else:
            add = np.zeros(len(fresh.id), dtype=OWNER)
            add["id"], add["code"] = fresh.id, now
            self.owners = ow = _insert(ow[~hit], add, "id")
        light = read_light(cur, ow["id"][np.isin(ow["code"], touched)])
        before, self.usages = self.usages, sorted(set(self.usages) | set(light.usage))
        if before != self.usages:
            self.uses = [_recode(u, before, self.usages) for u in self.uses]
        bins, uses = sum_bins(light, grid.codes(light.x, light.y), self.usages)
        out = [touched]
        level = len(self.levels) - 1
        while True:
            self.levels[level] = _replace(self.levels[level], touched, bins)
            self.uses[level] = _replace(self.uses[level], touched, uses)
            if level == 0:
                break
            touched = np.unique(touched >> 2)
            below, below_uses = self.levels[level], self.uses[level]
            bins, uses = roll_up(
                below[np.isin(below["code"] >> 2, touched)],
                below_uses[np.isin(below_uses["code"] >> 2, touched)],
            )
            out.insert(0, touched)
            level -= 1
        return out, len(fresh.id) + len(light.id)


def _recode(uses: Records, before: list[str], after: list[str]) -> Records:
    """Usage indices of ``before``'s names -> indices in ``after`` (a superset, sorted)."""
    pos = {u: i for i, u in enumerate(after)}
    remap = np.array([pos[u] for u in before], dtype=np.int32)
    out = uses.copy()
    out["usage"] = remap[uses["usage"]]
    return out


def _replace(records: Records, touched: I64, new: Records) -> Records:
    """``records`` with those of the ``touched`` codes replaced by ``new`` (sorted; only
    codes of ``touched``): in place when the same records stay, else by insertion."""
    hit = np.isin(records["code"], touched)
    old = records[hit]
    same = len(old) == len(new) and np.array_equal(old["code"], new["code"])
    if same and "usage" in (new.dtype.names or ()):
        same = np.array_equal(old["usage"], new["usage"])
    if same:
        records[np.flatnonzero(hit)] = new
        return records
    return _insert(records[~hit], new, "code")


def _insert(kept: Records, new: Records, by: str) -> Records:
    """``new`` records (sorted, none with a ``by`` value of ``kept``) put in place among the
    sorted ``kept``: one copy, no sort of the whole."""
    out: Records = np.insert(kept, np.searchsorted(kept[by], new[by]), new)
    return out
