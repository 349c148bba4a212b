"""Bulk writing of an import: COPY into a temporary staging table, then one upsert per layer.

Everything runs in the caller's transaction, so an import is all-or-nothing. For most layers,
reprojection, multi-part handling and 2D/3D forcing are done by PostGIS in the final
INSERT ... SELECT. Buildings arrive already in their stored form
(:func:`geodata.importers.geometry.finish_buildings`), so the first import of a source, where
nothing can conflict, skips the stage: one COPY straight into the table (``direct`` mode),
the same single write as ``ogr2ogr``. Re-imports stage and upsert as before.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, suppress
from types import TracebackType

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import Copy
from psycopg.copy import QueuedLibpqWriter
from sqlalchemy import Connection

from geodata.errors import ImportFailed

#: stage column types for each layer's mapped fields (the order is the COPY order)
STAGE_COLUMNS: dict[str, dict[str, str]] = {
    "buildings": {
        "height": "float8",
        "height_source": "text",
        "levels": "int",
        "base_z": "float8",
        "roof_type": "text",
        "usage": "text",
        "name": "text",
        "address": "text",
        "year_built": "int",
    },
    "networks": {
        "network": "text",
        "depth_m": "float8",
        "diameter_mm": "float8",
        "material": "text",
        "install_year": "int",
        "status": "text",
        "operator": "text",
    },
    "furniture": {"kind": "text", "heading": "float8", "height": "float8", "name": "text"},
    "pois": {"name": "text", "kind": "text", "description": "text"},
    "ground": {"kind": "text", "name": "text", "width_m": "float8"},
}

#: assumed cover depth (m) when a network segment has none: usual French/Finnish practice
DEFAULT_DEPTH = {
    "water": 1.2,
    "wastewater": 2.5,
    "stormwater": 2.0,
    "gas": 1.0,
    "district_heating": 1.0,
    "electricity": 0.8,
    "telecom": 0.6,
    "lighting": 0.6,
}

#: layers staged in their stored form, which a first import COPYs straight into the table
DIRECT = {"buildings": ("footprint", "lod2")}

_TARGET = {
    "buildings": "buildings",
    "networks": "network_segments",
    "furniture": "furniture",
    "pois": "pois",
    "ground": "ground",
}


def _geom(col: str = "s.geom") -> str:
    return f"ST_Transform(ST_SetSRID({col}, %(src)s), %(dst)s)"


_DEPTH_CASE = (
    "CASE s.network " + " ".join(f"WHEN '{k}' THEN {v}" for k, v in DEFAULT_DEPTH.items()) + " END"
)

#: SELECT list producing each target table's columns from the deduplicated stage ``s``
_SELECT = {
    # staged in their stored form (geometry.finish_buildings): copied as they are
    "buildings": {
        "footprint": "s.geom",
        "base_z": "s.base_z",
        "height": "s.height",
        "height_source": "s.height_source",
        "levels": "s.levels",
        "roof_type": "s.roof_type",
        "usage": "s.usage",
        "name": "s.name",
        "address": "s.address",
        "year_built": "s.year_built",
        "lod2": "s.lod2",
    },
    "networks": {
        "network": "s.network",
        "depth_m": f"COALESCE(s.depth_m, {_DEPTH_CASE})",
        "geom": f"CASE WHEN ST_NDims(d.geom) = 3 THEN {_geom('d.geom')} "
        f"ELSE ST_Force3DZ({_geom('d.geom')}, -COALESCE(s.depth_m, {_DEPTH_CASE})) END",
        "diameter_mm": "CASE WHEN s.diameter_mm > 0 THEN s.diameter_mm END",
        "material": "s.material",
        "install_year": "CASE WHEN s.install_year BETWEEN 1700 AND 2100 THEN s.install_year END",
        "status": "COALESCE(s.status, 'in_service')",
        "operator": "s.operator",
    },
    "furniture": {
        "kind": "s.kind",
        "geom": f"ST_Force3DZ({_geom()})",
        "heading": "s.heading",
        "height": "CASE WHEN s.height > 0 THEN s.height END",
        "name": "s.name",
    },
    "pois": {
        "name": "s.name",
        "kind": "COALESCE(s.kind, 'poi')",
        "description": "s.description",
        "geom": f"ST_Force3DZ({_geom()})",
    },
    "ground": {
        "kind": "s.kind",
        "name": "s.name",
        "width_m": "s.width_m",
        "geom": f"ST_Force2D({_geom()})",
    },
}


class StageWriter(AbstractContextManager["StageWriter"]):
    """Accumulates batches in a temporary table; :meth:`upsert` moves them into the layer.
    In direct mode (:meth:`begin`) the batches go straight into the layer's table instead.

    All batches go through one COPY that stays open until :meth:`upsert`, fed by a worker
    thread: the server parses and stores a batch while Python prepares the next one. Use it
    as a context manager, so an error in the middle ends that COPY cleanly and the
    transaction can roll back.
    """

    def __init__(self, conn: Connection, layer: str, file: str) -> None:
        self.conn = conn
        self.layer = layer
        self.file = file  # named in errors about a value
        self.cols = STAGE_COLUMNS[layer]
        self.raw = conn.connection.driver_connection  # psycopg, same transaction
        # PostGIS functions look costly to the planner, which then JIT-compiles the final
        # INSERT ... SELECT: about half a second per import spent compiling, never repaid
        self.raw.execute("SET LOCAL jit = off")
        col_defs = ", ".join(f"{c} {t}" for c, t in self.cols.items())
        self.raw.execute(
            "CREATE TEMP TABLE import_stage (ord bigint, source_id text, geom geometry, "
            f"lod2 geometry, attrs jsonb, {col_defs}) ON COMMIT DROP"
        )
        self.rows = 0
        self._copy_cm: AbstractContextManager[Copy] | None = None
        self._copy: Copy | None = None
        #: direct mode (see :meth:`begin`): the source written to, ids seen, rows dropped as
        #: duplicates, index DDL to run at the end
        self.direct: str | None = None
        self._seen: set[str] = set()
        self._dups = 0
        self._rebuild: list[str] = []
        self._header_sent = False

    def begin(self, *, source: str, expected: int | None) -> None:
        """Choose direct mode when the layer allows it and ``source`` has no rows yet (nothing
        can conflict); with ``expected`` >= BULK_REINDEX rows into an empty table, indexes are
        dropped now and rebuilt once at the end."""
        if self.layer not in DIRECT or self._copy is not None:
            return
        table = _TARGET[self.layer]
        if not self._fresh(table, source):
            return
        self.direct = source
        if expected is not None and expected >= BULK_REINDEX:
            self._rebuild = self._drop_indexes(table)

    def _fresh(self, table: str, source: str) -> bool:
        return not self.raw.execute(
            f"SELECT EXISTS (SELECT 1 FROM {table} WHERE source = %s AND scenario_id IS NULL)",
            (source,),
        ).fetchone()[0]

    def _names(self) -> list[str]:
        if self.direct is not None:
            geom, lod2 = DIRECT[self.layer]
            return ["source", "source_id", geom, lod2, "attrs", *self.cols]
        return ["ord", "source_id", "geom", "lod2", "attrs", *self.cols]

    def _stream(self) -> Copy:
        if self._copy is None:
            table = _TARGET[self.layer] if self.direct is not None else "import_stage"
            cur = self.raw.cursor()
            # a worker thread sends the data: Python prepares the next batch meanwhile instead
            # of waiting for the server to take in this one (the queue is bounded)
            self._copy_cm = cur.copy(
                f"COPY {table} ({', '.join(self._names())}) FROM STDIN (FORMAT binary)",
                writer=QueuedLibpqWriter(cur),
            )
            self._copy = self._copy_cm.__enter__()
        return self._copy

    def _end_copy(self, exc: BaseException | None = None) -> None:
        cm, copy = self._copy_cm, self._copy
        self._copy_cm = self._copy = None
        if cm is not None and copy is not None and exc is None:
            copy.write(_COPY_TRAILER)
        if cm is not None:
            cm.__exit__(type(exc) if exc else None, exc, exc.__traceback__ if exc else None)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._copy_cm is not None:
            # fail the COPY on purpose: the transaction rolls back anyway
            with suppress(psycopg.Error):
                self._end_copy(exc or RuntimeError("import abandoned"))

    def write(
        self,
        ids: np.ndarray,
        geom_wkb: np.ndarray,
        lod2_wkb: np.ndarray | None,
        columns: pd.DataFrame,
        attrs: pd.Series,
    ) -> None:
        """COPY one batch, in PostgreSQL's binary COPY format built by Arrow (C++, no Python
        code per row): the server takes binary in about half the time of CSV (no text to parse,
        no hex WKB to decode).
        """
        n = len(ids)
        if self.direct is not None:
            keep = self._first_seen(ids)
            if keep is not None:
                ids, geom_wkb, columns = ids[keep], geom_wkb[keep], columns[keep]
                lod2_wkb = lod2_wkb[keep] if lod2_wkb is not None else None
                attrs = attrs[keep]
                n = len(ids)
            lead = _var_field(pa.array([self.direct] * n, pa.string()))
        else:
            lead = _fixed_field(np.arange(self.rows, self.rows + n), None, ">i8")
        # Arrow converts lists much faster than object arrays
        fields = [
            lead,
            _var_field(pa.array(ids.tolist(), pa.string())),
            _var_field(pa.array(geom_wkb.tolist(), pa.binary())),
            (
                _var_field(pa.array(lod2_wkb.tolist(), pa.binary()))
                if lod2_wkb is not None
                else _null_field()
            ),
            _var_field(pa.array(attrs.tolist(), pa.string()), b"\x01"),
        ]
        for c, sql_type in self.cols.items():
            fields.append(
                _field(_arrow(columns[c], sql_type), sql_type, c, self.file)
                if c in columns
                else _null_field()
            )
        data = _binary_rows(fields, n)
        stream = self._stream()
        if not self._header_sent:
            stream.write(_COPY_HEADER)
            self._header_sent = True
        stream.write(data)
        self.rows += n

    def _first_seen(self, ids: np.ndarray) -> np.ndarray | None:
        """Direct mode keeps the first feature of each source id, as the stage's DISTINCT ON
        does: a mask of the rows to keep, or None when all are new."""
        seen = self._seen
        batch = set(ids)
        if len(batch) == len(ids) and seen.isdisjoint(batch):
            seen |= batch
            return None
        keep = np.zeros(len(ids), dtype=bool)
        for i, sid in enumerate(ids):
            if sid not in seen:
                seen.add(sid)
                keep[i] = True
        self._dups += len(ids) - int(keep.sum())
        return keep

    def upsert(self, *, source: str, src_srid: int, dst_srid: int) -> tuple[int, int, int, int]:
        """Insert new rows, update changed ones, leave identical ones alone.

        Two fast paths keep a first import close to a plain bulk load: without duplicate ids
        the stage is read as is (no sort of whole rows), and a source with no rows yet in the
        layer is a plain INSERT (nothing can conflict, so no ON CONFLICT bookkeeping).

        :returns: (inserted, updated, unchanged, duplicates dropped)
        """
        self._end_copy()
        table = _TARGET[self.layer]
        if self.direct is not None:
            with self.raw.cursor() as cur:
                for ddl in self._rebuild:
                    cur.execute(ddl)
            return self.rows, 0, 0, self._dups
        select = _SELECT[self.layer]
        cols = ["source", "source_id", *select]
        params = {"src": src_srid, "dst": dst_srid, "source": source}
        total, distinct = self.raw.execute(
            "SELECT count(*), count(DISTINCT source_id) FROM import_stage"
        ).fetchone()
        dedup = (
            "import_stage s"
            if total == distinct
            else "(SELECT DISTINCT ON (source_id) * FROM import_stage ORDER BY source_id, ord) s"
        )
        if self.layer == "networks":
            frm = f"{dedup} CROSS JOIN LATERAL ST_Dump(s.geom) d"
            sid = (
                "CASE WHEN ST_NumGeometries(s.geom) > 1 "
                "THEN s.source_id || '#' || d.path[1] ELSE s.source_id END"
            )
        else:
            frm, sid = dedup, "s.source_id"
        exprs = ["%(source)s", sid, *select.values()]
        attrs_expr = "s.attrs"  # nulls already stripped (mapping._attrs_json)
        if self.layer == "networks":
            attrs_expr += (
                " || CASE WHEN s.depth_m IS NULL THEN "
                "'{\"depth_source\": \"assumed\"}'::jsonb ELSE '{}'::jsonb END"
            )
        cols.append("attrs")
        exprs.append(attrs_expr)
        insert = (
            f"INSERT INTO {table} AS t ({', '.join(cols)}) SELECT {', '.join(exprs)} FROM {frm}"
        )
        cur = self.raw.cursor()
        if self._fresh(table, source):
            rebuild = self._drop_indexes(table) if total >= BULK_REINDEX else []
            cur.execute(insert, params)
            inserted, updated = cur.rowcount, 0
            for ddl in rebuild:
                cur.execute(ddl)
        else:
            data_cols = cols[2:]
            sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in data_cols)
            changed = " OR ".join(f"t.{c} IS DISTINCT FROM EXCLUDED.{c}" for c in data_cols)
            # counted in SQL: fetching one flag per row would grow with the file
            inserted, written = cur.execute(
                f"WITH w AS ({insert} ON CONFLICT (source, source_id) WHERE scenario_id IS NULL "
                f"DO UPDATE SET {sets}, updated_at = now() WHERE {changed} "
                "RETURNING (xmax = 0) AS inserted) "
                "SELECT count(*) FILTER (WHERE inserted), count(*) FROM w",
                params,
            ).fetchone()
            updated = written - inserted
        if self.layer == "networks":
            parts = self.raw.execute(
                "SELECT coalesce(sum(ST_NumGeometries(s.geom)), 0) FROM " + dedup
            ).fetchone()[0]
        else:
            parts = distinct
        unchanged = int(parts) - inserted - updated
        return inserted, updated, unchanged, int(total) - int(distinct)

    def _drop_indexes(self, table: str) -> list[str]:
        """Drop the indexes of an *empty* table (except those behind constraints, such as the
        primary key); return the DDL that rebuilds them.

        Building an index once over the loaded rows is several times faster than growing it
        row by row (GiST most of all), as pg_restore does. Only done when the table is empty,
        so the exclusive lock DROP INDEX takes (until commit) hides nothing from readers; the
        stage is deduplicated, so unique indexes rebuild cleanly; a rollback restores them.
        """
        if self.raw.execute(f"SELECT EXISTS (SELECT 1 FROM {table})").fetchone()[0]:
            return []
        rows = self.raw.execute(
            "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = %s::regclass "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)",
            (table,),
        ).fetchall()
        for name, _ in rows:
            self.raw.execute(f'DROP INDEX "{name}"')
        return [ddl for _, ddl in rows]


#: a first import of at least this many rows into an empty table builds its indexes once at
#: the end instead of growing them row by row
BULK_REINDEX = 10_000


def _arrow(values: pd.Series, sql_type: str) -> pa.Array:
    """A mapped column as an Arrow array of the stage column's type (unparsable -> null)."""
    if sql_type == "text":
        if not isinstance(values.dtype, pd.StringDtype):
            values = values.astype("string")
        return pa.array(values, pa.string(), from_pandas=True)
    numbers = pd.to_numeric(values, errors="coerce")
    if sql_type == "int":
        numbers = numbers.astype("Float64").round().astype("Int64")
        return pa.array(numbers, pa.int64(), from_pandas=True)
    return pa.array(numbers.astype("float64"), pa.float64(), from_pandas=True)


