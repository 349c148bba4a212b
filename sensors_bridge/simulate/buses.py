"""Buses for the demo: a GTFS feed over the district's real bus stops and streets, and the
GTFS-realtime its buses would publish at any time. SYNTHETIC: no agency runs these lines.

Why generated: the OpenStreetMap extract has the stops (``highway=bus_stop``) but no
timetable. :func:`plan_lines` chains nearby stops into a few lines (platform pairs on both
sides of a street merged); the caller gives each leg its path along the streets (the road
graph of :mod:`geodata.walking`), whose length sets the running time at a bus's city speed.
:func:`feed_files` writes the static feed (flagged synthetic in its agency name), and
:func:`feed_message` the FeedMessage at ``t``: one VehiclePosition on its leg's street path
and one TripUpdate (its delay, seeded per trip) per bus on the road. Pure functions of the
:class:`Lines` and the time, so a test knows where each bus is.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

from google.transit import gtfs_realtime_pb2 as rt

from sensors_bridge.simulate.profiles import ZONE, noise

AGENCY = "Synthetic demo buses (not a real agency)"
#: a bus's average speed in the city centre, and its stop at each stop
SPEED_M_S = 18 / 3.6
DWELL_S = 20
#: first departure, last departure, headway (seconds after midnight)
FIRST, LAST, HEADWAY = 5 * 3600, 23 * 3600 + 48 * 60, 12 * 60


@dataclass(frozen=True)
class Stop:
    stop_id: str
    name: str
    lon: float
    lat: float
    x: float
    y: float


@dataclass
class Line:
    """A bus line: its stops in order and, per leg, the path (lon, lat) and running time."""

    route_id: str
    stops: list[str]
    legs: list[list[tuple[float, float]]]
    run_s: list[int]


@dataclass
class Lines:
    lines: list[Line]
    stops: dict[str, Stop]
    seed: int = 10

    def as_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "stops": [asdict(s) for s in self.stops.values()],
            "lines": [asdict(line) for line in self.lines],
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Lines:
        stops = {s["stop_id"]: Stop(**s) for s in doc["stops"]}
        lines = [
            Line(
                d["route_id"],
                d["stops"],
                [[(float(p[0]), float(p[1])) for p in leg] for leg in d["legs"]],
                d["run_s"],
            )
            for d in doc["lines"]
        ]
        return cls(lines, stops, doc.get("seed", 10))


def plan_lines(
    stops: Sequence[Stop], *, count: int = 3, length: int = 10, merge_m: float = 60
) -> list[list[Stop]]:
    """Chains of nearby stops (each at most ``length``), a stop in one chain at most.

    Platform pairs closer than ``merge_m`` keep one stop; a chain grows to the nearest free
    stop between 150 m and 900 m away, starting from the free stop farthest west.
    """
    kept: list[Stop] = []
    for s in sorted(stops, key=lambda s: s.stop_id):
        if all(math.dist((s.x, s.y), (k.x, k.y)) >= merge_m for k in kept):
            kept.append(s)
    free = sorted(kept, key=lambda s: (s.x, s.y))
    chains: list[list[Stop]] = []
    while free and len(chains) < count:
        chain = [free.pop(0)]
        while len(chain) < length:
            last = chain[-1]
            near = [s for s in free if 150 <= math.dist((s.x, s.y), (last.x, last.y)) <= 900]
            if not near:
                break
            nxt = min(near, key=lambda s: math.dist((s.x, s.y), (last.x, last.y)))
            free.remove(nxt)
            chain.append(nxt)
        if len(chain) >= 3:
            chains.append(chain)
    return chains


def run_seconds(path_m: float) -> int:
    return max(30, round(path_m / SPEED_M_S))


def _hms(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def trips(line: Line) -> list[tuple[str, int, int]]:
    """(trip id, direction, departure from the first stop) of every trip of a service day."""
    return [
        (f"{line.route_id}-{d}-{dep // 60:04d}", d, dep)
        for dep in range(FIRST, LAST + 1, HEADWAY)
        for d in (0, 1)
    ]


def _calls(line: Line, direction: int) -> tuple[list[str], list[int], list[list[Any]]]:
    """Stops, arrival offsets from the departure, and leg paths in the trip's direction."""
    stops = line.stops if direction == 0 else line.stops[::-1]
    runs = line.run_s if direction == 0 else line.run_s[::-1]
    legs = line.legs if direction == 0 else [leg[::-1] for leg in line.legs[::-1]]
    offsets = [0]
    for r in runs:
        offsets.append(offsets[-1] + r + DWELL_S)
    return stops, offsets, legs


