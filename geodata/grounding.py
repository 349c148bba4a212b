"""The twin stands on its terrain: heights that no file gave are read from the DEM.

One rule, used by the import of every layer and by a DEM import:

- a building's base is the **lowest ground under its footprint** (its outline sampled every
  DEM cell, and a point inside), as CityGML's LoD1 puts a block on its lowest terrain
  intersection, so that no wall floats above a slope;
- a street object or a point of interest stands **on the ground at its point**;
- a buried segment or node lies at **the ground minus its cover depth**, vertex by vertex.

Where the file gave the height (a Z coordinate, a mapped ``base_z``), it is kept and the row
says ``z_source = 'source'``. Where the DEM gave it, ``'dem'``; where there is no DEM (or the
feature is outside it, or on nodata), the flat ground at 0 and ``'default'``
(``geodata.vocab.Z_SOURCES``). :func:`rebase` runs when a DEM is stored: every ``dem`` and
``default`` row moves onto the new ground in the same transaction, through ordinary UPDATEs,
so the tiles' change log sees exactly the rows that moved and the next build re-meshes only
their tiles.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from numpy.typing import NDArray

from geodata.pg import raw_connection

if TYPE_CHECKING:
    from geodata.pg import AnyConnection
    from geodata.terrain import Dem


@dataclass(frozen=True)
class GroundHeights:
    """The twin's DEM as the ground features stand on."""

    dem: Dem

    def heights(self, xy: NDArray[np.float64]) -> NDArray[np.float64]:
        """Heights at working-CRS points (n, 2), bilinear between cell centres; NaN outside
        the DEM or on nodata."""
        from geodata.terrain import sample_bilinear

        return sample_bilinear(self.dem, xy)

    @property
    def step(self) -> float:
        """How densely an outline is sampled: the DEM's cell."""
        return float(min(self.dem.resolution))


def ground_of(dem: Dem | None) -> GroundHeights | None:
    return None if dem is None else GroundHeights(dem)


def footprint_bases(footprints: NDArray[Any], ground: GroundHeights) -> NDArray[Any]:
    """The lowest ground under each footprint (working CRS), NaN where the DEM has none of
    it: the outlines densified to the DEM's cell, plus a point inside."""
    rings = shapely.segmentize(shapely.boundary(footprints), max(ground.step, 0.5))
    xy, owner = shapely.get_coordinates(rings, return_index=True)
    inside = ground.heights(shapely.get_coordinates(shapely.point_on_surface(footprints)))
    if not len(footprints):
        return inside
    # owners are sorted and every outline has points: one reduction per footprint; fmin
    # gives NaN only where every sample is NaN
    outline = np.fmin.reduceat(
        ground.heights(xy), np.searchsorted(owner, np.arange(len(footprints)))
    )
    return np.fmin(outline, inside)


def placed(geoms: NDArray[Any], depth: NDArray[Any], ground: GroundHeights | None) -> Placed:
    """Points or lines (working CRS) at z = ground - ``depth`` at every vertex (depth 0: on
    the ground). A geometry the DEM does not cover at every vertex (or with no DEM) lies at
    z = -depth, the flat default ground."""
    geoms = np.asarray(shapely.force_3d(geoms, 0.0), dtype=object)
    xy, owner = shapely.get_coordinates(geoms, return_index=True)
    depth = np.asarray(depth, dtype=float)
    z = ground.heights(xy) if ground is not None and len(xy) else np.full(len(xy), np.nan)
    covered = np.ones(len(geoms), dtype=bool)
    covered[owner[~np.isfinite(z)]] = False
    z = np.where(covered[owner], z, 0.0) - depth[owner]
    return Placed(shapely.set_coordinates(geoms, np.column_stack([xy, z])), covered)


@dataclass(frozen=True)
class Placed:
    """Geometries set on the ground, and which of them the DEM placed."""

    geoms: NDArray[Any]
    from_dem: NDArray[np.bool_]


def on_ground(
    cols: dict[str, Any], geoms: NDArray[Any], depth: NDArray[Any], ground: GroundHeights | None
) -> NDArray[Any]:
    """An import's points or lines (working CRS) as stored: those with a Z keep it, the
    others are :func:`placed`; sets ``cols["z_source"]``."""
    given = np.asarray(shapely.has_z(geoms), dtype=bool)
    out = np.asarray(geoms, dtype=object).copy()
    put = placed(out[~given], np.asarray(depth, dtype=float)[~given], ground)
    out[~given] = put.geoms
    from_dem = np.zeros(len(out), dtype=bool)
    from_dem[~given] = put.from_dem
    cols["z_source"] = z_sources(given, from_dem)
    return out


