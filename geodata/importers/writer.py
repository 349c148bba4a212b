"""Bulk writing of an import: COPY into a temporary staging table, then one upsert per layer.

Everything runs in the caller's transaction, so an import is all-or-nothing. Reprojection,
multi-part handling and 2D/3D forcing are done by PostGIS in the final INSERT ... SELECT, which
is both faster than doing it row by row in Python and exactly what the database will store.
"""

from __future__ import annotations

import io
from contextlib import AbstractContextManager, suppress
from types import TracebackType

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import Copy
from sqlalchemy import Connection

#: stage column types for each layer's mapped fields (the order is the COPY order)
STAGE_COLUMNS: dict[str, dict[str, str]] = {
    "buildings": {
        "height": "float8", "height_source": "text", "levels": "int", "base_z": "float8",
        "roof_type": "text", "usage": "text", "name": "text", "address": "text",
        "year_built": "int",
    },
    "networks": {
        "network": "text", "depth_m": "float8", "diameter_mm": "float8", "material": "text",
        "install_year": "int", "status": "text", "operator": "text",
    },
    "furniture": {"kind": "text", "heading": "float8", "height": "float8", "name": "text"},
    "pois": {"name": "text", "kind": "text", "description": "text"},
    "ground": {"kind": "text", "name": "text", "width_m": "float8"},
}

#: assumed cover depth (m) when a network segment has none: usual French/Finnish practice
DEFAULT_DEPTH = {
    "water": 1.2, "wastewater": 2.5, "stormwater": 2.0, "gas": 1.0, "district_heating": 1.0,
    "electricity": 0.8, "telecom": 0.6, "lighting": 0.6,
}

_TARGET = {"buildings": "buildings", "networks": "network_segments", "furniture": "furniture",
           "pois": "pois", "ground": "ground"}


def _geom(col: str = "s.geom") -> str:
    return f"ST_Transform(ST_SetSRID({col}, %(src)s), %(dst)s)"


_DEPTH_CASE = "CASE s.network " + " ".join(
    f"WHEN '{k}' THEN {v}" for k, v in DEFAULT_DEPTH.items()
) + " END"

#: SELECT list producing each target table's columns from the deduplicated stage ``s``
_SELECT = {
    "buildings": {
        "footprint": f"ST_Multi(ST_Force2D({_geom()}))",
        "base_z": "COALESCE(s.base_z, CASE WHEN ST_NDims(s.geom) = 3 THEN ST_ZMin(s.geom) END, 0)",
        "height": "s.height", "height_source": "s.height_source", "levels": "s.levels",
        "roof_type": "s.roof_type", "usage": "s.usage", "name": "s.name",
        "address": "s.address", "year_built": "s.year_built",
        "lod2": f"CASE WHEN s.lod2 IS NOT NULL THEN ST_Multi({_geom('s.lod2')}) END",
    },
    "networks": {
        "network": "s.network",
        "depth_m": f"COALESCE(s.depth_m, {_DEPTH_CASE})",
        "geom": f"CASE WHEN ST_NDims(d.geom) = 3 THEN {_geom('d.geom')} "
                f"ELSE ST_Force3DZ({_geom('d.geom')}, -COALESCE(s.depth_m, {_DEPTH_CASE})) END",
        "diameter_mm": "CASE WHEN s.diameter_mm > 0 THEN s.diameter_mm END",
        "material": "s.material",
        "install_year": "CASE WHEN s.install_year BETWEEN 1700 AND 2100 THEN s.install_year END",
        "status": "COALESCE(s.status, 'in_service')", "operator": "s.operator",
    },
    "furniture": {
        "kind": "s.kind", "geom": f"ST_Force3DZ({_geom()})",
        "heading": "s.heading", "height": "CASE WHEN s.height > 0 THEN s.height END",
        "name": "s.name",
    },
    "pois": {
        "name": "s.name", "kind": "COALESCE(s.kind, 'poi')", "description": "s.description",
        "geom": f"ST_Force3DZ({_geom()})",
    },
    "ground": {
        "kind": "s.kind", "name": "s.name", "width_m": "s.width_m",
        "geom": f"ST_Force2D({_geom()})",
    },
}


