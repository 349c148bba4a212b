"""The one interface every kind of tileset implements, and what a build knows of a tileset.

A kind owns everything that differs between tilesets: the SQL of the index pass (one light
row per feature) and of the rows pass (full rows of the tiles being built), its typed
``Row``, the options its content depends on, the metadata classes it writes and the
tables whose changes it follows. The build driver (tiles.build) is written once against
this interface; the registry is :data:`tiles.kinds.KINDS`.

SQL contract, the same for every kind:

- ``index_sql``: ``(src, id, x, y, size, est_bytes)`` per feature, largest first; ``src``
  tells tables apart when a kind reads two (network segments 0, nodes 1). With
  ``changed=True`` only the ids in the bound arrays ``%(ids_0)s``, ``%(ids_1)s`` … are read.
- ``rows_sql``: ``(tile, *Row)`` joined with the ``tile_assign`` temporary table and
  ordered by tile, so the driver streams one tile after the other.
- ``changed_sql`` (patchable kinds): ``(src, id, x, y, size, est_bytes, *Row)`` of the ids
  bound as for ``index_sql(changed=True)``, in the same order: an incremental build reads a
  changed feature once, where ``index_sql`` then ``rows_sql`` over ``tile_assign`` read it
  twice (and needed the temporary table filled and analysed in between). A kind may end
  each row with ``changed_tail`` more values (buildings: the far field's light row,
  tiles.blocks.LIGHT_TAIL), which are not part of the Row.

Table and column names are our own constants; user values (scenario ids, network names)
are always bound parameters.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, NamedTuple, TypeVar

import numpy as np
from numpy.typing import NDArray

from geodata.layers import LAYERS
from tiles.frames import FrameSet

F64 = NDArray[np.float64]

#: estimated output bytes per footprint point (walls + roof + floor, see tiles.extrude),
#: measured on synthetic blocks; only the ratios between tiles matter much
BYTES_PER_FOOTPRINT_POINT = 140
BYTES_PER_LOD2_POINT = 70
BYTES_PER_PIPE_POINT = 900
BYTES_PER_NODE = 1400
BYTES_PER_INSTANCE = 60


@dataclass(frozen=True)
class TilesetSpec:
    """One tileset to build: its name on disk, its kind, what it contains, who may see it."""

    name: str
    kind: str  # a key of tiles.kinds.KINDS
    layer: str  # a geodata.layers id: its visibility is the tileset's
    params: dict[str, Any] = field(default_factory=dict)
    scenario_id: int | None = None
    project_id: int | None = None
    #: visibility imposed on top of the layer's (a project that is not public)
    min_visibility: str | None = None
    title: str = ""

    def __post_init__(self) -> None:
        if self.layer not in LAYERS:
            raise ValueError(f"tileset {self.name!r}: unknown layer {self.layer!r}")

    @property
    def is_variant(self) -> bool:
        """A scenario's or project's tileset (as opposed to the baseline)."""
        return self.scenario_id is not None or self.project_id is not None

    def scenario_filter(self, alias: str = "") -> str:
        col = f"{alias}scenario_id"
        if self.project_id is not None:
            return f"{col} IN (SELECT id FROM scenarios WHERE project_id = %(project_id)s)"
        if self.scenario_id is not None:
            return f"{col} = %(scenario_id)s"
        return f"{col} IS NULL"

    @property
    def sql_params(self) -> dict[str, Any]:
        return {"scenario_id": self.scenario_id, "project_id": self.project_id, **self.params}


@dataclass
class Content:
    """One tile's GLB and the bounds of its content in the tile frame."""

    glb: bytes
    features: int
    lo: F64
    hi: F64


@dataclass
class PatchInput:
    """One tile to patch: its previous GLB, the ids it loses, the rows it gains."""

    previous: bytes
    drop: set[int]
    rows: Sequence[Any]


def bounds(los: Sequence[F64], his: Sequence[F64]) -> tuple[F64, F64]:
    if not los:
        return np.zeros(3), np.zeros(3)
    return np.min(los, axis=0), np.max(his, axis=0)


def changed_ids(src: int) -> str:
    """The filter of a changed-rows index pass for table ``src``."""
    return f"id = ANY(%(ids_{src})s)"


RowT = TypeVar("RowT", bound=NamedTuple)
OptionsT = TypeVar("OptionsT")


class TilesetKind(ABC, Generic[RowT, OptionsT]):
    """A kind of tileset; instances are stateless and shared (see tiles.kinds.KINDS)."""

    #: registry key, written in the manifest
    name: ClassVar[str]
    #: the typed row of the rows pass (its fields in the rows SQL's order, after ``tile``)
    Row: type[RowT]
    #: EXT_structural_metadata classes its content uses (keys of tiles.metadata.CLASSES)
    metadata_classes: ClassVar[tuple[str, ...]]
    #: tables read, by ``src``: their change-log entries make an incremental build
    tables: ClassVar[dict[int, str]]

    @abstractmethod
    def extent_sql(self, spec: TilesetSpec) -> str:
        """``(count, ST_Extent, estimated bytes)`` of the whole tileset."""

    @abstractmethod
    def index_sql(self, spec: TilesetSpec, *, changed: bool = False) -> str: ...

    @abstractmethod
    def rows_sql(self, spec: TilesetSpec) -> str: ...

    @abstractmethod
    def options(self, spec: TilesetSpec) -> OptionsT:
        """Everything besides the rows that a tile's bytes depend on."""

    @abstractmethod
    def build_content(self, frame: Any, rows: Sequence[RowT], options: OptionsT) -> Content:
        """One tile's rows (in the SQL's order: feature index = position) -> a GLB."""

    #: does the kind implement :meth:`patch_content` (and :meth:`changed_sql`)?
    patchable: ClassVar[bool] = False
    #: values after the Row in each row of :meth:`changed_sql`
    changed_tail: ClassVar[int] = 0

    def changed_sql(self, spec: TilesetSpec) -> str:
        """The changed features' index columns and full rows in one pass (see the module)."""
        raise NotImplementedError(f"{self.name} tiles are rebuilt from all their rows")

    def patch_content(
        self, frame: Any, previous: bytes, drop: set[int], rows: Sequence[RowT], options: OptionsT
    ) -> Content:
        """The tile's previous GLB without the features ``drop``, plus ``rows``: what an
        incremental build does to a tile that only some changed features touch."""
        raise NotImplementedError(f"{self.name} tiles are rebuilt from all their rows")

    def patch_many(
        self, frames: FrameSet, tiles: Sequence[PatchInput], options: OptionsT
    ) -> list[Content]:
        """:meth:`patch_content` of many tiles (``frames`` theirs, in order); a kind may do
        them in one pass, for its per-call costs are most of a small patch's."""
        return [
            self.patch_content(frames.frame(i), t.previous, t.drop, t.rows, options)
            for i, t in enumerate(tiles)
        ]

    def hidden_sql(self, spec: TilesetSpec) -> str | None:
        """Baseline features the tileset hides (a scenario's replaced or removed), if any."""
        return None

    def rows(self, raw: Sequence[tuple[Any, ...]]) -> list[RowT]:
        make = self.Row._make
        return [make(r) for r in raw]
