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
        pos = self.positions.astype(np.float32)
        attrs = {
            "POSITION": gb.accessor(pos, target=ARRAY_BUFFER, minmax=True),
            "NORMAL": quantised_normals(gb, self.normals),
            "_FEATURE_ID_0": gb.accessor(
                feature_ids(n_features, self.features), target=ARRAY_BUFFER
            ),
        }
        gb.use_extension("EXT_mesh_features")
        return {
            "attributes": attrs,
            "indices": gb.indices(self.triangles, self.vertex_count),
            "material": material,
            "mode": TRIANGLES,
            "extensions": {"EXT_mesh_features": mesh_features(n_features, property_table)},
        }


def quantised_normals(gb: GltfBuilder, normals: NDArray[np.float32]) -> int:
    """Normals as normalised signed bytes (KHR_mesh_quantization): 4 bytes a vertex instead
    of 12, a quarter less geometry overall, at a shading error far below a degree."""
    q = np.clip(np.rint(normals * 127.0), -127, 127).astype(np.int8)
    gb.use_extension("KHR_mesh_quantization", required=True)
    return gb.accessor(q, target=ARRAY_BUFFER, normalized=True)


def unit(v: NDArray[np.float64]) -> NDArray[np.float64]:
    """Rows of ``v`` scaled to unit length (zero rows stay zero)."""
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.divide(v, n, out=np.zeros_like(v), where=n > 0)