class StageWriter(AbstractContextManager["StageWriter"]):
    """Accumulates batches in a temporary table; :meth:`upsert` moves them into the layer.

    All batches go through one COPY that stays open until :meth:`upsert`: the server parses
    and stores a batch while Python prepares the next one. Use it as a context manager, so an
    error in the middle ends that COPY cleanly and the transaction can roll back.
    """

    def __init__(self, conn: Connection, layer: str) -> None:
        self.conn = conn
        self.layer = layer
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

    def _stream(self) -> Copy:
        if self._copy is None:
            names = ", ".join(["ord", "source_id", "geom", "lod2", "attrs", *self.cols])
            self._copy_cm = self.raw.cursor().copy(
                f"COPY import_stage ({names}) FROM STDIN (FORMAT csv)"
            )
            self._copy = self._copy_cm.__enter__()
        return self._copy

    def _end_copy(self, exc: BaseException | None = None) -> None:
        cm, self._copy_cm, self._copy = self._copy_cm, None, None
        if cm is not None:
            cm.__exit__(type(exc) if exc else None, exc, exc.__traceback__ if exc else None)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._copy_cm is not None:
            # fail the COPY on purpose: the transaction rolls back anyway
            with suppress(psycopg.Error):
                self._end_copy(exc or RuntimeError("import abandoned"))

    def write(
        self, ids: np.ndarray, geom_hex: np.ndarray, lod2_hex: np.ndarray | None,
        columns: pd.DataFrame, attrs: pd.Series,
    ) -> None:
        """COPY one batch into the stage, as CSV written by Arrow (C++, not Python row code).

        Arrow quotes every string and writes nulls as bare empty fields, which is exactly
        PostgreSQL's CSV convention (quoted "" = empty string, bare empty = NULL).
        """
        n = len(ids)
        arrays: dict[str, pa.Array] = {
            "ord": pa.array(np.arange(self.rows, self.rows + n, dtype=np.int64)),
            "source_id": pa.array(ids, pa.string(), from_pandas=True),
            "geom": pa.array(geom_hex, pa.string(), from_pandas=True),
            "lod2": (pa.array(lod2_hex, pa.string(), from_pandas=True)
                     if lod2_hex is not None else pa.nulls(n, pa.string())),
            "attrs": pa.array(attrs.to_numpy(), pa.string(), from_pandas=True),
        }
        for c, sql_type in self.cols.items():
            arrays[c] = (_arrow(columns[c], sql_type) if c in columns
                         else pa.nulls(n, _ARROW[sql_type]))
        buf = io.BytesIO()
        pacsv.write_csv(pa.table(arrays), buf, pacsv.WriteOptions(include_header=False))
        self._stream().write(buf.getbuffer())
        self.rows += n

    def upsert(self, *, source: str, src_srid: int, dst_srid: int) -> tuple[int, int, int, int]:
        """Insert new rows, update changed ones, leave identical ones alone.

        Two fast paths keep a first import close to a plain bulk load: without duplicate ids
        the stage is read as is (no sort of whole rows), and a source with no rows yet in the
        layer is a plain INSERT (nothing can conflict, so no ON CONFLICT bookkeeping).

        :returns: (inserted, updated, unchanged, duplicates dropped)
        """
        self._end_copy()
        table = _TARGET[self.layer]
        select = _SELECT[self.layer]
        cols = ["source", "source_id", *select]
        params = {"src": src_srid, "dst": dst_srid, "source": source}
        total, distinct = self.raw.execute(
            "SELECT count(*), count(DISTINCT source_id) FROM import_stage"
        ).fetchone()
        dedup = (
            "import_stage s" if total == distinct else
            "(SELECT DISTINCT ON (source_id) * FROM import_stage ORDER BY source_id, ord) s"
        )
        if self.layer == "networks":
            frm = f"{dedup} CROSS JOIN LATERAL ST_Dump(s.geom) d"
            sid = ("CASE WHEN ST_NumGeometries(s.geom) > 1 "
                   "THEN s.source_id || '#' || d.path[1] ELSE s.source_id END")
        else:
            frm, sid = dedup, "s.source_id"
        exprs = ["%(source)s", sid, *select.values()]
        attrs_expr = "jsonb_strip_nulls(s.attrs)"
        if self.layer == "networks":
            attrs_expr += (" || CASE WHEN s.depth_m IS NULL THEN "
                           "'{\"depth_source\": \"assumed\"}'::jsonb ELSE '{}'::jsonb END")
        cols.append("attrs")
        exprs.append(attrs_expr)
        insert = (f"INSERT INTO {table} AS t ({', '.join(cols)}) "
                  f"SELECT {', '.join(exprs)} FROM {frm}")
        cur = self.raw.cursor()
        fresh = not cur.execute(
            f"SELECT EXISTS (SELECT 1 FROM {table} WHERE source = %s AND scenario_id IS NULL)",
            (source,),
        ).fetchone()[0]
        if fresh:
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
_ARROW = {"float8": pa.float64(), "int": pa.int64(), "text": pa.string()}


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