def raised_by_ground(geoms: NDArray[Any], ground: GroundHeights) -> NDArray[Any]:
    """3D geometries whose z is relative to a flat ground at 0 (a generator's depths) made
    absolute: every vertex raised by the ground under it (left where the DEM has none)."""

    def raise_(xyz: NDArray[np.float64]) -> NDArray[np.float64]:
        return xyz + np.column_stack(
            [np.zeros((len(xyz), 2)), np.nan_to_num(ground.heights(xyz[:, :2]))]
        )

    return np.asarray(shapely.transform(geoms, raise_, include_z=True))


def z_sources(given: NDArray[Any], from_dem: NDArray[Any]) -> NDArray[Any]:
    """Each row's ``z_source``: 'source' where the file gave it, else 'dem' where the DEM
    did, else 'default'."""
    return np.where(given, "source", np.where(from_dem, "dem", "default")).astype(object)


#: the point and line tables, and the cover depth of their rows (0: on the ground)
_PLACED = {
    "furniture": "0",
    "pois": "0",
    "network_nodes": "depth_m",
    "network_segments": "depth_m",
}


def rebase(conn: AnyConnection, dem: Dem) -> dict[str, int]:
    """Move every row whose height is not its file's (``z_source`` 'dem' or 'default') onto
    ``dem``, or back to the flat default where ``dem`` does not reach, in the caller's
    transaction; rows already right are not touched (the tiles' change log stays small).
    Returns the rows moved per table."""
    ground = GroundHeights(dem)
    cur = raw_connection(conn).cursor()
    srid = int(dem.epsg)
    moved: dict[str, int] = {}
    cur.execute(
        "SELECT id, ST_AsBinary(footprint) FROM buildings WHERE z_source <> 'source' ORDER BY id"
    )
    rows = cur.fetchall()
    if rows:
        base = footprint_bases(shapely.from_wkb([bytes(r[1]) for r in rows]), ground)
        found = np.isfinite(base)
        values = zip(
            [r[0] for r in rows],
            np.where(found, base, 0.0).tolist(),
            z_sources(np.zeros(len(rows), bool), found).tolist(),
            strict=True,
        )
        moved["buildings"] = _update(
            cur,
            "b float8, s text",
            values,
            "UPDATE buildings t SET base_z = n.b, z_source = n.s FROM _rebase n "
            "WHERE t.id = n.id AND (t.base_z <> n.b OR t.z_source <> n.s)",
        )
    for table, depth in _PLACED.items():
        cur.execute(
            f"SELECT id, ST_AsBinary(ST_Force2D(geom)), {depth} FROM {table} "
            "WHERE z_source <> 'source' ORDER BY id"
        )
        rows = cur.fetchall()
        if not rows:
            continue
        geoms = shapely.from_wkb([bytes(r[1]) for r in rows])
        put = placed(geoms, np.array([float(r[2]) for r in rows]), ground)
        wkb = shapely.to_wkb(put.geoms, output_dimension=3)
        values = zip(
            [r[0] for r in rows],
            wkb.tolist(),
            z_sources(np.zeros(len(rows), bool), put.from_dem).tolist(),
            strict=True,
        )
        moved[table] = _update(
            cur,
            "g bytea, s text",
            values,
            f"UPDATE {table} t SET geom = ST_SetSRID(ST_GeomFromWKB(n.g), {srid}), "
            "z_source = n.s FROM _rebase n WHERE t.id = n.id AND (t.z_source <> n.s OR "
            f"NOT ST_OrderingEquals(t.geom, ST_SetSRID(ST_GeomFromWKB(n.g), {srid})))",
        )
    return {t: n for t, n in moved.items() if n}


def _update(cur: Any, columns: str, values: Iterable[tuple[Any, ...]], update: str) -> int:
    """COPY ``values`` (id first) into a temporary table, run ``update`` from it; the rows
    changed."""
    cur.execute(f"CREATE TEMP TABLE _rebase (id int8 PRIMARY KEY, {columns})")
    names = ", ".join(["id", *(c.split()[0] for c in columns.split(","))])
    with cur.copy(f"COPY _rebase ({names}) FROM STDIN") as copy:
        for row in values:
            copy.write_row(row)
    cur.execute(update)
    n = int(cur.rowcount)
    cur.execute("DROP TABLE _rebase")
    return n
