"""Kinds of tileset: one module each, one registry (see :mod:`tiles.kinds.base`)."""

from __future__ import annotations

from typing import Any

from tiles.kinds.base import Content, TilesetKind, TilesetSpec
from tiles.kinds.buildings import BuildingsKind
from tiles.kinds.cameras import CamerasKind, cameras_spec
from tiles.kinds.furniture import FurnitureKind
from tiles.kinds.network import NetworkKind, network_specs
from tiles.kinds.scenario import ScenarioKind, project_spec, scenario_spec

KINDS: dict[str, TilesetKind[Any, Any]] = {
    k.name: k
    for k in (BuildingsKind(), ScenarioKind(), NetworkKind(), FurnitureKind(), CamerasKind())
}


def kind_of(spec: TilesetSpec) -> TilesetKind[Any, Any]:
    try:
        return KINDS[spec.kind]
    except KeyError:
        raise ValueError(
            f"tileset {spec.name!r}: unknown kind {spec.kind!r}; kinds: {', '.join(KINDS)}"
        ) from None


def baseline_specs() -> list[TilesetSpec]:
    """The tilesets every twin has: buildings, one per network, furniture, cameras."""
    return [
        TilesetSpec("buildings", BuildingsKind.name, "buildings", title="Buildings"),
        *network_specs(),
        TilesetSpec("furniture", FurnitureKind.name, "furniture", title="Street furniture"),
        cameras_spec(),
    ]


__all__ = [
    "KINDS",
    "Content",
    "TilesetKind",
    "TilesetSpec",
    "baseline_specs",
    "kind_of",
    "project_spec",
    "scenario_spec",
]
