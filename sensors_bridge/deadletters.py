"""Dead letters: what could not be ingested, kept with its raw bytes and the reason, and the
per-adapter counts ``/api/ingest/stats`` answers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, text

from sensors_bridge.model import Rejected

#: raw bytes kept per dead letter: an oversize body is kept up to this, with its full size
MAX_RAW = 64 * 1024


def add(conn: Connection, adapter: str, rejected: Sequence[Rejected]) -> None:
    """One ``dead_letters`` row per rejection, in the caller's transaction."""
    if not rejected:
        return
    conn.execute(
        text(
            "INSERT INTO dead_letters (adapter, reason, raw, detail) "
            "VALUES (:a, :r, :raw, CAST(:d AS jsonb))"
        ),
        [
            {
                "a": adapter,
                "r": r.reason,
                "raw": r.raw[:MAX_RAW],
                "d": json.dumps({"message": r.detail, "index": r.index, "bytes": len(r.raw)}),
            }
            for r in rejected
        ],
    )


def count_event(conn: Connection, adapter: str, kind: str) -> None:
    """Count one network-server event that carries no observation (a join, a status...)."""
    conn.execute(
        text(
            "INSERT INTO ingest_counts (adapter, outcome, n) VALUES (:a, :o, 1) "
            "ON CONFLICT (adapter, outcome) DO UPDATE SET n = ingest_counts.n + 1"
        ),
        {"a": adapter, "o": f"event:{kind}"},
    )


def count_rate_limited(conn: Connection, adapter: str) -> None:
    """Count one request the ingest rate limit refused (its body not kept: the sender was
    told to send it again)."""
    conn.execute(
        text(
            "INSERT INTO ingest_counts (adapter, outcome, n) VALUES (:a, 'rate_limited', 1) "
            "ON CONFLICT (adapter, outcome) DO UPDATE SET n = ingest_counts.n + 1"
        ),
        {"a": adapter},
    )


def stats(conn: Connection) -> dict[str, Any]:
    """Per adapter: observations accepted and duplicate, and rejections per reason."""
    out: dict[str, dict[str, Any]] = {}
    for adapter, outcome, n in conn.execute(text("SELECT adapter, outcome, n FROM ingest_counts")):
        counts = out.setdefault(adapter, {"accepted": 0, "duplicate": 0, "rejected": {}})
        if outcome.startswith("event:"):  # a network server's join, status...: no observation
            counts.setdefault("events", {})[outcome.removeprefix("event:")] = n
        else:
            counts[outcome] = n
    rows = conn.execute(
        text("SELECT adapter, reason, count(*) FROM dead_letters GROUP BY adapter, reason")
    )
    for adapter, reason, n in rows:
        out.setdefault(adapter, {"accepted": 0, "duplicate": 0, "rejected": {}})["rejected"][
            reason
        ] = n
    return {"adapters": out}
