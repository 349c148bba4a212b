"""The one adapter from pandas: a reader that builds its attributes as a frame (OSM tags,
CityJSON attributes, the demo's generators, a plug-in reader) hands it on as it is, and the
pipeline turns it into the Arrow table every mapping rule takes.

pandas is imported only when a frame arrives (the reader has loaded it already): the OGR
reader's Arrow batches never load it.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa


def as_table(props: Any) -> pa.Table:
    """``props`` as an Arrow table: a table as is, a pandas frame column by column.

    A column of mixed Python values (numbers and text in one object column, as a
    hand-built frame can hold) becomes text, the form every converter reads numbers from.
    """
    if isinstance(props, pa.Table):
        return props
    import pandas as pd

    from geodata.importers.lean import with_pandas

    with_pandas()

    if not isinstance(props, pd.DataFrame):
        raise TypeError(
            f"a batch's props must be a pyarrow Table or a pandas DataFrame, not {props!r}"
        )
    arrays = []
    for name in props.columns:
        series = props[name]
        try:
            arrays.append(pa.array(series, from_pandas=True))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
            arrays.append(pa.array([_text(v) for v in series], pa.string()))
    names = [str(c) for c in props.columns]
    if not names:
        return pa.table({"__rows": pa.nulls(len(props))}).drop_columns(["__rows"])
    return pa.Table.from_arrays(arrays, names=names)


def _text(value: Any) -> str | None:
    import pandas as pd

    try:
        if value is None or (not isinstance(value, (list, tuple, dict)) and pd.isna(value)):
            return None
    except (TypeError, ValueError):  # an array-like value: kept as its text
        pass
    if isinstance(value, bytes):
        return value.hex()
    return str(value)
