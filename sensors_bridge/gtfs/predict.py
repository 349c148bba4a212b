"""The GTFS-realtime propagation rule, as a pure function of a trip's schedule and its update.

From the specification (``reference.md`` and ``trip-updates.md`` of google/transit):

- a StopTimeEvent's absolute ``time`` wins over its ``delay``; the delay it implies is
  ``time`` minus the scheduled time;
- a stop's delay propagates downstream to the stops that have no StopTimeUpdate, until the
  next update; nothing propagates upstream (stops before the first update keep the schedule);
- a ``SKIPPED`` stop is not served (it drops out) and the delay before it carries across it;
- ``NO_DATA`` means no realtime from that stop on, until the next update: the schedule;
- a ``CANCELED`` (or ``DELETED``) trip drops out entirely; an ``ADDED`` (or ``NEW``) trip has
  no schedule and runs at its updates' own times;
- a trip without update is *scheduled*: its status says so, it is never "on time".

Real feeds deviate: updates that name a stop the trip does not call at, or a sequence it does
not have, are counted in :attr:`Prediction.unmatched`, never fatal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from google.transit import gtfs_realtime_pb2 as rt

_TRIP = rt.TripDescriptor.ScheduleRelationship
_STOP = rt.TripUpdate.StopTimeUpdate.ScheduleRelationship
#: trip relationships that take the trip out of service
GONE = frozenset({"CANCELED", "DELETED"})
#: trip relationships of a trip that is not in the schedule
EXTRA = frozenset({"ADDED", "NEW"})


@dataclass(frozen=True)
class Call:
    """A scheduled call of a trip at a stop, times already in epoch seconds (None: untimed)."""

    stop_sequence: int
    stop_id: str
    arrival: int | None
    departure: int | None

    @property
    def scheduled(self) -> int | None:
        return self.departure if self.departure is not None else self.arrival


@dataclass(frozen=True)
class Predicted:
    time: int
    delay: int | None
    status: str  # "realtime", "scheduled" or "added"


@dataclass(frozen=True)
class Prediction:
    #: per call of the trip, in order: its predicted departure, or None (cancelled, skipped,
    #: untimed)
    calls: list[Predicted | None]
    #: stop time updates that matched no call of the trip
    unmatched: int = 0


def trip_relationship(update: Any) -> str:
    value = update.trip.schedule_relationship
    return _TRIP.Name(value) if value in _TRIP.values() else "SCHEDULED"


def _stop_relationship(stu: Any) -> str:
    value = stu.schedule_relationship
    return _STOP.Name(value) if value in _STOP.values() else "SCHEDULED"


def predict(calls: Sequence[Call], update: Any | None) -> Prediction:
    """Departures of a scheduled trip's ``calls`` (ordered by stop_sequence) under ``update``
    (a ``TripUpdate``, or None when the feed says nothing of the trip)."""
    if update is None:
        return Prediction([_scheduled(c) for c in calls])
    if trip_relationship(update) in GONE:
        return Prediction([None] * len(calls))
    matched, unmatched = _match(calls, update)
    delay: int | None = update.delay if update.HasField("delay") else None
    out: list[Predicted | None] = []
    for i, call in enumerate(calls):
        stu = matched.get(i)
        if stu is not None:
            relationship = _stop_relationship(stu)
            if relationship == "SKIPPED":
                out.append(None)  # not served; the delay before it carries across
                continue
            if relationship == "NO_DATA":
                delay = None
            else:
                exact, own = _event(stu, call)
                if exact is not None:
                    out.append(Predicted(exact, own, "realtime"))
                    delay = own if own is not None else delay
                    continue
                if own is not None:
                    delay = own
        sched = call.scheduled
        if sched is None:
            out.append(None)
        elif delay is None:
            out.append(Predicted(sched, None, "scheduled"))
        else:
            out.append(Predicted(sched + delay, delay, "realtime"))
    return Prediction(out, unmatched)


def _scheduled(call: Call) -> Predicted | None:
    sched = call.scheduled
    return None if sched is None else Predicted(sched, None, "scheduled")


def _match(calls: Sequence[Call], update: Any) -> tuple[dict[int, Any], int]:
    """Each stop time update's call: by stop_sequence when given, else by stop_id (the first
    call at that stop after the previous match, so a loop's second visit is found)."""
    by_seq = {c.stop_sequence: i for i, c in enumerate(calls)}
    matched: dict[int, Any] = {}
    unmatched, last = 0, -1
    for stu in update.stop_time_update:
        index: int | None = None
        if stu.HasField("stop_sequence"):
            index = by_seq.get(stu.stop_sequence)
        elif stu.stop_id:
            index = next(
                (i for i in range(last + 1, len(calls)) if calls[i].stop_id == stu.stop_id), None
            )
        if index is None or index in matched:
            unmatched += 1
            continue
        matched[index], last = stu, index
    return matched, unmatched


def _event(stu: Any, call: Call) -> tuple[int | None, int | None]:
    """(absolute departure time, delay) a stop time update gives for ``call``.

    The departure event first, else the arrival's; within one, ``time`` wins over ``delay``.
    An arrival time is carried to the departure as the delay it implies.
    """
    for name, sched in (("departure", call.departure), ("arrival", call.arrival)):
        if not stu.HasField(name):
            continue
        event = getattr(stu, name)
        if event.HasField("time") and event.time > 0:
            if sched is None:
                return (event.time, None) if name == "departure" else (None, None)
            delay = event.time - sched
            if name == "departure":
                return event.time, delay
            return None, delay
        if event.HasField("delay"):
            return None, event.delay
    return None, None


def added_departures(update: Any, stop_id: str) -> list[int]:
    """The times an ``ADDED`` trip's update gives at ``stop_id`` (its own times: it has no
    schedule to add a delay to; a SKIPPED stop or one without a time gives none)."""
    times = []
    for stu in update.stop_time_update:
        if stu.stop_id != stop_id or _stop_relationship(stu) in ("SKIPPED", "NO_DATA"):
            continue
        for name in ("departure", "arrival"):
            if stu.HasField(name) and getattr(stu, name).time > 0:
                times.append(getattr(stu, name).time)
                break
    return times
