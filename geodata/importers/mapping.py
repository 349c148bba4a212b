"""From a source's attribute scheme to the twin's columns, column by column (vectorised).

Common schemes work with no configuration (:mod:`geodata.importers.schemes`: OSM tags, French
IGN BD TOPO, CityJSON attributes and the twin's own column names). A mapping file (JSON or
TOML, parsed here) covers any other scheme::

    [fields]              # twin column = source attribute
    height = "HAUT_M"
    [constants]           # the same value for every feature
    network = "water"
    [values.usage]        # translate source values
    "Résidentiel" = "residential"
    [id]
    field = "ID_BAT"      # the source's stable feature id (for idempotent re-import)

Values are converted and held to their column's type and range by
:mod:`geodata.importers.coerce`; what cannot be used is counted (:attr:`Mapper.issues`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from geodata.errors import ImportFailed
from geodata.importers.attrs import attrs_json, merge_attrs, own_attrs
from geodata.importers.coerce import ValueIssues, as_text, flat, mask, settle
from geodata.importers.schemes import ID_CANDIDATES

if TYPE_CHECKING:
    from geodata.importers.import_layer import ImportLayer
    from geodata.importers.mapping_file import MappingFile


@dataclass(frozen=True)
class NoMapping:
    """An import without a mapping file: the schemes alone (pydantic's model of a mapping
    file, :class:`~geodata.importers.mapping_file.MappingFile`, loads only for one)."""

    fields: dict[str, str] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    id: dict[str, str] = field(default_factory=dict)


def __getattr__(name: str) -> Any:
    """``MappingFile`` is importable from here, loaded on first use."""
    if name == "MappingFile":
        from geodata.importers.mapping_file import MappingFile

        return MappingFile
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: a batch's twin columns by name, each an Arrow array of the batch's length (layers may
#: put numpy arrays in, which the writer takes too)
Columns = dict[str, Any]


@dataclass
class Mapped:
    """Twin columns for a batch, plus the left-over attributes as JSON text per feature."""

    columns: Columns
    attrs: pa.Array

    def __len__(self) -> int:
        return len(self.attrs)


class Mapper:
    """Applies the automatic scheme, then the user's mapping file on top, to each batch.

    Batches are Arrow tables (:func:`geodata.importers.frames.as_table` turns a reader's
    pandas frame into one): every rule runs in Arrow's kernels, column by column.
    """

    def __init__(self, layer: ImportLayer, mapping: MappingFile | None, where_file: str) -> None:
        self.layer = layer
        self.fields = layer.fields
        self.mapping: MappingFile | NoMapping = mapping or NoMapping()
        self.where_file = where_file
        #: the batch being mapped: lower-case attribute name -> name, and the attributes used
        self.lookup: dict[str, str] = {}
        self.used: set[str] = set()
        #: attribute values stored as unknown or repaired, over the whole import
        self.issues = ValueIssues()

    def id_column(self, props: pa.Table) -> str | None:
        """The attribute holding the source's stable id: the mapping's, else a known one."""
        names = props.column_names
        if self.mapping.id.get("field"):
            col = self.mapping.id["field"]
            if col not in names:
                raise ImportFailed(
                    f"{self.where_file}: the mapping's id field {col!r} is not an attribute "
                    f"of the file; it has {', '.join(map(str, names[:30]))}"
                )
            return col
        lookup = {str(c).lower(): c for c in names}
        return next((lookup[c] for c in ID_CANDIDATES if c in lookup), None)

    def source_ids(self, props: pa.Table, fallback: NDArray[Any]) -> NDArray[Any]:
        """Stable ids: the mapping's id field, else a known id attribute, else the reader's."""
        col = self.id_column(props)
        if col is None:
            return fallback
        ids = as_text(flat(props.column(col)))
        given = ids.to_numpy(zero_copy_only=False)
        return np.where(mask(pc.is_null(ids)), fallback, given).astype(object)

    def apply(self, props: Any, attrs: NDArray[Any] | None = None) -> Mapped:
        """Map a batch (an Arrow table, or a pandas frame); ``attrs`` (JSON object text per
        feature, from the reader) is kept under the left-over attributes."""
        from geodata.importers.frames import as_table

        props = as_table(props)
        names = props.column_names
        n = props.num_rows
        self.lookup = lookup = {str(c).lower(): c for c in names}
        self.used = used = set()
        cols: Columns = {}
        for target, spec in self.fields.items():
            sql_type = self.layer.columns.get(target, "text")
            if target in self.mapping.constants:
                cols[target] = self._constant(target, sql_type, n)
                continue
            series: pa.Array | None = None
            if target in self.mapping.fields:
                src = self.mapping.fields[target]
                if src not in names:
                    raise ImportFailed(
                        f"{self.where_file}: the mapping says {target} = {src!r} but the file "
                        f"has no such attribute; it has "
                        f"{', '.join(map(str, names[:30])) or 'none'}"
                    )
                series = self._convert(target, sql_type, props.column(src), str(src))
                used.add(src)
            else:
                for cand in spec.candidates:
                    if cand in lookup:
                        raw = props.column(lookup[cand])
                        conv = self._convert(target, sql_type, raw, str(lookup[cand]))
                        series = conv if series is None else pc.coalesce(series, conv)
                        used.add(lookup[cand])
            if series is not None and target in self.mapping.values:
                series = _translate(series, self.mapping.values[target])
            cols[target] = series if series is not None else pa.nulls(n, _ARROW[sql_type])
        self.layer.derive(cols, props, self)
        id_col = self.id_column(props)  # it becomes source_id: not repeated in attrs
        if id_col is not None:
            used.add(id_col)
        rest = props.select([c for c in names if c not in used])
        rest, attrs = own_attrs(rest, attrs)
        return Mapped(cols, merge_attrs(attrs_json(rest), attrs))

    def _convert(
        self, target: str, sql_type: str, raw: pa.Array | pa.ChunkedArray, source: str
    ) -> pa.Array:
        """One source attribute as the column ``target``, unusable values counted."""
        spec = self.fields[target]
        raw = flat(raw)
        return settle(target, sql_type, spec, spec.convert(raw), raw, source, self.issues)

    def _constant(self, target: str, sql_type: str, n: int) -> pa.Array:
        """A mapping's constant, converted like a source value: one that cannot be used is
        the mapping's mistake, refused (not counted n times)."""
        value = self.mapping.constants[target]
        raw = _one(value)
        issues = ValueIssues()
        one = settle(
            target,
            sql_type,
            self.fields[target],
            self.fields[target].convert(raw),
            raw,
            target,
            issues,
        )
        if issues.skipped or (one.null_count == 1 and value is not None and value != ""):
            reason = next(iter(issues.skipped), f"{target}: not usable")
            raise ImportFailed(
                f"{self.where_file}: the mapping's [constants] {target} = {value!r} cannot be "
                f"stored ({reason.split(': ', 1)[-1]}): fix the mapping file"
            )
        return pa.repeat(one[0], n) if n else one.slice(0, 0)

    def check_vocabulary(self, cols: Columns, where: NDArray[Any]) -> None:
        """Refuse unknown kinds and networks, naming the feature and the accepted values."""
        for col, allowed in self.layer.vocabulary.items():
            self._check(col, allowed, flat(cols[col]), where)

    def _check(
        self, col: str, allowed: tuple[str, ...], values: pa.Array, where: NDArray[Any]
    ) -> None:
        missing = mask(pc.is_null(values))
        if missing.any():
            i = int(np.flatnonzero(missing)[0])
            raise ImportFailed(
                f"{self.where_file}, {where[i]}: no {col} ({missing.sum()} features lack one). "
                f"Add a {col!r} attribute, or a mapping file with [constants] {col} = "
                f'"<one of {", ".join(allowed)}>" or [fields] {col} = "<attribute>"'
            )
        bad = ~mask(pc.is_in(values, pa.array(allowed)))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            value = str(values[i].as_py()).lstrip("?")
            raise ImportFailed(
                f"{self.where_file}, {where[i]}: unknown {col} {value!r}"
                f"; accepted: {', '.join(allowed)} (translate with [values.{col}] in a mapping "
                "file)"
            )


#: the Arrow type of an empty column of each SQL type
_ARROW: dict[str, pa.DataType] = {
    "text": pa.string(),
    "int": pa.int64(),
    "int8": pa.int64(),
    "float8": pa.float64(),
    "bool": pa.bool_(),
}


def _one(value: Any) -> pa.Array:
    """A mapping's constant as a one-value array of its own type (text when mixed)."""
    try:
        return pa.array([value])
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([str(value)], pa.string())


def _translate(series: pa.Array, table: dict[str, Any]) -> pa.Array:
    """A mapping's [values.<column>]: each string found in ``table`` becomes its value."""
    if not pa.types.is_string(series.type):
        return series  # numbers were converted already: the table's keys are text
    enc = pc.dictionary_encode(series)
    words = enc.dictionary.to_pylist()
    out = [table.get(w, w) for w in words]
    out = [v if v is None or isinstance(v, str) else str(v) for v in out]
    return pa.array(out, pa.string()).take(enc.indices)
