"""Monthly partitions of ``observations``, created ahead by the writer.

Rows whose month has no partition land in ``observations_default``; PostgreSQL refuses to
create a partition while the default one holds rows of its range, so :func:`ensure_month`
moves such rows out and back in around the ``CREATE TABLE ... PARTITION OF`` in one
transaction. An advisory lock keeps two writers from creating the same month at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import Connection, text

#: advisory lock key for partition creation (any constant unique to this purpose)
_LOCK = 0x74776E70  # "twnp"


def month_start(at: datetime) -> datetime:
    """The first instant (UTC) of ``at``'s month."""
    at = at.astimezone(UTC)
    return datetime(at.year, at.month, 1, tzinfo=UTC)


def next_month(start: datetime) -> datetime:
    return datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)


def partition_name(start: datetime) -> str:
    return f"observations_{start:%Y_%m}"


def existing(conn: Connection) -> set[str]:
    rows = conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'observations'::regclass"
        )
    )
    return {r[0] for r in rows}


def ensure_month(conn: Connection, start: datetime) -> bool:
    """Create ``start``'s monthly partition if missing; True when it was created."""
    name = partition_name(start)
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
    if name in existing(conn):
        return False
    bounds = {"a": start, "b": next_month(start)}
    conn.execute(
        text(
            "CREATE TEMP TABLE observations_moving ON COMMIT DROP AS "
            "WITH moved AS (DELETE FROM observations_default WHERE at >= :a AND at < :b "
            "RETURNING *) SELECT * FROM moved"
        ),
        bounds,
    )
    lo, hi = (f"{d:%Y-%m-%d} 00:00:00+00" for d in (start, next_month(start)))
    conn.execute(
        text(
            f"CREATE TABLE {name} PARTITION OF observations "  # name built from a date only
            f"FOR VALUES FROM ('{lo}') TO ('{hi}')"
        )
    )
    conn.execute(text("INSERT INTO observations SELECT * FROM observations_moving"))
    conn.execute(text("DROP TABLE observations_moving"))
    return True


def ensure_months(conn: Connection, times: Iterable[datetime], known: set[str]) -> None:
    """Make sure every month of ``times`` has its partition; ``known`` caches names seen."""
    for start in sorted({month_start(t) for t in times}):
        if partition_name(start) not in known:
            ensure_month(conn, start)
            known.add(partition_name(start))
