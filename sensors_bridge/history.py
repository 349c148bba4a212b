"""A device's latest values and its history in time buckets (min, avg, max, count).

Buckets are ``date_bin`` over ``observations`` (aligned on the Unix epoch, so two requests
for overlapping spans give the same buckets), on the partitions the span touches only. Only
non-empty buckets are answered, so an answer is never longer than the observations it sums
up, however long the span or small the bucket.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text

from geodata.errors import InputError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


#: a bucket size as the OpenAPI document declares it: a positive number, no leading zero
BUCKET_PATTERN = r"([1-9]\d{0,5})([smhd])"


def parse_bucket(bucket: str) -> timedelta:
    """``30s``, ``5m``, ``1h``, ``1d`` as a timedelta."""
    m = re.fullmatch(BUCKET_PATTERN, bucket)
    if not m:
        raise InputError(f"bucket {bucket!r}: write a positive number and s, m, h or d, e.g. 5m")
    return timedelta(seconds=int(m[1]) * _UNITS[m[2]])


def latest(conn: Connection, device_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        text(
            "SELECT metric, value, unit, quality, at, received_at FROM latest_state "
            "WHERE device_id = :i ORDER BY metric"
        ),
        {"i": device_id},
    ).mappings()
    return [_iso(dict(r)) for r in rows]


@dataclass(frozen=True)
class Span:
    start: datetime
    end: datetime
    bucket: timedelta

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise InputError("from and to need a time zone (RFC 3339, e.g. 2026-12-01T00:00Z)")
        # `to` before `from` is an empty span (no buckets), as SQL's BETWEEN would have it


def history(conn: Connection, device_id: str, metric: str, span: Span) -> list[dict[str, Any]]:
    """One row per non-empty bucket: its start, min, avg, max and count."""
    rows = conn.execute(
        text(
            "SELECT date_bin(:b, at, TIMESTAMPTZ '1970-01-01 00:00Z') AS bucket, "
            "min(value) AS min, avg(value) AS avg, max(value) AS max, count(*) AS count "
            "FROM observations WHERE device_id = :i AND metric = :m AND at >= :a AND at < :z "
            "GROUP BY 1 ORDER BY 1"
        ),
        {"b": span.bucket, "i": device_id, "m": metric, "a": span.start, "z": span.end},
    ).mappings()
    return [_iso(dict(r)) for r in rows]


def _iso(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in doc.items()}
