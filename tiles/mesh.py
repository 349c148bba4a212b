"""Triangle meshes as flat numpy arrays, and their translation into a glTF primitive.

A :class:`Mesh` holds vertices already in a tile's ENU frame (float64 until written, so
bounding boxes are exact), flat or smooth normals, and per vertex the index of the feature it
belongs to within the tile (``_FEATURE_ID_0``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tiles.gltf import ARRAY_BUFFER, TRIANGLES, GltfBuilder
from tiles.metadata import feature_ids, mesh_features


@dataclass
class Mesh:
    positions: NDArray[np.float64]  # (n, 3) in the tile frame
    normals: NDArray[np.float32]  # (n, 3), unit length
    features: NDArray[np.uint32]  # (n,) feature index within the tile
    triangles: NDArray[np.uint32]  # (m, 3), counter-clockwise seen from outside

    @classmethod
    def empty(cls) -> Mesh:
        return cls(
            np.zeros((0, 3)),
            np.zeros((0, 3), np.float32),
            np.zeros(0, np.uint32),
            np.zeros((0, 3), np.uint32),
        )

    @property
    def vertex_count(self) -> int:
        return int(self.positions.shape[0])

    @staticmethod
    def concat(meshes: Sequence[Mesh]) -> Mesh:
        meshes = [m for m in meshes if m.vertex_count]
        if not meshes:
            return Mesh.empty()
        if len(meshes) == 1:
            return meshes[0]
        offsets = np.cumsum([0] + [m.vertex_count for m in meshes[:-1]])
        return Mesh(
            np.concatenate([m.positions for m in meshes]),
            np.concatenate([m.normals for m in meshes]),
            np.concatenate([m.features for m in meshes]),
            np.concatenate(
                [m.triangles + np.uint32(o) for m, o in zip(meshes, offsets, strict=True)]
            ),
        )

    def bounds(self) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
        """Bounds of the float32 positions as written (so they match the accessor's)."""
        if not self.vertex_count:
            return None
        p = self.positions.astype(np.float32)
        return (
            np.array([p[:, i].min() for i in range(3)], dtype=np.float64),
            np.array([p[:, i].max() for i in range(3)], dtype=np.float64),
        )

    def primitive(
        self, gb: GltfBuilder, material: int, n_features: int, property_table: int
    ) -> dict[str, Any]:
        """Write the arrays and return a triangle primitive carrying EXT_mesh_features."""
        return self.stored().primitive(gb, material, n_features, property_table)

    def stored(self) -> StoredMesh:
        return StoredMesh(
            self.positions.astype(np.float32),
            quantise(self.normals),
            self.features,
            self.triangles,
        )


@dataclass
class StoredMesh:
    """A mesh as a GLB stores it (float32 positions, normals as signed bytes): what an
    incremental build reads back from a tile and writes again, with no conversion of the
    vertices it keeps."""

    positions: NDArray[np.float32]  # (n, 3)
    normals: NDArray[np.int8]  # (n, 3), normalised
    features: NDArray[Any]  # (n,) feature index within the tile
    triangles: NDArray[Any]  # (m, 3)

    @staticmethod
    def concat(parts: Sequence[StoredMesh]) -> StoredMesh:
        offsets = np.cumsum([0] + [len(m.positions) for m in parts[:-1]])
        return StoredMesh(
            np.concatenate([m.positions for m in parts]),
            np.concatenate([m.normals for m in parts]),
            np.concatenate([m.features.astype(np.uint32, copy=False) for m in parts]),
            np.concatenate(
                [
                    m.triangles.astype(np.uint32, copy=False) + np.uint32(o)
                    for m, o in zip(parts, offsets, strict=True)
                ]
            ),
        )

    def split(self, part_of: NDArray[np.intp], first: NDArray[np.intp]) -> list[StoredMesh]:
        """The mesh cut into parts: feature ``f`` goes to part ``part_of[f]`` and becomes
        feature ``f - first[part]`` there; each part keeps its vertices and triangles in
        their order (so every feature's vertices come in the same order)."""
        n = len(first)
        part_v = part_of[self.features.astype(np.intp)]
        order = np.argsort(part_v, kind="stable")
        inv = np.empty(len(order), dtype=np.intp)
        inv[order] = np.arange(len(order))
        tris = inv[self.triangles]
        part_t = part_v[self.triangles[:, 0]] if len(tris) else np.zeros(0, np.intp)
        tris = tris[np.argsort(part_t, kind="stable")]
        pos, nrm = self.positions[order], self.normals[order]
        feat = (self.features[order] - first[part_v[order]]).astype(np.uint32)
        vend = np.cumsum(np.bincount(part_v, minlength=n)).tolist()
        tend = np.cumsum(np.bincount(part_t, minlength=n)).tolist()
        out: list[StoredMesh] = []
        v0 = t0 = 0
        for v1, t1 in zip(vend, tend, strict=True):
            out.append(StoredMesh(pos[v0:v1], nrm[v0:v1], feat[v0:v1], tris[t0:t1] - v0))
            v0, t0 = v1, t1
        return out

    def primitive(
        self, gb: GltfBuilder, material: int, n_features: int, property_table: int
    ) -> dict[str, Any]:
        """Write the arrays and return a triangle primitive carrying EXT_mesh_features."""
        attrs = {
            "POSITION": gb.accessor(self.positions, target=ARRAY_BUFFER, minmax=True),
            "NORMAL": gb.accessor(self.normals, target=ARRAY_BUFFER, normalized=True),
            "_FEATURE_ID_0": gb.accessor(
                feature_ids(n_features, self.features), target=ARRAY_BUFFER
            ),
        }
        gb.use_extension("KHR_mesh_quantization", required=True)
        gb.use_extension("EXT_mesh_features")
        return {
            "attributes": attrs,
            "indices": gb.indices(self.triangles, len(self.positions)),
            "material": material,
            "mode": TRIANGLES,
            "extensions": {"EXT_mesh_features": mesh_features(n_features, property_table)},
        }


def quantise(normals: NDArray[np.float32]) -> NDArray[np.int8]:
    """Normals as normalised signed bytes (KHR_mesh_quantization): 4 bytes a vertex instead
    of 12, a quarter less geometry overall, at a shading error far below a degree."""
    out: NDArray[np.int8] = np.clip(np.rint(normals * 127.0), -127, 127).astype(np.int8)
    return out


def unit(v: NDArray[np.float64]) -> NDArray[np.float64]:
    """Rows of ``v`` scaled to unit length (zero rows stay zero)."""
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.divide(v, n, out=np.zeros_like(v), where=n > 0)
