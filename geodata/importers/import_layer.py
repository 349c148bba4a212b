"""The contract of a layer a file can be imported into: :class:`ImportLayer`, and the
batches it takes (:class:`Rows`) and gives (:class:`Stored`).

An :class:`ImportLayer` owns everything the pipeline needs to know about its layer: the table,
the geometry types it takes, the columns it stores (the COPY order), how source attributes map
onto them, the vocabularies they must belong to, and :meth:`ImportLayer.to_stored`, the one
step that turns a checked, mapped batch into rows exactly as stored: reprojected to the working
CRS (in Python, with the transformer of :func:`geodata.crs.transformer`: the database never
reprojects an import), with heights and depths settled and defaults applied. Because every
layer arrives in its stored form, a first import can COPY straight into the table, and a
re-import's upsert copies columns as they are.

The layers themselves are in ``layers_buildings``, ``layers_networks`` and
``layers_ground``; their registry is :data:`geodata.importers.layers.IMPORT_LAYERS`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray
from shapely import GeometryType

from geodata.importers.coerce import flat
from geodata.importers.geometry import check_coordinates, check_size, check_stored

if TYPE_CHECKING:
    from geodata.importers.base import ImportOptions
    from geodata.importers.coerce import Field
    from geodata.importers.mapping import Columns, Mapper


@dataclass
class Rows:
    """A checked and mapped batch, still in the source CRS: the input of ``to_stored``.

    :param wkb: each feature's source WKB where the checks left it unchanged, else None
    """

    ids: NDArray[Any]
    geoms: NDArray[Any]
    wkb: NDArray[Any]
    columns: Columns
    attrs: pa.Array
    lod2: NDArray[Any] | None = None
    lod_height: pa.Array | None = None


@dataclass
class Stored:
    """Rows as the table stores them: EWKB in the working CRS, columns in ``columns`` order."""

    ids: NDArray[Any]
    geom: NDArray[Any]
    columns: Columns
    attrs: pa.Array
    lod2: NDArray[Any] | None = None
    #: per-batch facts for the report (height sources)
    heights: Counter[str] = field(default_factory=Counter)


class ImportLayer(ABC):
    """One layer a file can be imported into."""

    name: ClassVar[str]
    table: ClassVar[str]
    geom_column: ClassVar[str] = "geom"
    lod2_column: ClassVar[str | None] = None
    accepted: ClassVar[tuple[GeometryType, ...]]
    #: stored columns besides source, source_id, geometry and attrs, with their SQL types
    #: (text, int, int8, float8, bool), in COPY order
    columns: ClassVar[dict[str, str]]
    #: how source attributes feed those columns (see :mod:`geodata.importers.schemes`)
    fields: ClassVar[dict[str, Field]]
    #: columns whose values must belong to a vocabulary
    vocabulary: ClassVar[dict[str, tuple[str, ...]]] = {}
    #: a MultiPoint of one point is taken as that point (point layers)
    single_points: ClassVar[bool] = False

    def derive(self, out: Columns, props: pa.Table, mapper: Mapper) -> None:  # noqa: B027
        """Rules that need several source attributes at once (mapped columns in ``out``)."""

    def store(
        self,
        rows: Rows,
        src: int,
        dst: int,
        options: ImportOptions,
        *,
        where: NDArray[Any],
        file: str,
    ) -> Stored:
        """The batch as stored (:meth:`to_stored`), once its coordinates (footprints and LoD
        surfaces) passed the one coordinate rule: finite, heights in metres, inside the areas
        of use of ``src`` and the working CRS ``dst`` (:func:`check_coordinates`); reprojected
        geometries are checked valid again as stored (:func:`check_stored`), since a bulk load
        leaves the table's validity check to the importer."""
        check_size(rows.geoms, options.max_vertices, where, file)
        check_coordinates(rows.geoms, src, dst, where, file)
        if rows.lod2 is not None:
            has = np.array([g is not None for g in rows.lod2], dtype=bool)
            if has.any():
                check_size(rows.lod2[has], options.max_vertices, where[has], file)
                check_coordinates(rows.lod2[has], src, dst, where[has], file)
        stored = self.to_stored(rows, src, dst, options)
        if src != dst:  # the checks above saw the source's geometries, not these
            check_stored(stored.geom, stored.ids, dst, file)
        return stored

    @abstractmethod
    def to_stored(self, rows: Rows, src: int, dst: int, options: ImportOptions) -> Stored:
        """The batch as stored: reprojected from EPSG ``src`` to ``dst``, defaults applied."""


def numbers(values: pa.Array | NDArray[Any]) -> NDArray[Any]:
    """A column as float64, unknown = NaN."""
    if isinstance(values, np.ndarray):
        return values.astype(float)
    values = flat(values)
    if not (pa.types.is_floating(values.type) or pa.types.is_integer(values.type)):
        from geodata.importers.coerce import to_float

        values = to_float(values)
    return np.array(
        values.cast(pa.float64(), safe=False).fill_null(np.nan).to_numpy(zero_copy_only=False),
        dtype=float,
    )


def flags(values: pa.Array | NDArray[Any]) -> NDArray[Any]:
    """Booleans, unknown = False."""
    if isinstance(values, np.ndarray):
        return values.astype(bool)
    values = flat(values)
    if not pa.types.is_boolean(values.type):
        values = pc.not_equal(values.cast(pa.float64(), safe=False), 0.0)
    return np.array(values.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def positive(values: pa.Array | NDArray[Any]) -> NDArray[Any]:
    v = numbers(values)
    return np.where(v > 0, v, np.nan)
