"""The attributes no column takes, kept as one JSON object per feature (``attrs``, jsonb).

Written column-wise with Arrow's string kernels: each column becomes ``,"name":value``
fragments (empty where the value is null, so nulls are dropped as ``jsonb_strip_nulls``
would), and a row is its fragments joined, less the first comma. Strings, numbers and
booleans never pass through Python; a value of another type (a list, a date), or a string
holding a control character JSON wants escaped as ``\\u00XX``, is written by
:func:`json.dumps`, one value at a time.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from geodata.importers.coerce import flat

_STR = pa.string()
#: characters JSON escapes, and how (the backslash first)
_ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"))
_OTHER_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f]"


def attrs_json(rest: pa.Table) -> pa.Array:
    """Unmapped attributes, one JSON object text per feature, nulls dropped."""
    n = rest.num_rows
    parts = []
    for name in rest.column_names:
        value = _json_values(flat(rest.column(name)))
        key = "," + json.dumps(str(name), ensure_ascii=False) + ":"
        # ',"name":value', or "" where the value is null
        parts.append(pc.fill_null(pc.binary_join_element_wise(pa.scalar(key), value, ""), ""))
    if not parts:
        return pa.array(np.full(n, "{}", dtype=object), _STR)
    body = pc.utf8_slice_codeunits(pc.binary_join_element_wise(*parts, ""), 1)  # lead comma
    return flat(pc.binary_join_element_wise("{", body, "}", ""))


def merge_attrs(rest: pa.Array, given: NDArray[Any] | None) -> pa.Array:
    """The reader's JSON documents, with the left-over attributes added (they win)."""
    if given is None:
        return rest
    out = []
    for r, g in zip(rest.to_pylist(), given, strict=True):
        if not g or g == "{}":
            out.append(r)
        elif r == "{}":
            out.append(g)
        else:
            doc = {**json.loads(g), **json.loads(r)}
            out.append(json.dumps(strip_nulls(doc), ensure_ascii=False, separators=(",", ":")))
    return pa.array(out, _STR)


#: the twin's own name for the attributes no column takes (a GeoPackage or CSV export of the
#: twin writes them as one JSON object text column under it)
OWN = "attrs"
#: the columns of a twin export that the import decides again (the feature id, the source,
#: where a height or a base came from, an analysis' score): not attributes of the feature
BOOKKEEPING = ("id", "source", "height_source", "z_source", "renewal_score")


def own_attrs(rest: pa.Table, given: NDArray[Any] | None) -> tuple[pa.Table, NDArray[Any] | None]:
    """A twin export's ``attrs`` column spread back into the attributes (with the reader's
    own documents, which it joins) and its :data:`BOOKKEEPING` columns left out, so that
    re-importing an export stores what was exported; a column of that name holding anything
    but JSON objects is an attribute like any other (and the file not a twin export)."""
    if OWN not in rest.column_names:
        return rest, given
    column = flat(rest.column(OWN))
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return rest, given
    docs: list[str] = []
    for text in column.to_pylist():
        if text is None:
            docs.append("{}")
            continue
        try:
            value = json.loads(text)
        except ValueError:
            return rest, given
        if not isinstance(value, dict):
            return rest, given
        docs.append(text)
    own = np.array(docs, dtype=object)
    if given is not None:
        # the export's document wins over what the reader found beside it
        joined = merge_attrs(pa.array(docs, _STR), given).to_pylist()
        own = np.array(joined, dtype=object)
    dropped = [OWN, *(c for c in BOOKKEEPING if c in rest.column_names)]
    return rest.drop_columns(dropped), own


def strip_nulls(value: Any) -> Any:
    """Drop null-valued object members, at every depth (PostgreSQL's jsonb_strip_nulls)."""
    if isinstance(value, dict):
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_nulls(v) for v in value]
    return value


def _json_values(values: pa.Array) -> pa.Array:
    """Each value as JSON text, null where it is null (or a number that is not finite)."""
    t = values.type
    if pa.types.is_boolean(t):
        return pc.if_else(values, "true", "false")
    if pa.types.is_integer(t):
        return values.cast(_STR)
    if pa.types.is_floating(t):
        finite = pc.is_finite(values)
        return pc.if_else(finite, values.cast(_STR), pa.scalar(None, _STR))
    if pa.types.is_null(t):
        return pa.nulls(len(values), _STR)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t):
        text = values.cast(_STR)
        odd = pc.fill_null(pc.match_substring_regex(text, _OTHER_CONTROL), False)
        for char, escaped in _ESCAPES:
            text = pc.replace_substring(text, char, escaped)
        text = pc.binary_join_element_wise('"', text, '"', "")
        if pc.any(odd).as_py():
            text = _python_json(values, np.asarray(odd.to_numpy(zero_copy_only=False)), text)
        return text
    return _python_json(values, np.ones(len(values), dtype=bool), pa.nulls(len(values), _STR))


def _python_json(values: pa.Array, where: NDArray[np.bool_], text: pa.Array) -> pa.Array:
    """``text`` with the values at ``where`` written by :func:`json.dumps` instead."""
    out = text.to_pylist()
    for i in np.flatnonzero(where):
        out[i] = _dumps(values[int(i)].as_py())
    return pa.array(out, _STR)


def _dumps(value: Any) -> str | None:
    value = strip_nulls(_jsonable(value))
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _jsonable(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v
