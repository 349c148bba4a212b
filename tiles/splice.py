"""Editing a tile's content in its stored form: what an incremental build does to a tile
that only a few changed features touch.

A tile's previous GLB is read back as arrays (float32 positions, byte normals, feature ids,
triangles, the property table's columns as stored), the changed features are cut out and
the others renumbered, and the changed rows, meshed, are appended: the buildings kept are
neither re-read from PostgreSQL nor re-meshed, nor are their vertices or values converted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tiles import metadata
from tiles.gltf import read_accessor, read_glb_view
from tiles.mesh import StoredMesh


@dataclass
class StoredTile:
    """One tile's single primitive and its property table, as a GLB stores them."""

    mesh: StoredMesh
    table: metadata.RawTable
    count: int

    @classmethod
    def read(cls, glb: bytes) -> StoredTile:
        doc, binary = read_glb_view(glb)
        prim = doc["meshes"][0]["primitives"][0]
        attrs = prim["attributes"]
        table = metadata.read_table(doc, binary, 0)
        count = int(doc["extensions"]["EXT_structural_metadata"]["propertyTables"][0]["count"])
        mesh = StoredMesh(
            read_accessor(doc, binary, attrs["POSITION"]),
            read_accessor(doc, binary, attrs["NORMAL"]),
            read_accessor(doc, binary, attrs["_FEATURE_ID_0"]),
            read_accessor(doc, binary, prim["indices"]).reshape(-1, 3),
        )
        return cls(mesh, table, count)

    def without(self, ids: Iterable[int]) -> StoredTile:
        """The tile without the features of these ids (the others renumbered in order).

        A patch drops one or two features of a hundred: what is kept is copied as runs of
        consecutive vertices, triangles and bytes (memory copies), not through boolean
        masks over every element, which cost several times more on arrays of rows."""
        drop = np.fromiter(ids, dtype=np.int64)
        if not len(drop):
            return self
        ids = self.table["id"].values
        keep = ids != drop[0]
        for d in drop[1:].tolist():  # one or two ids: cheaper than np.isin's set-up
            keep &= ids != d
        if keep.all():
            return self
        m = self.mesh
        fid = m.features.astype(np.intp)
        vkeep = keep[fid]
        vruns = _runs(vkeep)
        # a triangle never spans two features: its first vertex says whether it stays
        tris = _take(m.triangles, _runs(vkeep[m.triangles[:, 0]]))
        mesh = StoredMesh(
            _take(m.positions, vruns),
            _take(m.normals, vruns),
            (np.cumsum(keep) - 1)[_take(fid, vruns)],
            (np.cumsum(vkeep) - 1)[tris],
        )
        table = {k: _select(col, keep) for k, col in self.table.items()}
        return StoredTile(mesh, table, int(keep.sum()))

    def plus(self, mesh: StoredMesh, table: metadata.RawTable, count: int) -> StoredTile:
        """The tile with ``count`` features appended (their feature ids from 0 in ``mesh``)."""
        added = StoredMesh(
            mesh.positions, mesh.normals, mesh.features + np.uint32(self.count), mesh.triangles
        )
        return StoredTile(
            StoredMesh.concat([self.mesh, added]),
            {k: col.concat(table[k]) for k, col in self.table.items()},
            self.count + count,
        )


def table_rows(table: metadata.RawTable, start: int, stop: int) -> metadata.RawTable:
    """Rows ``start:stop`` of a property table in stored form."""
    out: metadata.RawTable = {}
    for k, col in table.items():
        if col.offsets is None:
            out[k] = metadata.RawColumn(col.values[start:stop])
        else:
            offs = col.offsets[start : stop + 1]
            out[k] = metadata.RawColumn(col.values[int(offs[0]) : int(offs[-1])], offs - offs[0])
    return out


def split_rows(counts: NDArray[np.int64]) -> list[tuple[int, int]]:
    """Consecutive (start, stop) ranges of these lengths."""
    ends = np.cumsum(counts).tolist()
    return list(zip([0, *ends[:-1]], ends, strict=True))


def _runs(keep: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """(start, stop) of every run of True in ``keep``."""
    if not len(keep):
        return []
    cuts = [0, *(np.flatnonzero(keep[1:] != keep[:-1]) + 1).tolist(), len(keep)]
    return [(cuts[i], cuts[i + 1]) for i in range(0 if keep[0] else 1, len(cuts) - 1, 2)]


def _take(a: NDArray[Any], runs: list[tuple[int, int]]) -> NDArray[Any]:
    if len(runs) == 1:
        return a[runs[0][0] : runs[0][1]]
    return np.concatenate([a[i:j] for i, j in runs]) if runs else a[:0]


def _select(col: metadata.RawColumn, keep: NDArray[np.bool_]) -> metadata.RawColumn:
    """The rows ``keep`` of a column; a string column's bytes copied as runs."""
    if col.offsets is None:
        return metadata.RawColumn(col.values[keep])
    offs = col.offsets.tolist()
    runs = [(offs[i], offs[j]) for i, j in _runs(keep)]
    lengths = np.diff(col.offsets)[keep]
    offsets = np.zeros(len(lengths) + 1, dtype=np.uint32)
    np.cumsum(lengths, out=offsets[1:])
    return metadata.RawColumn(_take(col.values, runs), offsets)