def _csv(header: str, rows: Iterable[Sequence[object]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header.split(","))
    writer.writerows(rows)
    return buf.getvalue()


def feed_files(lines: Lines, today: date) -> dict[str, str]:
    """The static feed's files: service every day from yesterday for a year."""
    used = {sid for line in lines.lines for sid in line.stops}
    trip_rows: list[Sequence[object]] = []
    times: list[Sequence[object]] = []
    for line in lines.lines:
        for trip_id, direction, dep in trips(line):
            stops, offsets, _ = _calls(line, direction)
            headsign = lines.stops[stops[-1]].name
            trip_rows.append((line.route_id, "DAILY", trip_id, headsign, direction))
            for seq, (sid, off) in enumerate(zip(stops, offsets, strict=True), start=1):
                arrive = dep + off
                leave = arrive if seq in (1, len(stops)) else arrive + DWELL_S
                times.append((trip_id, _hms(arrive), _hms(leave), sid, seq))
    first, last = today - timedelta(days=1), today + timedelta(days=365)
    return {
        "agency.txt": _csv(
            "agency_id,agency_name,agency_url,agency_timezone",
            [("DEMO", AGENCY, "https://example.org/synthetic", ZONE.key)],
        ),
        "stops.txt": _csv(
            "stop_id,stop_name,stop_lat,stop_lon,location_type",
            [
                (s.stop_id, s.name, f"{s.lat:.6f}", f"{s.lon:.6f}", 0)
                for s in lines.stops.values()
                if s.stop_id in used
            ],
        ),
        "routes.txt": _csv(
            "route_id,agency_id,route_short_name,route_long_name,route_type",
            [
                (ln.route_id, "DEMO", ln.route_id, f"synthetic {ln.route_id}", 3)
                for ln in lines.lines
            ],
        ),
        "trips.txt": _csv("route_id,service_id,trip_id,trip_headsign,direction_id", trip_rows),
        "stop_times.txt": _csv("trip_id,arrival_time,departure_time,stop_id,stop_sequence", times),
        "calendar.txt": _csv(
            "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,"
            "end_date",
            [("DAILY", *[1] * 7, f"{first:%Y%m%d}", f"{last:%Y%m%d}")],
        ),
        "calendar_dates.txt": _csv("service_id,date,exception_type", []),
    }


def _along(path: list[Any], fraction: float) -> tuple[float, float, float]:
    """(lon, lat, bearing) at ``fraction`` of a path's length (degrees, locally flat)."""
    if len(path) < 2:
        return path[0][0], path[0][1], 0.0
    k = math.cos(math.radians(path[0][1]))
    seg = [math.hypot((b[0] - a[0]) * k, b[1] - a[1]) for a, b in itertools.pairwise(path)]
    goal = max(0.0, min(1.0, fraction)) * sum(seg)
    for (a, b), d in zip(itertools.pairwise(path), seg, strict=True):
        if goal <= d:
            f = goal / d if d else 0.0
            bearing = math.degrees(math.atan2((b[0] - a[0]) * k, b[1] - a[1])) % 360
            return a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, bearing
        goal -= d
    return path[-1][0], path[-1][1], 0.0


def delay(lines: Lines, trip_id: str, day: date) -> int:
    """A trip's delay (s) on a day: most buses a little late, some early, a few very late."""
    u = noise(lines.seed, trip_id, "delay", day.toordinal())
    return round(-30 + 240 * u**2)


def feed_message(lines: Lines, at: datetime) -> rt.FeedMessage:
    """The FeedMessage of the buses on the road at ``at``: a VehiclePosition and a TripUpdate
    per bus (trips of the service day ``at`` falls in, with their seeded delays)."""
    local = at.astimezone(ZONE)
    day = local.date()
    now = local.hour * 3600 + local.minute * 60 + local.second
    msg = rt.FeedMessage()
    msg.header.gtfs_realtime_version = "2.0"
    msg.header.incrementality = rt.FeedHeader.FULL_DATASET
    msg.header.timestamp = int(at.timestamp())
    for line in lines.lines:
        for trip_id, direction, dep in trips(line):
            stops, offsets, legs = _calls(line, direction)
            late = delay(lines, trip_id, day)
            t = now - dep - late
            if not 0 <= t < offsets[-1]:
                continue
            i = max(j for j, off in enumerate(offsets) if off <= t)
            if i == len(legs):
                continue
            moving = t - offsets[i]
            run = offsets[i + 1] - offsets[i] - DWELL_S
            lon, lat, bearing = _along(legs[i], (moving - (DWELL_S if i else 0)) / run)
            entity = msg.entity.add(id=f"vehicle-{trip_id}")
            vp = entity.vehicle
            vp.trip.trip_id, vp.trip.route_id = trip_id, line.route_id
            vp.trip.start_date = f"{day:%Y%m%d}"
            vp.vehicle.id = f"bus-{trip_id}"
            vp.position.latitude, vp.position.longitude = lat, lon
            vp.position.bearing, vp.position.speed = bearing, SPEED_M_S
            vp.timestamp = int(at.timestamp())
            vp.stop_id = stops[i + 1]
            update = msg.entity.add(id=f"trip-{trip_id}").trip_update
            update.trip.trip_id, update.trip.route_id = trip_id, line.route_id
            update.trip.start_date = f"{day:%Y%m%d}"
            stu = update.stop_time_update.add(stop_sequence=i + 2, stop_id=stops[i + 1])
            stu.arrival.delay = late
            update.timestamp = int(at.timestamp())
    return msg
