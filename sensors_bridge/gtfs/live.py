"""A bus stop's next departure as its live state: after each GTFS-realtime poll, every stop
device of the feed whose next departure changed gets observations through the batch writer,
so ``latest_state`` of ``gtfs-FEED-STOP`` is its next bus, and whatever listens to what the
writer stores (the live layer, SensorThings) sees it like any sensor's reading.

Two metrics, both in seconds (UCUM ``s``), timed at the poll:

- ``next_departure``: when the next bus leaves, epoch seconds; quality ``good`` when the
  realtime predicts it (or an added trip gives it), ``uncertain`` when only the timetable
  does (no update of that trip: *scheduled*, never "on time");
- ``next_departure_delay``: how late that bus is, written only when the realtime gives a
  delay, with the same time as its ``next_departure``: a delay whose time differs from the
  departure's belongs to an earlier bus.

Only changes are written (the departure, its delay or its quality differ from the stored
latest), so an unchanged stop adds no row however often the feed is polled. A stop with no
departure ahead gets nothing: its latest ``next_departure`` is then in the past, which says
so. The departures are those of ``GET /api/stops/{id}/next`` (the same rule, read for many
stops at once by :func:`sensors_bridge.gtfs.departures.departures_at_stops`: the realtime
parsed once per poll, one query per service day for 500 stops' calls).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from sensors_bridge.gtfs.departures import Departure, departures_at_stops, realtime_at
from sensors_bridge.model import Observation

if TYPE_CHECKING:
    import psycopg
    from sqlalchemy import Engine

    from sensors_bridge.store import BatchWriter

DEPARTURE = "next_departure"
DELAY = "next_departure_delay"
#: (name, unit, description) declared in ``metrics`` (the ObservedProperty's description)
METRICS = (
    (DEPARTURE, "s", "next departure at the stop, epoch seconds (GTFS timetable and realtime)"),
    (DELAY, "s", "delay of the stop's next departure, seconds (negative: early)"),
)

#: stops read together (one query per service day for their calls): bounds a poll's memory
CHUNK = 500
#: what a stop's state is: (departure time, delay or None, quality)
State = tuple[int, int | None, str]


@dataclass(frozen=True)
class LiveUpdate:
    stops: int  # stop devices of the feed looked at
    changed: int  # of which got observations
    accepted: int  # observations the writer stored

    def line(self, feed: str) -> str:
        return (
            f"{feed}: next departures of {self.stops} stops, {self.changed} changed "
            f"({self.accepted} observations)"
        )


def state_of(departure: Departure) -> State:
    quality = "uncertain" if departure.status == "scheduled" else "good"
    return departure.time, departure.delay, quality


def _stops(conn: Any, feed: str) -> dict[str, str]:
    """device id -> stop id, of the feed's active stop devices."""
    rows = conn.execute(
        text(
            "SELECT id, attrs->>'stop_id' FROM devices WHERE protocol = 'gtfs' "
            "AND status = 'active' AND attrs->>'gtfs_feed' = :f"
        ),
        {"f": feed},
    )
    return {r[0]: r[1] for r in rows}


def _stored(conn: Any, devices: list[str]) -> dict[str, State]:
    """The state each device's latest observations say (a delay counts only when it is the
    departure's own, timed alike)."""
    rows = conn.execute(
        text(
            "SELECT d.device_id, d.value, d.quality, "
            "CASE WHEN l.at = d.at THEN l.value END FROM latest_state d "
            "LEFT JOIN latest_state l ON l.device_id = d.device_id AND l.metric = :delay "
            "WHERE d.metric = :dep AND d.device_id = ANY(:ids)"
        ),
        {"dep": DEPARTURE, "delay": DELAY, "ids": devices},
    )
    return {
        r[0]: (int(r[1]), None if r[3] is None else int(r[3]), r[2])
        for r in rows
        if r[1] is not None
    }


def current_states(
    raw: psycopg.Connection[Any], feed: str, stops: dict[str, str], at: int
) -> dict[str, State]:
    """device id -> the state of its stop at ``at`` (stops with no departure ahead left out)."""
    realtime = realtime_at(raw, feed, at)
    devices = sorted(stops)
    out: dict[str, State] = {}
    for i in range(0, len(devices), CHUNK):
        chunk = {stops[d]: d for d in devices[i : i + CHUNK]}
        found = departures_at_stops(
            raw, feed=feed, stop_ids=list(chunk), at=at, limit=1, realtime=realtime
        )
        for stop_id, got in found.items():
            if got.departures:
                out[chunk[stop_id]] = state_of(got.departures[0])
    return out


def observations(changed: dict[str, State], when: datetime) -> list[Observation]:
    out: list[Observation] = []
    for device, (departure, delay, quality) in sorted(changed.items()):
        out.append(Observation(device, DEPARTURE, departure, when, "gtfs", "s", quality))
        if delay is not None:
            out.append(Observation(device, DELAY, delay, when, "gtfs", "s"))
    return out


def record_next_departures(
    engine: Engine, feed: str, writer: BatchWriter, *, at: int | None = None
) -> LiveUpdate:
    """Store the next departure of every stop of ``feed`` whose next departure changed."""
    from geodata.pg import raw_connection

    at = int(time.time()) if at is None else at
    with engine.connect() as conn:
        stops = _stops(conn, feed)
        stored = _stored(conn, sorted(stops))
        now = current_states(raw_connection(conn), feed, stops, at)
    changed = {d: s for d, s in now.items() if stored.get(d) != s}
    if not changed:
        return LiveUpdate(len(stops), 0, 0)
    with engine.begin() as conn:
        for name, unit, description in METRICS:
            conn.execute(
                text(
                    "INSERT INTO metrics (name, unit, description) VALUES (:n, :u, :d) "
                    "ON CONFLICT (name) DO NOTHING"
                ),
                {"n": name, "u": unit, "d": description},
            )
    result = writer.write(observations(changed, datetime.fromtimestamp(at, UTC)))
    return LiveUpdate(len(stops), len(changed), result.accepted)
