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

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, ValidationError

from geodata.errors import ImportFailed
from geodata.importers.coerce import ValueIssues, settle
from geodata.importers.schemes import ID_CANDIDATES

if TYPE_CHECKING:
    from geodata.importers.import_layer import ImportLayer


class MappingFile(BaseModel):
    """A user's mapping from their scheme to the twin's columns."""

    model_config = ConfigDict(extra="forbid")
    fields: dict[str, str] = {}
    constants: dict[str, Any] = {}
    values: dict[str, dict[str, Any]] = {}
    id: dict[str, str] = {}

    @classmethod
    def load(cls, path: Path, layer: ImportLayer) -> MappingFile:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ImportFailed(f"{path}: cannot read the mapping file ({exc.strerror})") from None
        try:
            data = tomllib.loads(raw.decode()) if path.suffix == ".toml" else json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ImportFailed(
                f"{path}: not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: {exc}"
            ) from None
        try:
            mapping = cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg']}" for e in exc.errors()
            )
            raise ImportFailed(
                f"{path}: bad mapping file ({problems}); expected sections "
                "[fields], [constants], [values.<column>], [id]"
            ) from None
        known = set(layer.fields)
        for section in ("fields", "constants", "values"):
            unknown = set(getattr(mapping, section)) - known
            if unknown:
                raise ImportFailed(
                    f"{path}: [{section}] names {', '.join(sorted(unknown))}, not columns of "
                    f"layer {layer.name}; its columns are {', '.join(sorted(known))}"
                )
        if set(mapping.id) - {"field"}:
            raise ImportFailed(f'{path}: [id] takes only field = "<attribute>"')
        return mapping


@dataclass
class Mapped:
    """Twin columns for a batch, plus the left-over attributes as JSON text per feature."""

    columns: pd.DataFrame
    attrs: NDArray[Any]


class Mapper:
    """Applies the automatic scheme, then the user's mapping file on top, to each batch."""

    def __init__(self, layer: ImportLayer, mapping: MappingFile | None, where_file: str) -> None:
        self.layer = layer
        self.fields = layer.fields
        self.mapping = mapping or MappingFile()
        self.where_file = where_file
        #: the batch being mapped: lower-case attribute name -> name, and the attributes used
        self.lookup: dict[str, str] = {}
        self.used: set[str] = set()
        #: attribute values stored as unknown or repaired, over the whole import
        self.issues = ValueIssues()

    def id_column(self, props: pd.DataFrame) -> str | None:
        """The attribute holding the source's stable id: the mapping's, else a known one."""
        if self.mapping.id.get("field"):
            col = self.mapping.id["field"]
            if col not in props.columns:
                raise ImportFailed(
                    f"{self.where_file}: the mapping's id field {col!r} is not an attribute "
                    f"of the file; it has {', '.join(map(str, props.columns[:30]))}"
                )
            return col
        lookup = {str(c).lower(): c for c in props.columns}
        return next((lookup[c] for c in ID_CANDIDATES if c in lookup), None)

    def source_ids(self, props: pd.DataFrame, fallback: NDArray[Any]) -> NDArray[Any]:
        """Stable ids: the mapping's id field, else a known id attribute, else the reader's."""
        col = self.id_column(props)
        if col is None:
            return fallback
        ids = props[col].astype("string")
        return np.where(ids.isna().to_numpy(), fallback, ids.fillna("").to_numpy(dtype=object))

    def apply(self, props: pd.DataFrame, attrs: NDArray[Any] | None = None) -> Mapped:
        """Map a batch; ``attrs`` (JSON object text per feature, from the reader) is kept
        under the left-over attributes."""
        self.lookup = lookup = {str(c).lower(): c for c in props.columns}
        self.used = used = set()
        cols: dict[str, pd.Series] = {}
        for target, spec in self.fields.items():
            sql_type = self.layer.columns.get(target, "text")
            if target in self.mapping.constants:
                cols[target] = self._constant(target, sql_type, len(props), props.index)
                continue
            series = None
            if target in self.mapping.fields:
                src = self.mapping.fields[target]
                if src not in props.columns:
                    raise ImportFailed(
                        f"{self.where_file}: the mapping says {target} = {src!r} but the file "
                        f"has no such attribute; it has "
                        f"{', '.join(map(str, props.columns[:30])) or 'none'}"
                    )
                series = self._convert(target, sql_type, props[src], str(src))
                used.add(src)
            else:
                for cand in spec.candidates:
                    if cand in lookup:
                        raw = props[lookup[cand]]
                        conv = self._convert(target, sql_type, raw, str(lookup[cand]))
                        series = conv if series is None else series.fillna(conv)
                        used.add(lookup[cand])
            if series is not None and target in self.mapping.values:
                table = self.mapping.values[target]
                series = series.map(lambda v, t=table: t.get(v, v) if isinstance(v, str) else v)
            cols[target] = (
                series
                if series is not None
                else pd.Series(np.full(len(props), None, dtype=object), index=props.index)
            )
        out = pd.DataFrame(cols, index=props.index)
        self.layer.derive(out, props, self)
        id_col = self.id_column(props)  # it becomes source_id: not repeated in attrs
        if id_col is not None:
            used.add(id_col)
        rest = [c for c in props.columns if c not in used]
        return Mapped(out.reset_index(drop=True), _merge_attrs(_attrs_json(props[rest]), attrs))

    def _convert(self, target: str, sql_type: str, raw: pd.Series, source: str) -> pd.Series:
        """One source attribute as the column ``target``, unusable values counted."""
        spec = self.fields[target]
        return settle(target, sql_type, spec, spec.convert(raw), raw, source, self.issues)

    def _constant(self, target: str, sql_type: str, n: int, index: pd.Index) -> pd.Series:
        """A mapping's constant, converted like a source value: one that cannot be used is
        the mapping's mistake, refused (not counted n times)."""
        value = self.mapping.constants[target]
        raw = pd.Series([value], dtype=object)
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
        if issues.skipped or (one.isna().all() and value is not None and value != ""):
            reason = next(iter(issues.skipped), f"{target}: not usable")
            raise ImportFailed(
                f"{self.where_file}: the mapping's [constants] {target} = {value!r} cannot be "
                f"stored ({reason.split(': ', 1)[-1]}): fix the mapping file"
            )
        return pd.Series([one.iloc[0]] * n, index=index, dtype=one.dtype)

    def check_vocabulary(self, cols: pd.DataFrame, where: NDArray[Any]) -> None:
        """Refuse unknown kinds and networks, naming the feature and the accepted values."""
        for col, allowed in self.layer.vocabulary.items():
            self._check(col, allowed, cols[col], where)

    def _check(
        self, col: str, allowed: tuple[str, ...], values: pd.Series, where: NDArray[Any]
    ) -> None:
        missing = values.isna().to_numpy()
        if missing.any():
            i = int(np.flatnonzero(missing)[0])
            raise ImportFailed(
                f"{self.where_file}, {where[i]}: no {col} ({missing.sum()} features lack one). "
                f"Add a {col!r} attribute, or a mapping file with [constants] {col} = "
                f'"<one of {", ".join(allowed)}>" or [fields] {col} = "<attribute>"'
            )
        bad = ~values.isin(allowed).to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ImportFailed(
                f"{self.where_file}, {where[i]}: unknown {col} {str(values.iloc[i]).lstrip('?')!r}"
                f"; accepted: {', '.join(allowed)} (translate with [values.{col}] in a mapping "
                "file)"
            )


