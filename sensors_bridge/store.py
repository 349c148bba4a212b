"""The batch writer: validated observations into PostgreSQL, each stored exactly once.

One batch is one transaction: the valid observations are COPYed into a temporary stage,
merged into ``observations`` with ``INSERT ... ON CONFLICT DO NOTHING`` on the idempotency key
(a redelivered message counts as a duplicate, not an error), ``latest_state`` is upserted
only where the new observation is newer, and ``devices.last_seen`` moves forward. A device the
registry does not know (by id, or by external id for its protocol) is created ``quarantined``
and its data kept: nothing heard is dropped. What fails validation becomes a dead letter in
the same transaction.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine, text

from sensors_bridge import deadletters
from sensors_bridge.listeners import BatchListener, Stored
from sensors_bridge.model import Observation, Rejected
from sensors_bridge.partitions import (
    ensure_months,
    existing,
    month_start,
    next_month,
    partition_name,
)
from sensors_bridge.validate import Range, problem

_STAGE_COLUMNS = ("device_id", "metric", "at", "message_id", "value", "unit", "quality")
#: ``Connection.info`` key: this pooled connection has its session's stage table
_STAGED = "sensors_bridge.ingest_stage"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]+")
log = logging.getLogger(__name__)


@dataclass
class BatchResult:
    """What one batch did: counts, and each rejection with its reason."""

    accepted: int = 0
    duplicate: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    #: device ids created as quarantined by this batch
    quarantined: list[str] = field(default_factory=list)
    #: the observations newly stored, kept only when the writer has listeners
    stored: list[Stored] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicate": self.duplicate,
            "rejected": [
                {"index": r.index, "reason": r.reason, "detail": r.detail} for r in self.rejected
            ],
            "quarantined": self.quarantined,
        }


def quarantine_id(protocol: str, external_id: str) -> str:
    """The id a quarantined device heard by its external id gets: ``protocol-external``."""
    return f"{protocol}-{_UNSAFE.sub('_', external_id)}"


class BatchWriter:
    """Writes batches for one adapter; keeps the partitions it knows exist and the ranges.

    ``listeners`` hear of what each batch newly stored (:mod:`sensors_bridge.listeners`).
    """

    def __init__(
        self, engine: Engine, adapter: str, listeners: Sequence[BatchListener] = ()
    ) -> None:
        self.engine = engine
        self.adapter = adapter
        self.listeners = tuple(listeners)
        self._partitions: set[str] | None = None

    def write(
        self,
        items: Iterable[Observation | Rejected],
        *,
        now: datetime | None = None,
    ) -> BatchResult:
        """Store one batch (observations and already-rejected messages) in one transaction.

        One pooled connection per batch, and as few round trips as the guarantees allow
        (profiled: checkouts with their pings, and statements each waiting for the server,
        cost a batch of 1,000 about as much as its merge on a loaded machine)."""
        now = now or datetime.now(UTC)
        result = BatchResult()
        # one transaction for all the batch keeps (a retry after a lost connection meets
        # only duplicates, never a second copy of the dead letters), durable before the
        # caller acknowledges anything: the embedded cluster commits asynchronously by
        # default, which a crash would turn into acknowledged but lost observations
        info: dict[Any, Any] = {}
        try:
            with self.engine.begin() as conn:
                info = conn.info
                self._write(conn, items, now, result)
        except BaseException:
            info.pop(_STAGED, None)  # a rolled-back transaction may have taken the stage along
            raise
        if result.stored:
            self._after_commit(result.stored)
        return result

    def _write(
        self,
        conn: Connection,
        items: Iterable[Observation | Rejected],
        now: datetime,
        result: BatchResult,
    ) -> None:
        valid = _validate(items, now, _durable_ranges(conn), result)
        if valid and self._months_missing(valid, now):
            self._ensure_partitions(valid, now)
        deadletters.add(conn, self.adapter, result.rejected)
        if valid:
            ids, result.quarantined = _resolve_devices(conn, valid)
            staged = _stage(conn, valid, ids)
            if self.listeners:
                result.stored = _merge_returning(conn, now, self.adapter, staged)
                result.accepted = len(result.stored)
                if result.stored:
                    self._in_transaction(conn, result.stored, now)
            else:
                result.accepted = _merge(conn, now, self.adapter, staged)
            result.duplicate = staged - result.accepted

    def _in_transaction(self, conn: Connection, stored: list[Stored], now: datetime) -> None:
        for listener in self.listeners:
            try:
                with conn.begin_nested():
                    listener.in_transaction(conn, stored, now)
            except Exception:  # a listener's bug costs its own work, never the batch
                log.exception(
                    "listener %s failed inside the batch; the batch goes on", listener.name
                )

    def _after_commit(self, stored: list[Stored]) -> None:
        for listener in self.listeners:
            try:
                listener.after_commit(stored)
            except Exception:  # the batch is committed: nothing to undo, say so and go on
                log.exception("listener %s failed after the commit", listener.name)

    def _months_missing(self, valid: Sequence[Observation], now: datetime) -> bool:
        """Whether a month of the batch (or this month or the next) may lack its partition:
        the cache answers without the database once the first batch has read it."""
        if self._partitions is None:
            return True
        this = month_start(now)
        months = {this, next_month(this), *_months(valid)}
        return any(partition_name(m) not in self._partitions for m in months)

    def _ensure_partitions(self, valid: Sequence[Observation], now: datetime) -> None:
        """Partitions for every month of the batch, and this month and the next ahead, in a
        transaction of their own (committed before the batch routes rows into them; the
        batch's transaction holds no lock on ``observations`` yet)."""
        with self.engine.begin() as conn:
            known = set(self._partitions) if self._partitions is not None else existing(conn)
            this = month_start(now)
            ensure_months(conn, [this, next_month(this), *(o.time for o in valid)], known)
        self._partitions = known  # once committed: a rolled-back month is not remembered


def _months(valid: Sequence[Observation]) -> set[datetime]:
    """The months of the batch's times: two when its earliest and latest share a month (a
    batch of live data almost always), else one per observation."""
    first, last = month_start(min(o.time for o in valid)), month_start(max(o.time for o in valid))
    return {first} if first == last else {month_start(o.time) for o in valid}


def _durable_ranges(conn: Connection) -> dict[str, Range]:
    """Make the transaction commit synchronously, and read the metrics' ranges: one round
    trip for both (``set_config(..., true)`` is ``SET LOCAL``)."""
    row = conn.execute(
        text(
            "SELECT set_config('synchronous_commit', 'on', true), "
            "(SELECT coalesce(jsonb_agg(jsonb_build_array(name, min_value, max_value)), "
            "'[]') FROM metrics WHERE min_value IS NOT NULL OR max_value IS NOT NULL)"
        )
    ).one()
    return {name: Range(low, high) for name, low, high in row[1]}


def _validate(
    items: Iterable[Observation | Rejected],
    now: datetime,
    ranges: dict[str, Range],
    result: BatchResult,
) -> list[Observation]:
    """The observations that may be stored; the others join ``result.rejected``."""
    valid: list[Observation] = []
    for index, item in enumerate(items):
        if isinstance(item, Rejected):
            result.rejected.append(item)
            continue
        why = problem(item, now=now, ranges=ranges)
        if why is None:
            valid.append(item)
        else:
            raw = item.raw if item.raw is not None else _describe(item)
            result.rejected.append(Rejected(why[0], why[1], raw, index))
    return valid


def _describe(obs: Observation) -> bytes:
    """The bytes kept in a dead letter when the adapter gave none: the observation as JSON."""
    doc = {"device": obs.device, "metric": obs.metric, "value": repr(obs.value)}
    return json.dumps({**doc, "at": obs.time.isoformat(), "protocol": obs.protocol}).encode()


def _resolve_devices(
    conn: Connection, valid: Sequence[Observation]
) -> tuple[dict[tuple[str, str, bool], str], list[str]]:
    """The twin id of every (protocol, device, external) of the batch; unknown ones are
    created quarantined (their ids returned second)."""
    keys = {(o.protocol, o.device, o.external) for o in valid}
    plain = sorted(d for _, d, ext in keys if not ext)
    ext = sorted({(p, d) for p, d, e in keys if e})
    ids: dict[tuple[str, str, bool], str] = {}
    if plain:
        found = conn.execute(text("SELECT id FROM devices WHERE id = ANY(:i)"), {"i": plain})
        known = {r[0] for r in found}
        for p, d, e in keys:
            if not e and d in known:
                ids[p, d, e] = d
    if ext:
        found = conn.execute(
            text(
                "SELECT protocol, external_id, id FROM devices "
                "WHERE (protocol, external_id) IN "
                "(SELECT * FROM unnest(CAST(:p AS text[]), CAST(:x AS text[])))"
            ),
            {"p": [p for p, _ in ext], "x": [x for _, x in ext]},
        )
        for p, x, i in found:
            ids[p, x, True] = i
    created: list[str] = []
    for p, d, e in sorted(keys - set(ids)):
        new_id = quarantine_id(p, d) if e else d
        row = conn.execute(
            text(
                "INSERT INTO devices (id, protocol, type, external_id, status, visibility) "
                "VALUES (:i, :p, 'unknown', :x, 'quarantined', 'confidential') "
                "ON CONFLICT DO NOTHING RETURNING id"
            ),
            {"i": new_id, "p": p, "x": d if e else None},
        ).first()
        if row is not None:
            created.append(new_id)
        ids[p, d, e] = new_id
    return ids, created


def _stage(
    conn: Connection, valid: Sequence[Observation], ids: dict[tuple[str, str, bool], str]
) -> int:
    """COPY the batch into a temporary stage table; the number of rows staged. The table is
    made once per pooled connection (it lives as long as the session, emptied at each
    commit), which saves a statement per batch."""
    dbapi: psycopg.Connection[Any] = conn.connection.driver_connection  # type: ignore[assignment]
    if _STAGED not in conn.info:
        conn.execute(
            text(
                "CREATE TEMP TABLE IF NOT EXISTS ingest_stage (device_id text, metric text, "
                "at timestamptz, message_id text, value double precision, unit text, "
                "quality text) ON COMMIT DELETE ROWS"
            )
        )
        conn.info[_STAGED] = True  # forgotten by write() if the transaction fails
    copy_sql = f"COPY ingest_stage ({', '.join(_STAGE_COLUMNS)}) FROM STDIN"
    with dbapi.cursor() as cur, cur.copy(copy_sql) as copy:
        for o in valid:
            copy.write_row(
                (
                    ids[o.protocol, o.device, o.external],
                    o.metric,
                    o.time,
                    o.message_id or "",
                    float(o.value),  # type: ignore[arg-type]  # validated numeric
                    o.unit,
                    o.quality,
                )
            )
    return len(valid)


_MERGE = """
WITH ins AS (
    INSERT INTO observations (device_id, metric, at, message_id, value, unit, quality,
                              received_at)
    SELECT device_id, metric, at, message_id, value, unit, quality, :now FROM ingest_stage
    ON CONFLICT DO NOTHING
    RETURNING device_id, metric, at, value, unit, quality
), newest AS (
    SELECT DISTINCT ON (device_id, metric) * FROM ins ORDER BY device_id, metric, at DESC
), latest AS (
    INSERT INTO latest_state AS l (device_id, metric, at, value, unit, quality, received_at)
    SELECT device_id, metric, at, value, unit, quality, :now FROM newest
    ON CONFLICT (device_id, metric) DO UPDATE SET
        at = EXCLUDED.at, value = EXCLUDED.value, unit = EXCLUDED.unit,
        quality = EXCLUDED.quality, received_at = EXCLUDED.received_at
    WHERE l.at < EXCLUDED.at
    RETURNING l.device_id, l.metric, l.at
), seen AS (
    UPDATE devices d SET last_seen = :now
    WHERE d.id IN (SELECT DISTINCT device_id FROM ingest_stage)
      AND (d.last_seen IS NULL OR d.last_seen < :now)
)
"""
#: the adapter's counts move with the batch, in the merge's statement (one round trip less)
_COUNTED = """, counted AS (
    INSERT INTO ingest_counts AS c (adapter, outcome, n)
    SELECT :adapter, o, n FROM (VALUES ('accepted', (SELECT count(*) FROM ins)),
                                      ('duplicate', :staged - (SELECT count(*) FROM ins))) v (o, n)
    ON CONFLICT (adapter, outcome) DO UPDATE SET n = c.n + EXCLUDED.n
)
"""
_COUNT = "SELECT count(*) FROM ins"
#: the rows for the listeners, each saying whether it is now the latest value of an active
#: device (``Stored.live``): what the live publisher would otherwise ask in a second query
_ROWS = """SELECT i.device_id, i.metric, i.at, i.value, i.unit, i.quality,
       (l.device_id IS NOT NULL AND d.status = 'active')
FROM ins i JOIN devices d ON d.id = i.device_id
LEFT JOIN latest l ON (l.device_id, l.metric, l.at) = (i.device_id, i.metric, i.at)
ORDER BY i.device_id, i.metric, i.at"""
#: the same statement in psycopg's placeholders: its rows are read by the driver itself
#: (SQLAlchemy's row objects cost more than the rows' decoding, once per observation)
_MERGE_ROWS = re.sub(r"(?<!:):(\w+)", r"%(\1)s", _MERGE + _COUNTED + _ROWS)


def _merge(conn: Connection, now: datetime, adapter: str, staged: int) -> int:
    """Merge the stage and count; the number of observations newly stored."""
    params = {"now": now, "adapter": adapter, "staged": staged}
    return int(conn.execute(text(_MERGE + _COUNTED + _COUNT), params).scalar_one())


def _merge_returning(conn: Connection, now: datetime, adapter: str, staged: int) -> list[Stored]:
    """Merge the stage and count; the observations newly stored, for the listeners."""
    params = {"now": now, "adapter": adapter, "staged": staged}
    dbapi: psycopg.Connection[Any] = conn.connection.driver_connection  # type: ignore[assignment]
    with dbapi.cursor() as cur:
        rows = cur.execute(_MERGE_ROWS, params).fetchall()
    return [Stored(*row) for row in rows]
