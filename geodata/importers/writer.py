"""Bulk writing of an import: one binary COPY, then (on re-import) one upsert.

Everything runs in the caller's transaction, so an import is all-or-nothing. Rows arrive in
their stored form (each layer's ``to_stored``, :mod:`geodata.importers.layers`: reprojected,
shaped, defaults applied), so the database only stores them: the first import of a source into
a layer, where nothing can conflict, is one COPY straight into the table (``direct`` mode, the
same single write as ``ogr2ogr``); a re-import COPYs into a temporary stage and one upsert
inserts new rows, updates changed ones and counts the unchanged.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
import psycopg
import pyarrow as pa
from numpy.typing import NDArray
from psycopg import Copy
from psycopg.copy import QueuedLibpqWriter

from geodata.importers.bulk_load import BulkLoad
from geodata.importers.pgcopy import (
    COPY_HEADER,
    COPY_TRAILER,
    binary_rows,
    column,
    field,
    fixed_field,
    null_field,
    var_field,
)
from geodata.pg import raw_connection

if TYPE_CHECKING:
    from geodata.importers.import_layer import ImportLayer, Stored
    from geodata.pg import AnyConnection

_STAGE_TYPES = {"text": "text", "int": "int", "int8": "bigint", "float8": "float8", "bool": "bool"}


#: a first import of at least this many rows into an empty table builds its indexes once at
#: the end instead of growing them row by row (also the import's batch: see
#: :data:`geodata.importers.pipeline.BATCH`)
BULK_REINDEX = 2_500


class _BoundedWriter(QueuedLibpqWriter):
    """psycopg's queued COPY writer with a short queue.

    Its queue holds up to 1024 slices of 128 kB: when the server takes rows in more slowly
    than Python prepares them (building indexes, parsing WKB) a large import would buffer
    up to 128 MB; 16 MB (a few batches) keep the worker and the server busy.
    """

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        super().__init__(cursor)
        self._queue = type(self._queue)(maxsize=_QUEUED_SLICES)


#: slices (at most 128 kB each) the COPY worker may have waiting
_QUEUED_SLICES = 128


class StageWriter(AbstractContextManager["StageWriter"]):
    """Streams stored rows into the layer's table (direct mode, see :meth:`begin`) or into a
    temporary stage that :meth:`upsert` moves into the table.

    All batches go through one COPY that stays open until :meth:`upsert`, fed by a worker
    thread: the server stores a batch while Python prepares the next one. Use it as a context
    manager, so an error in the middle ends that COPY cleanly and the transaction can roll back.

    :param scenario_id: write into this scenario instead of the baseline (never direct: the
        scenario's rows are matched on (scenario, source, source_id), with no unique index)
    """

    def __init__(
        self, conn: AnyConnection, layer: ImportLayer, file: str, *, scenario_id: int | None = None
    ) -> None:
        self.layer = layer
        self.table = layer.table
        self.file = file  # named in errors about a value
        self.cols = layer.columns
        self.scenario_id = scenario_id
        self.raw = raw_connection(conn)
        # PostGIS functions look costly to the planner, which then JIT-compiles the final
        # INSERT ... SELECT: about half a second per import spent compiling, never repaid
        self.raw.execute("SET LOCAL jit = off")
        col_defs = ", ".join(f"{c} {_STAGE_TYPES[t]}" for c, t in self.cols.items())
        # several imports can share the caller's transaction: each has a stage of its own
        self.raw.execute("DROP TABLE IF EXISTS pg_temp.import_stage")
        self.raw.execute(
            "CREATE TEMP TABLE import_stage (ord bigint, source_id text, geom geometry, "
            f"lod2 geometry, attrs jsonb, {col_defs}) ON COMMIT DROP"
        )
        self.rows = 0
        self._copy_cm: AbstractContextManager[Copy] | None = None
        self._copy: Copy | None = None
        #: direct mode (see :meth:`begin`): the source written to, ids seen (not while the
        #: unique index is dropped: repeats are then found when it is rebuilt), rows dropped
        #: as duplicates, what a bulk load into an empty table set aside until the end
        self.direct: str | None = None
        self._seen: set[str] = set()
        self._defer_repeats = False
        self._dups = 0
        self._bulk: BulkLoad | None = None
        #: the reader did not say how many rows come: decide on bulk mode at the first batch
        self._size_unknown = False
        self._header_sent = False

    def begin(self, *, source: str, expected: int | None) -> None:
        """Choose direct mode when ``source`` has no baseline rows in the layer yet (nothing
        can conflict); with ``expected`` >= BULK_REINDEX rows into an empty table, the table is
        loaded in bulk (:class:`~geodata.importers.bulk_load.BulkLoad`: indexes, validity
        check and tile log trigger set aside now, put back once at the end). With ``expected``
        unknown (an OSM PBF does not say), a first batch of BULK_REINDEX rows decides the
        same."""
        if self.scenario_id is not None or self._copy is not None:
            return
        if not self._fresh(source):
            return
        self.direct = source
        if expected is None:
            self._size_unknown = True
        elif expected >= BULK_REINDEX:
            self._go_bulk()

    def _go_bulk(self) -> None:
        """Load an empty table in bulk until :meth:`upsert` (before the COPY starts)."""
        self._bulk = BulkLoad.prepare(self.raw, self.table)
        # the unique index is gone until the end: its rebuild finds any repeats, so nothing
        # per row is kept meanwhile and memory stays flat in the file size
        self._defer_repeats = self._bulk is not None and bool(self._bulk.indexes)

    def _fresh(self, source: str) -> bool:
        row = self.raw.execute(
            f"SELECT EXISTS (SELECT 1 FROM {self.table} WHERE source = %s AND scenario_id IS NULL)",
            (source,),
        ).fetchone()
        return not (row and row[0])

    def _geometry_columns(self) -> list[str]:
        """Stored geometry columns in COPY order (the table's names)."""
        lod2 = self.layer.lod2_column
        return [self.layer.geom_column, *([lod2] if lod2 else [])]

    def _names(self) -> list[str]:
        if self.direct is not None:
            return ["source", "source_id", *self._geometry_columns(), "attrs", *self.cols]
        lod2 = ["lod2"] if self.layer.lod2_column else []
        return ["ord", "source_id", "geom", *lod2, "attrs", *self.cols]

    def _stream(self) -> Copy:
        if self._copy is None:
            table = self.table if self.direct is not None else "import_stage"
            cur = self.raw.cursor()
            # a worker thread sends the data: Python prepares the next batch meanwhile instead
            # of waiting for the server to take in this one (the queue is bounded)
            self._copy_cm = cur.copy(
                f"COPY {table} ({', '.join(self._names())}) FROM STDIN (FORMAT binary)",
                writer=_BoundedWriter(cur),
            )
            self._copy = self._copy_cm.__enter__()
        return self._copy

    def _end_copy(self, exc: BaseException | None = None) -> None:
        cm, copy = self._copy_cm, self._copy
        self._copy_cm = self._copy = None
        if cm is not None and copy is not None and exc is None:
            copy.write(COPY_TRAILER)
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

    def write(self, rows: Stored, *, unique: bool = False) -> None:
        """COPY one batch of stored rows; ``unique``: their ids repeat no earlier ones (the
        reader says so), so direct mode need not check."""
        ids, geom, lod2, columns, attrs = rows.ids, rows.geom, rows.lod2, rows.columns, rows.attrs
        n = len(ids)
        if self.direct is not None:
            if self._size_unknown:
                self._size_unknown = False
                if n >= BULK_REINDEX:
                    self._go_bulk()
            keep = None
            if not (unique or self._defer_repeats):
                keep = self._first_seen(ids)
            if keep is not None:
                ids, geom, attrs = ids[keep], geom[keep], attrs.filter(pa.array(keep))
                columns = {c: _keep(v, keep) for c, v in columns.items()}
                lod2 = lod2[keep] if lod2 is not None else None
                n = len(ids)
            lead = var_field(pa.array([self.direct] * n, pa.string()))
        else:
            lead = fixed_field(np.arange(self.rows, self.rows + n), None, ">i8")
        # Arrow converts lists much faster than object arrays
        fields = [
            lead,
            var_field(pa.array(ids.tolist(), pa.string())),
            var_field(pa.array(geom.tolist(), pa.binary())),
        ]
        if self.layer.lod2_column:
            fields.append(
                var_field(pa.array(lod2.tolist(), pa.binary()))
                if lod2 is not None
                else null_field()
            )
        fields.append(var_field(attrs, b"\x01"))
        for c, sql_type in self.cols.items():
            fields.append(
                field(column(columns[c], sql_type), sql_type, c, self.file)
                if c in columns
                else null_field()
            )
        data = binary_rows(fields, n)
        stream = self._stream()
        if not self._header_sent:
            stream.write(COPY_HEADER)
            self._header_sent = True
        stream.write(data)
        self.rows += n

    def _first_seen(self, ids: NDArray[Any]) -> NDArray[Any] | None:
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

    def upsert(self, *, source: str, prune: bool = False) -> Written:
        """Insert new rows, update changed ones, leave identical ones alone; with ``prune``,
        delete the source's rows this import does not have.

        A source with no rows yet in the layer is a plain INSERT (nothing can conflict, so no
        ON CONFLICT bookkeeping); without duplicate ids the stage is read as is.
        """
        self._end_copy()
        if self.direct is not None:
            repeats = self._bulk.finish(self.direct) if self._bulk is not None else 0
            return Written(self.rows - repeats, 0, 0, self._dups + repeats, 0)
        counts = self.raw.execute(
            "SELECT count(*), count(DISTINCT source_id) FROM import_stage"
        ).fetchone()
        total, distinct = (int(counts[0]), int(counts[1])) if counts else (0, 0)
        stage = (
            "import_stage s"
            if total == distinct
            else "(SELECT DISTINCT ON (source_id) * FROM import_stage ORDER BY source_id, ord) s"
        )
        data = [*self._geometry_columns(), "attrs", *self.cols]
        values = ["s.geom", *(["s.lod2"] if self.layer.lod2_column else []), "s.attrs"]
        values += [f"s.{c}" for c in self.cols]
        params = {"source": source, "scenario": self.scenario_id}
        if self.scenario_id is not None:
            inserted, updated = self._scenario_upsert(stage, data, values, params)
        elif self._fresh(source):
            bulk = BulkLoad.prepare(self.raw, self.table) if total >= BULK_REINDEX else None
            cur = self.raw.execute(
                f"INSERT INTO {self.table} (source, source_id, {', '.join(data)}) "
                f"SELECT %(source)s, s.source_id, {', '.join(values)} FROM {stage}",
                params,
            )
            inserted, updated = cur.rowcount, 0
            if bulk is not None:
                bulk.finish(source)
        else:
            sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in data)
            changed = " OR ".join(f"t.{c} IS DISTINCT FROM EXCLUDED.{c}" for c in data)
            # counted in SQL: fetching one flag per row would grow with the file
            row = self.raw.execute(
                f"WITH w AS (INSERT INTO {self.table} AS t (source, source_id, {', '.join(data)}) "
                f"SELECT %(source)s, s.source_id, {', '.join(values)} FROM {stage} "
                "ON CONFLICT (source, source_id) WHERE scenario_id IS NULL "
                f"DO UPDATE SET {sets}, updated_at = now() WHERE {changed} "
                "RETURNING (xmax = 0) AS inserted) "
                "SELECT count(*) FILTER (WHERE inserted), count(*) FROM w",
                params,
            ).fetchone()
            inserted, updated = (int(row[0]), int(row[1]) - int(row[0])) if row else (0, 0)
        deleted = self._prune(params) if prune else 0
        return Written(inserted, updated, distinct - inserted - updated, total - distinct, deleted)

    def _scenario_upsert(
        self, stage: str, data: list[str], values: list[str], params: dict[str, Any]
    ) -> tuple[int, int]:
        """A scenario's rows have no unique index: update the matching ones, insert the rest."""
        mine = "t.scenario_id = %(scenario)s::int AND t.source = %(source)s::text"
        sets = ", ".join(f"{c} = {v}" for c, v in zip(data, values, strict=True))
        changed = " OR ".join(
            f"t.{c} IS DISTINCT FROM {v}" for c, v in zip(data, values, strict=True)
        )
        updated = self.raw.execute(
            f"UPDATE {self.table} t SET {sets}, updated_at = now() FROM {stage} "
            f"WHERE {mine} AND t.source_id = s.source_id AND ({changed})",
            params,
        ).rowcount
        inserted = self.raw.execute(
            f"INSERT INTO {self.table} (source, source_id, scenario_id, {', '.join(data)}) "
            f"SELECT %(source)s::text, s.source_id, %(scenario)s::int, {', '.join(values)} "
            f"FROM {stage} "
            f"WHERE NOT EXISTS (SELECT 1 FROM {self.table} t WHERE {mine} "
            "AND t.source_id = s.source_id)",
            params,
        ).rowcount
        return inserted, updated

    def _prune(self, params: dict[str, Any]) -> int:
        """Delete the source's rows the file no longer has.

        The stage is a temporary table, which autovacuum never analyses: without ANALYZE the
        planner takes it for a few rows and runs the anti-join as a nested loop (minutes at
        100k rows); with it, a hash anti-join.
        """
        scenario = "IS NULL" if self.scenario_id is None else "= %(scenario)s"
        self.raw.execute("ANALYZE import_stage")
        return self.raw.execute(
            f"DELETE FROM {self.table} t WHERE t.source = %(source)s AND t.scenario_id "
            f"{scenario} AND NOT EXISTS (SELECT 1 FROM import_stage s "
            "WHERE s.source_id = t.source_id)",
            params,
        ).rowcount


@dataclass(frozen=True)
class Written:
    """What :meth:`StageWriter.upsert` did, in rows."""

    inserted: int
    updated: int
    unchanged: int
    duplicates: int
    deleted: int


def _keep(values: Any, keep: NDArray[Any]) -> Any:
    """The kept rows of a column (Arrow or numpy)."""
    if isinstance(values, np.ndarray):
        return values[keep]
    return values.filter(pa.array(keep))