def _merge_attrs(rest: NDArray[Any], given: NDArray[Any] | None) -> NDArray[Any]:
    """The reader's JSON documents, with the left-over attributes added (they win)."""
    if given is None:
        return rest
    out = np.empty(len(rest), dtype=object)
    for i, (r, g) in enumerate(zip(rest, given, strict=True)):
        if not g or g == "{}":
            out[i] = r
        elif r == "{}":
            out[i] = g
        else:
            doc = {**json.loads(g), **json.loads(r)}
            out[i] = json.dumps(_strip_nulls(doc), ensure_ascii=False, separators=(",", ":"))
    return out


def _attrs_json(rest: pd.DataFrame) -> NDArray[Any]:
    """Unmapped attributes, one JSON object per feature, nulls dropped (kept in ``attrs``)."""
    if rest.shape[1] == 0:
        return np.full(len(rest), "{}", dtype=object)
    rest = rest.copy()
    rest.columns = [str(c) for c in rest.columns]
    for c in rest.columns:
        if not (pd.api.types.is_numeric_dtype(rest[c]) or pd.api.types.is_bool_dtype(rest[c])):
            rest[c] = rest[c].map(_jsonable)
    lines = rest.to_json(orient="records", lines=True, date_format="iso", force_ascii=False)
    # split on "\n" only: JSON escapes it inside strings, but not U+0085 or U+2028, which
    # str.splitlines would also split on
    rows = lines.rstrip("\n").split("\n") if lines else []
    out = pd.Series(rows, index=rest.index, dtype="object")
    # nulls are dropped here, as jsonb_strip_nulls would: only lines with a null are re-parsed
    nulls = out.str.contains(":null", regex=False).to_numpy(dtype=bool)
    if nulls.any():
        out[nulls] = [  # type: ignore[call-overload]  # pandas-stubs: a list is fine here
            json.dumps(_strip_nulls(json.loads(line)), ensure_ascii=False, separators=(",", ":"))
            for line in out[nulls]
        ]
    return out.to_numpy(dtype=object)


def _strip_nulls(value: Any) -> Any:
    """Drop null-valued object members, at every depth (PostgreSQL's jsonb_strip_nulls)."""
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_nulls(v) for v in value]
    return value


def _jsonable(v: object) -> object:
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, (np.ndarray, list, tuple)):
        return [_jsonable(x) for x in v]
    return v
