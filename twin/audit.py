"""The audit log: who signed in or was refused, account changes, imports, exports and reads
of non-public data. Never a secret: tokens appear by their id, never their secret part.

Two ways in. Rare events that already write (account changes, imports) call :func:`record`
inside their own transaction, so the log and the change commit together. Events met on the
request path (sign-ins, refusals, exports, reads) go to an :class:`AuditWriter`, which
coalesces identical events (same kind, actor, target, client and detail) into one row with
a count and writes them in one statement every few seconds from its own thread: a request
never waits for the log, never fails because of it, and costs no database round trip.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from geodata.errors import InputError
from geodata.vocab import AUDIT_KINDS

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

    from geodata.pg import AnyConnection

__all__ = ["AUDIT_KINDS", "AuditEntry", "AuditWriter", "parse_since", "query", "record"]

LOGGER = logging.getLogger(__name__)

#: written through psycopg (:mod:`geodata.pg`), so that a command recording its event (an
#: import) needs no SQLAlchemy
_INSERT = (
    "INSERT INTO audit_log (at, kind, actor, target, client, count, detail) "
    "VALUES (%(at)s, %(kind)s, %(actor)s, %(target)s, %(client)s, %(count)s, %(detail)s)"
)
#: at most this many distinct events wait for a flush; past it new ones are counted as dropped
MAX_PENDING = 10_000


def _check_kind(kind: str) -> str:
    if kind not in AUDIT_KINDS:
        raise InputError(f"unknown audit kind {kind!r}: choose one of {', '.join(AUDIT_KINDS)}")
    return kind


def record(
    conn: AnyConnection,
    kind: str,
    actor: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
    client: str | None = None,
) -> None:
    """Write one event now, in the caller's transaction (it commits or rolls back with it)."""
    from psycopg.types.json import Jsonb

    from geodata.pg import raw_connection

    raw_connection(conn).execute(
        _INSERT,
        {
            "at": datetime.now(UTC),
            "kind": _check_kind(kind),
            "actor": actor,
            "target": target,
            "client": client,
            "count": 1,
            "detail": Jsonb(detail or {}),
        },
    )


@dataclass
class _Pending:
    at: datetime
    count: int
    detail: dict[str, Any]


class AuditWriter:
    """Batches request-path events; :meth:`add` never raises and never touches the database.

    ``start`` runs a daemon thread that flushes every ``flush_seconds``; ``stop`` flushes what
    is left. A failed write is logged and its events dropped (the request they describe has
    long been answered); so are events past :data:`MAX_PENDING` between two flushes.
    """

    def __init__(self, engine: Engine, flush_seconds: float = 2.0) -> None:
        self.engine = engine
        self.flush_seconds = flush_seconds
        self.dropped = 0
        self._pending: dict[tuple[str, str, str | None, str | None, str], _Pending] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def add(
        self,
        kind: str,
        actor: str,
        target: str | None = None,
        detail: dict[str, Any] | None = None,
        client: str | None = None,
    ) -> None:
        try:
            detail = detail or {}
            key = (_check_kind(kind), actor, target, client, json.dumps(detail, sort_keys=True))
            with self._lock:
                pending = self._pending.get(key)
                if pending is not None:
                    pending.count += 1
                elif len(self._pending) < MAX_PENDING:
                    self._pending[key] = _Pending(datetime.now(UTC), 1, detail)
                else:
                    self.dropped += 1
        except Exception:  # the log must never make a request fail
            LOGGER.exception("audit event %s by %s not recorded", kind, actor)

    def flush(self) -> int:
        """Write what is pending in one statement; return the number of rows written."""
        with self._lock:
            batch, self._pending = self._pending, {}
        if not batch:
            return 0
        from psycopg.types.json import Jsonb  # here: serving a tile loads no database driver

        rows = [
            {
                "at": p.at,
                "kind": kind,
                "actor": actor,
                "target": target,
                "client": client,
                "count": p.count,
                "detail": Jsonb(p.detail),
            }
            for (kind, actor, target, client, _), p in batch.items()
        ]
        try:
            with self.engine.begin() as conn:  # one executemany, pipelined by psycopg
                conn.exec_driver_sql(_INSERT, rows)
        except Exception:
            LOGGER.exception("%d audit events could not be written and are lost", len(rows))
            return 0
        return len(rows)

    def start(self) -> None:
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stopping.wait(self.flush_seconds):
            self.flush()


# -- reading the log ----------------------------------------------------------------------------
_RELATIVE = re.compile(r"^(\d+)\s*([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """``30m``, ``12h``, ``7d`` (ago) or an ISO 8601 date or time (UTC unless it says)."""
    now = now or datetime.now(UTC)
    value = value.strip()
    if m := _RELATIVE.match(value):
        try:
            return now - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
        except OverflowError:
            raise InputError(
                f"since={value!r} reaches before year 1: give a shorter span"
            ) from None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            f"since={value!r} is neither a duration (30m, 12h, 7d) nor an ISO date or time "
            "(2026-12-01, 2026-12-01T13:00:00Z)"
        ) from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    kind: str
    actor: str
    target: str | None
    client: str | None
    count: int
    detail: dict[str, Any]

    def public_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "at": self.at.isoformat()}


def query(
    conn: Connection,
    *,
    kind: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AuditEntry]:
    """The newest entries first, filtered; ``limit`` 1 to 1,000."""
    from sqlalchemy import text

    if not 1 <= limit <= 1000:
        raise InputError(f"limit={limit} is out of range: ask for 1 to 1000 entries a page")
    if offset < 0:
        raise InputError(f"offset={offset} is negative: pages start at offset 0")
    where: list[str] = []
    params: dict[str, object] = {"limit": limit, "offset": offset}
    if kind is not None:
        where.append("kind = :kind")
        params["kind"] = _check_kind(kind)
    if actor is not None:
        where.append("actor = :actor")
        params["actor"] = actor
    if since is not None:
        where.append("at >= :since")
        params["since"] = since
    sql = (
        "SELECT id, at, kind, actor, target, client, count, detail FROM audit_log"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY at DESC, id DESC LIMIT :limit OFFSET :offset"
    )
    return [AuditEntry(**r) for r in conn.execute(text(sql), params).mappings()]
