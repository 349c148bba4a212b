"""GTFS-realtime in: fetch a FeedMessage, check it whole, keep it and the state it gives.

A message is parsed and checked completely before anything is written, so a corrupt one
(truncated, not Protobuf, missing the fields the specification requires) raises
:class:`RealtimeError` and the previous state stays as it was. A parsed message is kept whole
in ``gtfs_rt_snapshots`` (departures are computed from it, and ``at`` replays an older one);
the latest trip updates and vehicle positions are kept as state for other readers. Values a
real feed gets wrong (a position off the globe, an absurd timestamp) are counted and skipped,
never fatal.
"""

from __future__ import annotations

import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from google.transit import gtfs_realtime_pb2 as rt

from geodata.errors import InputError

if TYPE_CHECKING:
    from sqlalchemy import Engine

#: largest FeedMessage accepted (the biggest agencies' full feeds are a few MB)
MAX_BYTES = 64 * 1024 * 1024
#: timestamps after this (year 2100) are a feed's mistake, not a time
MAX_EPOCH = 4_102_444_800
RELATIONSHIP = rt.TripDescriptor.ScheduleRelationship


class RealtimeError(InputError):
    """A source that is not a usable GTFS-realtime FeedMessage."""


def fetch(source: str, timeout: float = 20.0) -> bytes:
    """The bytes of ``source``: an ``http(s)://`` URL or a file."""
    try:
        if source.startswith(("http://", "https://")):
            with urllib.request.urlopen(source, timeout=timeout) as answer:
                data: bytes = answer.read(MAX_BYTES + 1)
        else:
            with Path(source).open("rb") as f:
                data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise RealtimeError(
            f"{source}: cannot be read ({exc}); the previous state is kept"
        ) from None
    if len(data) > MAX_BYTES:
        raise RealtimeError(f"{source}: larger than {MAX_BYTES} bytes; the previous state is kept")
    return data


def parse(data: bytes, source: str) -> rt.FeedMessage:
    """The FeedMessage in ``data``, checked whole.

    :raises RealtimeError: not Protobuf, not a FeedMessage, required fields missing.
    """
    message = rt.FeedMessage()
    try:
        message.ParseFromString(data)
    except Exception as exc:  # DecodeError, or whatever a hostile byte string provokes
        raise RealtimeError(
            f"{source}: not a GTFS-realtime FeedMessage ({exc}); the previous state is kept"
        ) from None
    if not message.IsInitialized():
        missing = ", ".join(message.FindInitializationErrors()[:3])
        raise RealtimeError(
            f"{source}: not a GTFS-realtime FeedMessage (missing {missing}); "
            "the previous state is kept"
        )
    return message


def epoch(value: int) -> int | None:
    """A feed's POSIX time, or None when it is unset or absurd."""
    return value if 0 < value <= MAX_EPOCH else None


@dataclass
class Extracted:
    """What a message gives as state: rows ready to upsert, and what was skipped."""

    feed_time: int
    trip_updates: list[tuple[str, str | None, str | None, str | None, str, int]]
    vehicles: list[
        tuple[str, str | None, str | None, float, float, float | None, float | None, int]
    ]
    skipped: Counter[str] = field(default_factory=Counter)


def extract(message: rt.FeedMessage, now: int) -> Extracted:
    """The state in ``message`` (pure: no database), for :func:`record` and the fuzz tests."""
    feed_time = epoch(message.header.timestamp) or now
    out = Extracted(feed_time, [], [])
    for entity in message.entity:
        if entity.is_deleted:
            out.skipped["deleted entities"] += 1
            continue
        if entity.HasField("trip_update"):
            tu = entity.trip_update
            trip = tu.trip
            out.trip_updates.append(
                (
                    entity.id,
                    trip.trip_id or None,
                    trip.route_id or None,
                    trip.start_date or None,
                    RELATIONSHIP.Name(trip.schedule_relationship)
                    if trip.schedule_relationship in RELATIONSHIP.values()
                    else "UNKNOWN",
                    len(tu.stop_time_update),
                )
            )
        if entity.HasField("vehicle"):
            _vehicle(entity, feed_time, out)
    return out


