"""The far field's data: buildings summed into bins (kept between builds by tiles.farstate).

Why bins: a far-field tile (tiles.farfield) is a raster of blocks, and every block is a
sum over the buildings of its bin (footprint area, area-weighted top, height and year,
extent, count, area per usage), so a coarse bin is exactly the sum of the finer bins it
covers. A build keeps the bins of every far-field level (:class:`tiles.farstate.FarState`,
saved next to the manifest) and the bin of every building: an incremental build re-reads only the
buildings of the bins its changes touch, re-sums those bins, and re-meshes only the tiles
above them. Sums always run in the same order (buildings by id within a bin, finer bins by
code within a coarser one), so an incremental build writes the very bytes a full build
would, and untouched tiles keep their names.

Bins are numbered in Morton (Z) order: the finer bins of a coarser bin, and the bins of a
tile, are one contiguous run of codes, found by binary search.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

#: a light row's values after id and centre (x, y), over ``footprint`` and its ``b`` box:
#: the tiles' query of changed rows ends with them too (tiles.kinds.buildings), so that an
#: incremental build does not read the changed buildings a second time for the far field
LIGHT_COLUMNS = (
    *("ST_XMin(b)", "ST_YMin(b)", "ST_XMax(b)", "ST_YMax(b)", "ST_Area(footprint)"),
    *("base_z", "height", "coalesce(year_built, -1)", "coalesce(usage, '')"),
)
LIGHT_TAIL = ", ".join(LIGHT_COLUMNS)
#: one light row per baseline building (same centre as the tiles' index pass)
_SQL = (
    "SELECT id, (ST_XMin(b) + ST_XMax(b)) / 2, (ST_YMin(b) + ST_YMax(b)) / 2, "
    f"{LIGHT_TAIL} "
    "FROM (SELECT id, footprint::box2d AS b, footprint, base_z, height, year_built, usage "
    "FROM buildings WHERE scenario_id IS NULL{only}) q"
)
_BATCH = 50_000

#: a bin of the finest far-field level: sums over its buildings
BIN = np.dtype(
    [
        ("code", "i8"),
        ("count", "i8"),
        ("area", "f8"),
        ("xmin", "f8"),
        ("ymin", "f8"),
        ("xmax", "f8"),
        ("ymax", "f8"),
        ("ax", "f8"),  # sum of area * x (centre)
        ("ay", "f8"),
        ("base", "f8"),  # lowest base
        ("atop", "f8"),  # sum of area * (base + height)
        ("ah", "f8"),  # sum of area * height
        ("dated", "f8"),  # area of the buildings with a year
        ("ayear", "f8"),  # sum of area * year over those
    ]
)
#: built area of one usage in one bin (``usage``: index into FarState.usages)
USE = np.dtype([("code", "i8"), ("usage", "i4"), ("area", "f8")])
#: the bin each building is in, by id
OWNER = np.dtype([("id", "i8"), ("code", "i8")])


# -- Morton codes ---------------------------------------------------------------------------
def _spread(v: NDArray[Any]) -> NDArray[np.uint64]:
    x = np.asarray(v).astype(np.uint64) & np.uint64(0xFFFFFFFF)
    for shift, mask in ((16, 0x0000FFFF0000FFFF), (8, 0x00FF00FF00FF00FF)):
        x = (x | (x << np.uint64(shift))) & np.uint64(mask)
    for shift, mask in ((4, 0x0F0F0F0F0F0F0F0F), (2, 0x3333333333333333)):
        x = (x | (x << np.uint64(shift))) & np.uint64(mask)
    return (x | (x << np.uint64(1))) & np.uint64(0x5555555555555555)


def _gather(v: NDArray[np.uint64]) -> I64:
    x = v & np.uint64(0x5555555555555555)
    for shift, mask in ((1, 0x3333333333333333), (2, 0x0F0F0F0F0F0F0F0F)):
        x = (x | (x >> np.uint64(shift))) & np.uint64(mask)
    for shift, mask in ((4, 0x00FF00FF00FF00FF), (8, 0x0000FFFF0000FFFF)):
        x = (x | (x >> np.uint64(shift))) & np.uint64(mask)
    x = (x | (x >> np.uint64(16))) & np.uint64(0xFFFFFFFF)
    return x.astype(np.int64)


def morton(ix: NDArray[Any], iy: NDArray[Any]) -> I64:
    """Z-order code of cell (ix, iy): ``code >> 2`` is the code of the parent cell."""
    return ((_spread(ix) << np.uint64(1)) | _spread(iy)).astype(np.int64)


def unmorton(code: NDArray[Any]) -> tuple[I64, I64]:
    c = np.asarray(code).astype(np.uint64)
    return _gather(c >> np.uint64(1)), _gather(c)


# -- light rows and bins --------------------------------------------------------------------
@dataclass
class Light:
    """Light rows of buildings (one entry per building), sorted by id."""

    id: I64
    x: F64
    y: F64
    box: F64  # (n, 4): xmin, ymin, xmax, ymax
    area: F64
    base: F64
    height: F64
    year: F64
    usage: list[str]


def read_light(cur: Any, ids: I64 | None = None) -> Light:
    """Every baseline building's light row, or those of ``ids``, in the build's snapshot."""
    parts: list[Light] = []
    # binary: numbers arrive as doubles, not text to parse (~60 ms of 345 for 100k rows)
    if ids is None:
        cur.execute(_SQL.format(only=""), binary=True)
    else:
        cur.execute(_SQL.format(only=" AND id = ANY(%(ids)s)"), {"ids": ids.tolist()}, binary=True)
    while batch := cur.fetchmany(_BATCH):
        parts.append(light_rows(batch))
    return merge_light(parts)


def light_rows(rows: Sequence[Sequence[Any]]) -> Light:
    """Light rows as the query gives them: id, centre x and y, then :data:`LIGHT_TAIL`."""
    a = np.array([r[:11] for r in rows], dtype=np.float64).reshape(-1, 11)
    return _light(a, [r[11] for r in rows])


def merge_light(parts: Sequence[Light]) -> Light:
    """The light rows of ``parts`` (no id in two of them) as one, sorted by id."""
    if len(parts) == 1:
        return parts[0]
    a = np.concatenate(
        [np.column_stack([p.id, p.x, p.y, p.box, p.area, p.base, p.height, p.year]) for p in parts]
    ).reshape(-1, 11)
    return _light(a, [u for p in parts for u in p.usage])


def _light(a: F64, usage: list[str]) -> Light:
    order = np.argsort(a[:, 0], kind="stable")
    a = a[order]
    return Light(
        a[:, 0].astype(np.int64),
        a[:, 1],
        a[:, 2],
        a[:, 3:7],
        np.maximum(a[:, 7], 1e-6),
        a[:, 8],
        a[:, 9],
        a[:, 10],
        [usage[i] for i in order.tolist()],
    )


@dataclass
class Grid:
    """The finest far-field level's bins over a quadtree's root square."""

    x0: float
    y0: float
    side: float
    #: bins per side at the finest level: (1 << level) * grid
    n_side: int

    def codes(self, x: F64, y: F64) -> I64:
        top = np.nextafter(1.0, 0.0)
        fx = np.clip((x - self.x0) / self.side, 0.0, top)
        fy = np.clip((y - self.y0) / self.side, 0.0, top)
        return morton((fx * self.n_side).astype(np.int64), (fy * self.n_side).astype(np.int64))


def starts(*sorted_keys: NDArray[Any]) -> I64:
    """Where each run of equal keys begins (rows sorted by the keys, all of one length)."""
    n = len(sorted_keys[0])
    if not n:
        return np.zeros(0, dtype=np.int64)
    change = np.zeros(n, dtype=bool)
    change[0] = True
    for k in sorted_keys:
        change[1:] |= k[1:] != k[:-1]
    return np.flatnonzero(change)


def sum_bins(
    light: Light, codes: I64, usages: list[str]
) -> tuple[NDArray[np.void], NDArray[np.void]]:
    """Bins (BIN) and built area per usage (USE) of these buildings, sorted by code; sums
    run over the buildings by id (``light`` is sorted by id), whoever calls."""
    order = np.lexsort((light.id, codes))
    c = codes[order]
    start = starts(c)
    out = np.zeros(len(start), dtype=BIN)
    if not len(start):
        return out, np.zeros(0, dtype=USE)
    a = light.area[order]
    box = light.box[order]
    base = light.base[order]
    h = light.height[order]
    year = light.year[order]
    dated = (year >= 0).astype(np.float64)

    def total(v: F64) -> F64:
        return np.add.reduceat(v, start)

    out["code"] = c[start]
    out["count"] = np.diff(np.append(start, len(c)))
    out["area"] = total(a)
    out["xmin"] = np.minimum.reduceat(box[:, 0], start)
    out["ymin"] = np.minimum.reduceat(box[:, 1], start)
    out["xmax"] = np.maximum.reduceat(box[:, 2], start)
    out["ymax"] = np.maximum.reduceat(box[:, 3], start)
    out["ax"] = total(a * light.x[order])
    out["ay"] = total(a * light.y[order])
    out["base"] = np.minimum.reduceat(base, start)
    out["atop"] = total(a * (base + h))
    out["ah"] = total(a * h)
    out["dated"] = total(a * dated)
    out["ayear"] = total(a * dated * year)
    code_of = {u: i for i, u in enumerate(usages)}
    u = np.fromiter((code_of[light.usage[i]] for i in order.tolist()), np.int32, len(order))
    uo = np.lexsort((u, c))  # stable: buildings stay in id order within (bin, usage)
    cu, uu = c[uo], u[uo]
    ustart = starts(cu, uu)
    uses = np.zeros(len(ustart), dtype=USE)
    uses["code"], uses["usage"] = cu[ustart], uu[ustart]
    uses["area"] = np.add.reduceat(a[uo], ustart)
    return out, uses


def roll_up(
    bins: NDArray[np.void], uses: NDArray[np.void]
) -> tuple[NDArray[np.void], NDArray[np.void]]:
    """The bins one level up (``code >> 2``) of these bins, summed in code order, and their
    built area per usage; any subset holding every child of its parents gives the same
    parents, bit for bit."""
    coarse = bins["code"] >> 2
    start = starts(coarse)
    out = np.zeros(len(start), dtype=BIN)
    if len(start):
        out["code"] = coarse[start]
        for name in ("count", "area", "ax", "ay", "atop", "ah", "dated", "ayear"):
            out[name] = np.add.reduceat(bins[name], start)
        for name in ("xmin", "ymin", "base"):
            out[name] = np.minimum.reduceat(bins[name], start)
        for name in ("xmax", "ymax"):
            out[name] = np.maximum.reduceat(bins[name], start)
    uc = uses["code"] >> 2
    uo = np.lexsort((uses["usage"], uc))  # stable: finer bins stay in code order
    uc, uu = uc[uo], uses["usage"][uo]
    ustart = starts(uc, uu)
    up = np.zeros(len(ustart), dtype=USE)
    if len(ustart):
        up["code"], up["usage"] = uc[ustart], uu[ustart]
        up["area"] = np.add.reduceat(uses["area"][uo], ustart)
    return out, up


def span(records: NDArray[np.void], lo: int, hi: int, codes: I64 | None = None) -> NDArray[np.void]:
    """The records (sorted by code) with ``lo <= code < hi``: a tile's or a bin's run
    (``codes``: their codes as a contiguous array, when searched many times)."""
    c = records["code"] if codes is None else codes
    out: NDArray[np.void] = records[np.searchsorted(c, lo) : np.searchsorted(c, hi)].copy()
    return out
