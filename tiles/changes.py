"""The change log (migration 0002) as a build reads it: which rows changed since a
tileset's previous build, and pruning what every tileset has consumed.

Triggers log ``(table, id, txid)`` for every row written or deleted. A build records the
snapshot it read in (``pg_current_snapshot()``, taken by the first statement of its
REPEATABLE READ transaction); the next build reads the entries of transactions that
snapshot did not see. That is exact under concurrent writers: a transaction still running
when a build started is not in its snapshot, so the next build picks its changes up, even
if it committed with an older id than others the build saw. Re-reading an entry is
harmless (the row is read afresh), so no serial needs to be exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Engine, text


@dataclass(frozen=True)
class LogState:
    """What a build's snapshot says of the log."""

    snapshot: str  # pg_snapshot text, xmin:xmax:xip,...
    xmin: int
    log_id: str
    pruned_below: int


def read_state(cur: Any) -> LogState:
    """Must be the first query of the build's transaction: it takes the snapshot."""
    snap, xmin, log_id, pruned = cur.execute(
        "SELECT pg_current_snapshot()::text, pg_snapshot_xmin(pg_current_snapshot())::text, "
        "log_id::text, pruned_below::text FROM tile_log"
    ).fetchone()
    return LogState(snap, int(xmin), log_id, int(pruned))


def covers(state: LogState, previous: dict[str, Any]) -> bool:
    """Does the log still hold every change since the previous build's snapshot?"""
    snap = previous.get("snapshot")
    if previous.get("log_id") != state.log_id or not isinstance(snap, str):
        return False
    prev_xmin = int(snap.split(":", 1)[0])
    return state.pruned_below <= prev_xmin <= state.xmin


def changed_ids(
    cur: Any, tables: dict[int, str], since_snapshot: str
) -> dict[int, NDArray[np.int64]] | None:
    """Ids written or deleted in each of ``tables`` (by ``src``) by transactions the snapshot
    ``since_snapshot`` did not see; None when one of them was truncated or bulk-written (a
    statement of more rows than ``tile_log_bulk`` logs no ids): rebuild in full."""
    rows = cur.execute(
        "SELECT tbl, id FROM tile_changes WHERE txid >= pg_snapshot_xmin(%(s)s::pg_snapshot) "
        "AND NOT pg_visible_in_snapshot(txid, %(s)s::pg_snapshot) AND tbl = ANY(%(t)s)",
        {"s": since_snapshot, "t": list(tables.values())},
    ).fetchall()
    src_of = {t: s for s, t in tables.items()}
    found: dict[int, list[int]] = {s: [] for s in tables}
    for tbl, rid in rows:
        if rid is None:
            return None
        found[src_of[tbl]].append(rid)
    return {s: np.unique(np.asarray(v, dtype=np.int64)) for s, v in found.items()}


def record(engine: Engine, tileset: str, state: LogState) -> None:
    """Note what the tileset (its folder's path) has consumed, then prune what every
    tileset has consumed.

    Committed without waiting for the WAL flush: losing this commit in a crash loses the
    cursor and the pruning together, which only leaves more of the log to the next prune
    (what a tileset reads is its manifest's snapshot, not its cursor)."""
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL synchronous_commit = off"))
        conn.execute(
            text(
                "INSERT INTO tile_cursors (tileset, seen_xmin) VALUES (:t, CAST(:x AS xid8)) "
                "ON CONFLICT (tileset) DO UPDATE SET seen_xmin = excluded.seen_xmin, "
                "built_at = now()"
            ),
            {"t": tileset, "x": str(state.xmin)},
        )
        prune(conn)


def prune(conn: Any) -> int:
    """Drop entries older than every tileset's cursor; returns how many went."""
    horizon = conn.execute(text("SELECT min(seen_xmin)::text FROM tile_cursors")).scalar()
    if horizon is None:
        return 0
    gone = conn.execute(
        text("DELETE FROM tile_changes WHERE txid < CAST(:h AS xid8)"), {"h": horizon}
    ).rowcount
    conn.execute(
        text("UPDATE tile_log SET pruned_below = greatest(pruned_below, CAST(:h AS xid8))"),
        {"h": horizon},
    )
    return int(gone or 0)


def forget(engine: Engine, tiles_dir: str, keep: set[str]) -> None:
    """Drop the cursors of tilesets under ``tiles_dir`` that no longer exist (a deleted
    scenario's), so that they hold no entry back."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "DELETE FROM tile_cursors WHERE starts_with(tileset, :d) "
                "AND NOT (tileset = ANY(:k))"
            ),
            {"d": tiles_dir.rstrip("/") + "/", "k": sorted(keep)},
        )
