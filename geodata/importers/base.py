"""The reader contract shared by every import format.

A reader turns a file into :class:`SourceBatch` es: WKB geometries in the source CRS plus a
columnar table of attributes (an Arrow table; a pandas frame is taken too, through the one
adapter :mod:`geodata.importers.frames`), so mapping and validation run vectorised, never
feature by feature. Readers stream: ``batches`` yields bounded chunks and memory stays flat
in the file size.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from numpy.typing import NDArray

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from geodata.grounding import GroundHeights

#: column a reader may add with a height measured from 3D geometry (CityJSON LoD)
LOD_HEIGHT = "__lod_height"


@dataclass
class SourceBatch:
    """A chunk of features as read from the source, before mapping and reprojection.

    :param geoms: WKB ``bytes`` per feature (object array), ``None`` for a missing geometry;
        geometry checks parse them vectorised and reuse the bytes of valid ones.
    :param props: one row per feature; columns are the source's attribute names: a
        ``pyarrow.Table`` (what the mapping works on), or a pandas frame, which the pipeline
        turns into one (:func:`geodata.importers.frames.as_table`).
    :param ids: the feature's id in the source (stable across re-imports), as strings.
    :param where: how to name each feature in an error message ("feature 12", "line 40").
    :param lod2: optional 3D surfaces (MultiPolygon Z) kept beside the footprint (CityJSON).
    :param attrs: optional JSON object text per feature, kept in ``attrs`` under the left-over
        attributes: a reader whose features already carry a JSON document (a generator, a
        database) hands it on without spreading it into sparse columns.
    """

    geoms: NDArray[Any]
    props: pa.Table | pd.DataFrame
    ids: NDArray[Any]
    where: NDArray[Any]
    lod2: NDArray[Any] | None = None
    attrs: NDArray[Any] | None = None
    #: per-batch facts for the report (e.g. {"skipped: not a building": 3})
    notes: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.geoms)


@dataclass(frozen=True)
class ImportOptions:
    """How an import fills what the source does not say, and what it records.

    The height fallbacks have no default here: they are the twin's settings
    (``TWIN_STOREY_HEIGHT``, ``TWIN_DEFAULT_HEIGHT``), read by :meth:`from_settings`.
    """

    storey_height: float
    default_height: float
    #: the twin's CRS to fix when it has none yet (TWIN_CRS)
    working_crs: str | None = None
    licence: str | None = None
    attribution: str | None = None
    visibility: str | None = None
    #: write the rows into this scenario (a project's proposal) instead of the baseline; they
    #: are matched on (scenario, source, source_id) on re-import
    scenario_id: int | None = None
    #: delete the source's rows (baseline, or the scenario's) that this import does not have
    prune: bool = False
    #: the most coordinates one feature may have (TWIN_MAX_VERTICES): a coastline or a
    #: district drawn as one polygon of millions of points would make every tile and page
    #: that holds it heavy for every viewer; the default is far above any real building
    max_vertices: int = 500_000
    #: the twin's ground (its DEM), for heights the file does not give
    #: (:mod:`geodata.grounding`); the pipeline sets it from the twin's DEM on every import
    ground: GroundHeights | None = None

    @classmethod
    def from_settings(
        cls, settings: ImportSettings | None = None, **overrides: Any
    ) -> ImportOptions:
        """Options with the twin's settings (``twin.settings.Settings``, read now when not
        given), then ``overrides``."""
        if settings is None:
            from twin.settings import get_settings

            settings = get_settings()
        values: dict[str, Any] = {
            "storey_height": settings.storey_height,
            "default_height": settings.default_height,
            "working_crs": settings.crs,
            "max_vertices": settings.max_vertices,
        }
        return cls(**{**values, **overrides})


class ImportSettings(Protocol):
    """What an import reads from the twin's settings (``twin.settings.Settings`` has it)."""

    @property
    def storey_height(self) -> float: ...
    @property
    def default_height(self) -> float: ...
    @property
    def crs(self) -> str | None: ...
    @property
    def max_vertices(self) -> int: ...


class Reader(ABC):
    """Base of every format reader.

    Contract: ``__init__`` does no I/O (it only remembers the path); ``open`` checks the file and
    reads its metadata, raising :class:`geodata.errors.ImportFailed` with the file named when it
    cannot; ``batches`` streams the features.
    """

    #: short name, used in messages and the registry
    name: ClassVar[str]
    #: file name endings this reader takes (lower case, with the dot); the registry picks a
    #: reader by the longest ending that matches (:mod:`geodata.importers.readers`)
    suffixes: ClassVar[tuple[str, ...]] = ()
    #: attribute scheme the mapping should try first ("osm", "cityjson", "ign", or None: detect)
    scheme: ClassVar[str | None] = None
    #: the reader's own ids (``SourceBatch.ids``) never repeat within a file (GDAL's FIDs):
    #: when they are the source ids, a first import need not remember every id it has seen
    #: to drop repeats, so its memory stays flat in the file size
    unique_ids: ClassVar[bool] = False

    def __init__(self, path: Path, layer: str) -> None:
        self.path = path
        self.layer = layer

    @abstractmethod
    def open(self) -> None:
        """Check the file can be read; learn its CRS and feature count."""

    @abstractmethod
    def source_crs(self) -> int | None:
        """EPSG code of the source's coordinates, or None when the file does not say."""

    @abstractmethod
    def count(self) -> int | None:
        """Number of features, when known up front (for the progress bar)."""

    @abstractmethod
    def batches(self, size: int) -> Iterator[SourceBatch]:
        """Yield features in chunks of at most ``size``."""

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> bool:
        """Whether this reader takes ``path``, whose first bytes are ``head``: by default, by
        its name's ending. A reader of an ambiguous ending (``.json``) looks at the bytes."""
        return path.name.lower().endswith(cls.suffixes)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release file handles."""
