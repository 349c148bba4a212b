"""A first bulk import into an empty table, loaded the way pg_restore loads one.

Per row, the server would otherwise grow three indexes, run ``ST_IsValid`` for the geometry's
CHECK and copy every row into the tile log trigger's transition table, only for the trigger to
log "everything changed" (one NULL id) because the statement is large. For an *empty* table,
locked for the whole transaction, :class:`BulkLoad` sets these aside before the COPY and puts
them back once at the end:

- the indexes (not those behind constraints, nor those only scenario rows enter) are dropped
  and built again over the loaded rows, several times faster than row by row (GiST most of
  all); a source id the file repeats shows when the unique index is rebuilt, and the later
  repeats are deleted then;
- the tile log's insert trigger is dropped and made again, and the import logs the one entry
  the trigger would have written for so large a statement (NULL: the next tile build of the
  table is a full one, which a table that was empty needs anyway);
- the geometry validity CHECK is dropped and added again ``NOT VALID``: the server goes on
  checking every later write, from every writer, while the loaded rows were checked by the
  importer in their stored form (GEOS's ``is_valid``, the library behind ``ST_IsValid``:
  :func:`geodata.importers.geometry.check_batch` before reprojection and
  :func:`geodata.importers.geometry.check_stored` after it), so the server does not test each
  of them a second time.

Everything is DDL in the caller's transaction: a rollback restores it all, and the lock keeps
every other session from writing, or seeing the table without its trigger or check, meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg

#: the tile change log's statement trigger on inserts (migration 0002)
LOG_TRIGGER = "tile_log_ins"


@dataclass
class BulkLoad:
    """What :meth:`prepare` set aside from an empty table, for :meth:`finish` to put back."""

    raw: psycopg.Connection[Any]
    table: str
    indexes: list[str] = field(default_factory=list)
    checks: list[tuple[str, str]] = field(default_factory=list)
    trigger: str | None = None

    @classmethod
    def prepare(cls, raw: psycopg.Connection[Any], table: str) -> BulkLoad | None:
        """Lock ``table`` and, when it is empty, set aside its indexes, its geometry CHECK and
        its tile log trigger; None (nothing changed) when it holds rows, since a
        rebuild would then cost in proportion to rows loaded earlier."""
        if not _empty(raw, table):
            return None  # and readers of the table are not held up while it loads
        # ACCESS EXCLUSIVE, as DROP INDEX takes anyway; then look again, since another
        # session may have added rows before the lock was granted
        raw.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        if not _empty(raw, table):
            return None
        load = cls(raw, table)
        load.indexes = load._drop_indexes()
        load.checks = load._drop_validity_checks()
        load.trigger = load._drop_log_trigger()
        return load

    def _drop_indexes(self) -> list[str]:
        """Drop the indexes a bulk load would grow row by row: not those behind constraints,
        nor those partial on ``scenario_id IS NOT NULL``, which the baseline rows of a bulk
        load never enter (keeping one live costs nothing; rebuilding it cost ~15 ms at
        100k rows)."""
        rows = self.raw.execute(
            "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = %s::regclass "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) "
            "AND coalesce(pg_get_expr(x.indpred, x.indrelid), '') <> '(scenario_id IS NOT NULL)'",
            (self.table,),
        ).fetchall()
        for name, _ in rows:
            self.raw.execute(f'DROP INDEX "{name}"')
        return [ddl for _, ddl in rows]

    def _drop_validity_checks(self) -> list[tuple[str, str]]:
        """The CHECKs calling ``ST_IsValid`` (``footprint_valid``, ``geom_valid``)."""
        rows = self.raw.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'c' "
            "AND pg_get_constraintdef(oid) ILIKE '%%st_isvalid(%%'",
            (self.table,),
        ).fetchall()
        for name, _ in rows:
            self.raw.execute(f'ALTER TABLE {self.table} DROP CONSTRAINT "{name}"')
        return [(str(name), str(ddl)) for name, ddl in rows]

    def _drop_log_trigger(self) -> str | None:
        row = self.raw.execute(
            "SELECT pg_get_triggerdef(oid) FROM pg_trigger "
            "WHERE tgrelid = %s::regclass AND tgname = %s AND NOT tgisinternal",
            (self.table, LOG_TRIGGER),
        ).fetchone()
        if row is None:
            return None
        self.raw.execute(f"DROP TRIGGER {LOG_TRIGGER} ON {self.table}")
        return str(row[0])

    def finish(self, source: str) -> int:
        """Put everything back over the loaded rows of ``source``; returns how many rows were
        deleted as later repeats of a source id."""
        repeats = sum(self._rebuild_index(ddl, source) for ddl in self.indexes)
        for name, ddl in self.checks:
            self.raw.execute(f'ALTER TABLE {self.table} ADD CONSTRAINT "{name}" {ddl} NOT VALID')
        if self.trigger is not None:
            self.raw.execute(self.trigger)
            # what the trigger logs for a statement of more rows than tile_log_bulk
            self.raw.execute("INSERT INTO tile_changes (tbl, id) VALUES (%s, NULL)", (self.table,))
        return repeats

    def _rebuild_index(self, ddl: str, source: str) -> int:
        """Build a dropped index again; a unique one that the loaded rows violate (a source
        id repeated in the file) is built after deleting the later repeats, whose number is
        returned. Repeats are rare: the savepoint costs nothing when there are none."""
        if not ddl.startswith("CREATE UNIQUE INDEX"):
            self.raw.execute(ddl)
            return 0
        self.raw.execute("SAVEPOINT twin_unique_index")
        try:
            self.raw.execute(ddl)
            repeats = 0
        except psycopg.errors.UniqueViolation:
            self.raw.execute("ROLLBACK TO SAVEPOINT twin_unique_index")
            repeats = self._drop_repeats(source)
            self.raw.execute(ddl)
        self.raw.execute("RELEASE SAVEPOINT twin_unique_index")
        return repeats

    def _drop_repeats(self, source: str) -> int:
        """Delete the later rows of each repeated source id (ids follow the file's order)."""
        return self.raw.execute(
            f"DELETE FROM {self.table} t USING (SELECT id, row_number() OVER "
            "(PARTITION BY source_id ORDER BY id) AS k FROM "
            f"{self.table} WHERE source = %s AND scenario_id IS NULL) d "
            "WHERE t.id = d.id AND d.k > 1",
            (source,),
        ).rowcount


def _empty(raw: psycopg.Connection[Any], table: str) -> bool:
    row = raw.execute(f"SELECT EXISTS (SELECT 1 FROM {table})").fetchone()
    return not (row and row[0])
