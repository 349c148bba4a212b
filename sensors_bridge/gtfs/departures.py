"""Next departures at a stop: the timetable's trips of the service days around ``at``, under
the realtime recorded last before ``at`` (:mod:`sensors_bridge.gtfs.predict` applies it).

The realtime used is, per source, the latest FeedMessage whose own timestamp is not after
``at``: with ``at`` in the past, a recorded feed is replayed as it stood. An update names its
service day with ``start_date``; without one it applies to each instance of the trip.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from geodata.errors import NotFound
from sensors_bridge.gtfs.predict import (
    EXTRA,
    Call,
    Prediction,
    added_departures,
    predict,
    trip_relationship,
)
from sensors_bridge.gtfs.realtime import parse
from sensors_bridge.gtfs.store import stop_source
from sensors_bridge.gtfs.times import days_around, service_day_origin, zone

if TYPE_CHECKING:
    import psycopg


@dataclass(frozen=True)
class Departure:
    trip_id: str
    route_id: str | None
    time: int
    delay: int | None
    status: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "trip_id": self.trip_id,
            "route_id": self.route_id,
            "time": self.time,
            "delay": self.delay,
            "status": self.status,
        }


@dataclass(frozen=True)
class Realtime:
    """The trip updates in force at one instant (:func:`realtime_at`): parsed once, shared by
    every stop asked about at that instant."""

    updates: dict[str, list[tuple[str, Any]]]
    #: trips of the updates that the timetable has
    known: set[str]
    unmatched: Counter[str]


@dataclass
class Departures:
    departures: list[Departure]
    #: what the realtime said that matched nothing in the timetable, by reason
    unmatched: Counter[str] = field(default_factory=Counter)


def stop_visibility(raw: psycopg.Connection[Any], feed: str, stop_id: str) -> str:
    """The visibility of a feed's stop (its furniture dataset's), or NotFound."""
    row = raw.execute(
        "SELECT d.visibility FROM furniture f JOIN datasets d "
        "ON d.source = f.source AND d.layer = 'furniture' "
        "WHERE f.source = %s AND f.source_id = %s AND f.scenario_id IS NULL",
        (stop_source(feed), stop_id),
    ).fetchone()
    if row is None:
        raise NotFound(f"no stop {stop_id!r} in GTFS feed {feed!r}")
    return str(row[0])


def realtime_at(raw: psycopg.Connection[Any], feed: str, at: int) -> Realtime:
    unmatched: Counter[str] = Counter()
    updates = _updates(raw, feed, at, unmatched)
    return Realtime(updates, _known_trips(raw, feed, [t for t in updates if t]), unmatched)


def next_departures(
    raw: psycopg.Connection[Any],
    *,
    feed: str,
    stop_id: str,
    at: int,
    limit: int,
    realtime: Realtime | None = None,
) -> Departures:
    """The next ``limit`` departures at the stop from ``at``; ``realtime``: what
    :func:`realtime_at` gave for this ``at`` (read here when not given)."""
    many = departures_at_stops(
        raw, feed=feed, stop_ids=[stop_id], at=at, limit=limit, realtime=realtime
    )
    return many[stop_id]


def departures_at_stops(
    raw: psycopg.Connection[Any],
    *,
    feed: str,
    stop_ids: list[str],
    at: int,
    limit: int,
    realtime: Realtime | None = None,
) -> dict[str, Departures]:
    """:func:`next_departures` of each stop, read together: one query per service day for
    all the stops' calls, each updated trip's calls and prediction once (what a poll that
    refreshes every stop needs; the answer per stop is the same)."""
    tz_row = raw.execute("SELECT timezone FROM gtfs_feeds WHERE name = %s", (feed,)).fetchone()
    if tz_row is None:
        raise NotFound(f"no GTFS feed {feed!r}: import it with `twin gtfs import`")
    tz = zone(tz_row[0])
    realtime = realtime or realtime_at(raw, feed, at)
    updates = realtime.updates
    results = {s: Departures([], Counter(realtime.unmatched)) for s in stop_ids}
    found: dict[str, list[Departure]] = {s: [] for s in stop_ids}
    calls_cache: dict[str, list[tuple[int, str, int | None, int | None]]] = {}
    predictions: dict[tuple[str, date], tuple[list[Call], Prediction]] = {}
    counted: set[tuple[str, str]] = set()
    for day in days_around(at, tz):
        origin = service_day_origin(day, tz)
        calls_at = _trips_at(raw, feed, stop_ids, day, list(updates), at - origin, limit)
        for trip_id, route_id, seq, stop, arrival, departure in calls_at:
            update = _update_for(updates, trip_id, day)
            if update is None:
                calls = [_call(origin, seq, stop, arrival, departure)]
                prediction = predict(calls, None)
            else:
                if (trip_id, day) not in predictions:
                    if trip_id not in calls_cache:
                        calls_cache[trip_id] = _calls(raw, feed, trip_id)
                    every = [_call(origin, *row) for row in calls_cache[trip_id]]
                    predictions[trip_id, day] = (every, predict(every, update))
                calls, prediction = predictions[trip_id, day]
            if prediction.unmatched and (stop, trip_id) not in counted:
                counted.add((stop, trip_id))
                results[stop].unmatched["stop time updates naming no stop of their trip"] += (
                    prediction.unmatched
                )
            for call, p in zip(calls, prediction.calls, strict=True):
                if call.stop_sequence == seq and p is not None:
                    found[stop].append(Departure(trip_id, route_id, p.time, p.delay, p.status))
    for stop_id, result in results.items():
        for trip_id, instances in updates.items():
            for _, update in instances:
                if trip_relationship(update) in EXTRA:
                    route = update.trip.route_id or None
                    found[stop_id] += [
                        Departure(trip_id or "", route, t, None, "added")
                        for t in added_departures(update, stop_id)
                    ]
                elif trip_id not in realtime.known:
                    result.unmatched["trip updates of trips not in the timetable"] += 1
        result.departures = sorted(
            (d for d in found[stop_id] if d.time >= at), key=lambda d: (d.time, d.trip_id)
        )[:limit]
        result.unmatched = +result.unmatched
    return results


def _call(origin: int, seq: int, stop: str, arrival: int | None, departure: int | None) -> Call:
    return Call(
        seq,
        stop,
        None if arrival is None else origin + arrival,
        None if departure is None else origin + departure,
    )


def _updates(
    raw: psycopg.Connection[Any], feed: str, at: int, unmatched: Counter[str]
) -> dict[str, list[tuple[str, Any]]]:
    """trip_id -> [(start_date or "", TripUpdate)] from each source's latest message before
    ``at``; a later message's update of the same trip and day replaces an earlier one's.

    A DUPLICATED trip (a copy of a scheduled trip at another start time, given by
    TripProperties) is not modelled: it is counted, and the original keeps its schedule.
    """
    rows = raw.execute(
        "SELECT DISTINCT ON (source) source, message FROM gtfs_rt_snapshots "
        "WHERE feed = %s AND feed_time <= %s ORDER BY source, feed_time DESC, id DESC",
        (feed, at),
    ).fetchall()
    messages = sorted((parse(bytes(m), s) for s, m in rows), key=lambda msg: msg.header.timestamp)
    chosen: dict[tuple[str, str], Any] = {}
    for message in messages:
        for entity in message.entity:
            if entity.HasField("trip_update") and not entity.is_deleted:
                if trip_relationship(entity.trip_update) == "DUPLICATED":
                    unmatched["duplicated trips (not modelled)"] += 1
                    continue
                trip = entity.trip_update.trip
                chosen[(trip.trip_id, trip.start_date)] = entity.trip_update
    out: dict[str, list[tuple[str, Any]]] = {}
    for (trip_id, start), update in chosen.items():
        out.setdefault(trip_id, []).append((start, update))
    return out


def _update_for(updates: dict[str, list[tuple[str, Any]]], trip_id: str, day: date) -> Any:
    stamp = day.strftime("%Y%m%d")
    instances = updates.get(trip_id, [])
    exact = [u for start, u in instances if start == stamp]
    loose = [u for start, u in instances if not start]
    return (exact or loose or [None])[0]


def _trips_at(
    raw: psycopg.Connection[Any],
    feed: str,
    stop_ids: list[str],
    day: date,
    updated: list[str],
    after: int,
    limit: int,
) -> list[tuple[str, str, int, str, int | None, int | None]]:
    """The calls at the stops of the trips that run on ``day``: (trip_id, route_id,
    stop_sequence, stop_id, arrival, departure).

    Every call of a trip the realtime may update (``updated``: its delay can bring an earlier
    call past ``at``); of the others, which keep their schedule, only the first ``limit`` per
    stop at or after ``after`` (seconds from the day's origin), in the order the answer
    sorts them (time, trip): the rest could never be among a stop's first ``limit``."""
    return raw.execute(
        """
        WITH calls AS (
            SELECT st.trip_id, t.route_id, st.stop_sequence, st.stop_id, st.arrival,
                   st.departure, st.trip_id = ANY(%(u)s) AS updated
            FROM gtfs_stop_times st JOIN gtfs_trips t USING (feed, trip_id)
            WHERE st.feed = %(f)s AND st.stop_id = ANY(%(s)s)
              AND (st.trip_id = ANY(%(u)s) OR coalesce(st.departure, st.arrival) >= %(a)s)
              AND t.service_id IN (
                (SELECT service_id FROM gtfs_calendars
                 WHERE feed = %(f)s AND %(d)s BETWEEN start_date AND end_date
                   AND weekdays[extract(isodow FROM %(d)s::date)::int]
                 UNION SELECT service_id FROM gtfs_calendar_dates
                 WHERE feed = %(f)s AND date = %(d)s AND added)
                EXCEPT SELECT service_id FROM gtfs_calendar_dates
                WHERE feed = %(f)s AND date = %(d)s AND NOT added))
        SELECT trip_id, route_id, stop_sequence, stop_id, arrival, departure FROM (
            SELECT *, row_number() OVER (PARTITION BY stop_id, updated
                ORDER BY coalesce(departure, arrival), trip_id) AS n FROM calls) c
        WHERE updated OR n <= %(n)s
        """,
        {"f": feed, "s": stop_ids, "d": day, "u": updated, "a": after, "n": limit},
    ).fetchall()


def _calls(
    raw: psycopg.Connection[Any], feed: str, trip_id: str
) -> list[tuple[int, str, int | None, int | None]]:
    return raw.execute(
        "SELECT stop_sequence, stop_id, arrival, departure FROM gtfs_stop_times "
        "WHERE feed = %s AND trip_id = %s ORDER BY stop_sequence",
        (feed, trip_id),
    ).fetchall()


def _known_trips(raw: psycopg.Connection[Any], feed: str, trips: list[str]) -> set[str]:
    rows = raw.execute(
        "SELECT trip_id FROM gtfs_trips WHERE feed = %s AND trip_id = ANY(%s)", (feed, trips)
    ).fetchall()
    return {r[0] for r in rows}