# -- PostgreSQL binary COPY, built column-wise with Arrow ----------------------------------
# Each field becomes Arrow binary arrays holding, per row, its 32-bit big-endian length (-1 for
# NULL) then its bytes; binary_join_element_wise glues them into rows in C++, and the joined
# array's data buffer is the COPY data as is.
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8
_COPY_TRAILER = b"\xff\xff"
_INT4 = (-(2**31), 2**31 - 1)
_NOTHING = pa.scalar(b"", pa.binary())


def _big_endian(values: np.ndarray, dtype: str) -> pa.Array:
    """Numbers as a binary array of fixed-width big-endian values."""
    raw = np.ascontiguousarray(values.astype(dtype))
    width = raw.dtype.itemsize
    return pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(width), len(raw), [None, pa.py_buffer(raw.tobytes())]
    ).cast(pa.binary())


def _null_field() -> list[pa.Array | pa.Scalar]:
    return [pa.scalar(b"\xff\xff\xff\xff", pa.binary())]


def _var_field(values: pa.Array, prefix: bytes = b"") -> list[pa.Array | pa.Scalar]:
    """A string or binary array (nulls allowed); ``prefix`` goes before each non-null value
    (jsonb's version byte)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    values = values.cast(pa.binary())
    lengths = pc.binary_length(values).to_numpy(zero_copy_only=False)
    if values.null_count:
        null = values.is_null().to_numpy(zero_copy_only=False)
        lengths = np.where(null, -1, np.nan_to_num(lengths) + len(prefix))
        parts = [_big_endian(lengths, ">i4")]
        if prefix:
            parts.append(pc.if_else(pa.array(null), _NOTHING, pa.scalar(prefix, pa.binary())))
        return [*parts, values.fill_null(b"")]
    lengths = lengths + len(prefix)
    parts = [_big_endian(lengths, ">i4")]
    if prefix:
        parts.append(pa.scalar(prefix, pa.binary()))
    return [*parts, values]


def _fixed_field(
    values: np.ndarray, null: np.ndarray | None, dtype: str
) -> list[pa.Array | pa.Scalar]:
    width = np.dtype(dtype).itemsize
    encoded = _big_endian(values, dtype)
    if null is None or not null.any():
        return [pa.scalar(width.to_bytes(4, "big"), pa.binary()), encoded]
    lengths = np.where(null, -1, width)
    return [_big_endian(lengths, ">i4"), pc.if_else(pa.array(null), _NOTHING, encoded)]


def _field(
    arr: pa.Array | pa.ChunkedArray, sql_type: str, column: str, file: str
) -> list[pa.Array | pa.Scalar]:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if sql_type == "text":
        return _var_field(arr)
    null = arr.is_null().to_numpy(zero_copy_only=False) if arr.null_count else None
    values = arr.fill_null(0).to_numpy(zero_copy_only=False)
    if sql_type == "int":
        if len(values) and (values.min() < _INT4[0] or values.max() > _INT4[1]):
            bad = values[(values < _INT4[0]) | (values > _INT4[1])][0]
            raise ImportFailed(
                f"{file}: {column} {bad} is out of range for an integer (at most {_INT4[1]}): "
                "fix the attribute, or map another one with --mapping"
            )
        return _fixed_field(values, null, ">i4")
    return _fixed_field(values, null, ">f8")


def _binary_rows(fields: list[list[pa.Array | pa.Scalar]], n: int) -> memoryview:
    """Rows of the binary COPY format: a 16-bit field count, then the fields."""
    count = pa.scalar(len(fields).to_bytes(2, "big"), pa.binary())
    parts = [count, *(p for f in fields for p in f)]
    if not any(isinstance(p, pa.Array) for p in parts):
        parts.append(pa.array([b""] * n, pa.binary()))
    rows = pc.binary_join_element_wise(*parts, b"")
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int32)[rows.offset : rows.offset + n + 1]
    return memoryview(rows.buffers()[2])[int(offsets[0]) : int(offsets[-1])]