def _vehicle(entity: Any, feed_time: int, out: Extracted) -> None:
    v = entity.vehicle
    if not v.HasField("position"):
        out.skipped["vehicles without a position"] += 1
        return
    lat, lon = v.position.latitude, v.position.longitude
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):  # NaN fails both
        out.skipped["vehicle positions off the globe"] += 1
        return
    vid = v.vehicle.id or v.vehicle.label or entity.id
    bearing = v.position.bearing if v.position.HasField("bearing") else None
    speed = v.position.speed if v.position.HasField("speed") else None
    finite = [x for x in (bearing, speed) if x is not None and x == x and abs(x) < 1e9]
    bearing, speed = (
        bearing if bearing in finite else None,
        speed if speed in finite else None,
    )
    at = epoch(v.timestamp) or feed_time
    out.vehicles.append(
        (vid, v.trip.trip_id or None, v.trip.route_id or None, lon, lat, bearing, speed, at)
    )


@dataclass
class Recorded:
    source: str
    trip_updates: int
    vehicles: int
    unknown_trips: int
    skipped: Counter[str]

    def line(self) -> str:
        skipped = dict(self.skipped)
        if self.unknown_trips:
            skipped["trip updates of trips not in the timetable"] = self.unknown_trips
        notes = ", ".join(f"{n} {why}" for why, n in skipped.items())
        return (
            f"{self.source}: {self.trip_updates} trip updates, {self.vehicles} vehicle positions"
            + (f"; not matched: {notes}" if notes else "")
        )


def record(engine: Engine, feed: str, source: str, data: bytes) -> Recorded:
    """Parse ``data`` and keep it as the feed's latest realtime from ``source``, in one
    transaction (a corrupt message raises before anything is written)."""
    from geodata.errors import NotFound
    from geodata.pg import raw_connection

    message = parse(data, source)
    state = extract(message, int(time.time()))
    with engine.begin() as conn:
        raw = raw_connection(conn)
        if raw.execute("SELECT 1 FROM gtfs_feeds WHERE name = %s", (feed,)).fetchone() is None:
            raise NotFound(f"no GTFS feed {feed!r}: import it first with `twin gtfs import`")
        raw.execute(
            "INSERT INTO gtfs_rt_snapshots (feed, source, feed_time, message) "
            "VALUES (%s, %s, %s, %s)",
            (feed, source, state.feed_time, data),
        )
        with raw.cursor() as cur:
            cur.executemany(
                "INSERT INTO gtfs_trip_updates (feed, entity_id, trip_id, route_id, start_date, "
                "relationship, stop_time_updates, feed_time) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (feed, entity_id) DO UPDATE "
                "SET (trip_id, route_id, start_date, relationship, stop_time_updates, feed_time)"
                " = (EXCLUDED.trip_id, EXCLUDED.route_id, EXCLUDED.start_date, "
                "EXCLUDED.relationship, EXCLUDED.stop_time_updates, EXCLUDED.feed_time)",
                [(feed, *row, state.feed_time) for row in state.trip_updates],
            )
            cur.executemany(
                "INSERT INTO gtfs_vehicle_positions (feed, vehicle_id, trip_id, route_id, geom, "
                "bearing, speed, observed_at) VALUES (%s, %s, %s, %s, "
                "ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s, %s, %s) "
                "ON CONFLICT (feed, vehicle_id) DO UPDATE SET (trip_id, route_id, geom, bearing, "
                "speed, observed_at) = (EXCLUDED.trip_id, EXCLUDED.route_id, EXCLUDED.geom, "
                "EXCLUDED.bearing, EXCLUDED.speed, EXCLUDED.observed_at) "
                "WHERE gtfs_vehicle_positions.observed_at <= EXCLUDED.observed_at",
                [(feed, *row) for row in state.vehicles],
            )
        scheduled = [r[1] for r in state.trip_updates if r[4] != "ADDED" and r[1]]
        known = {
            row[0]
            for row in raw.execute(
                "SELECT trip_id FROM gtfs_trips WHERE feed = %s AND trip_id = ANY(%s)",
                (feed, scheduled),
            )
        }
    unknown = sum(1 for t in scheduled if t not in known)
    return Recorded(source, len(state.trip_updates), len(state.vehicles), unknown, state.skipped)
