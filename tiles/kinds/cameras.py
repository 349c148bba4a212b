"""Cameras: furniture rows the ``cameras`` layer selects, in their own agent-only tileset
(the layer's visibility, geodata.layers, is stricter than the furniture's)."""

from __future__ import annotations

from tiles.kinds.base import TilesetSpec
from tiles.kinds.furniture import FurnitureKind


class CamerasKind(FurnitureKind):
    name = "cameras"


def cameras_spec() -> TilesetSpec:
    return TilesetSpec("cameras", CamerasKind.name, "cameras", title="Cameras")
