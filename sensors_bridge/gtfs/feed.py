"""A static GTFS feed read from its zip into checked rows, or one error naming file and line.

Plain ``csv`` over the zip members (no pandas): a feed's tables are read once, each value is
checked where it is read, and the first bad one stops the import with a message such as
``feed.zip: stop_times.txt line 12: arrival_time '7:5' is not a time H:MM:SS``. Nothing is
written here; :mod:`sensors_bridge.gtfs.store` writes the result in one transaction.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TypeVar

from geodata.errors import ImportFailed, InputError
from sensors_bridge.gtfs.times import parse_date, parse_time, zone

T = TypeVar("T")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
#: location_type values that are a place a vehicle stops at (GTFS: empty or 0)
BOARDING = ("", "0")


@dataclass(frozen=True)
class Stop:
    stop_id: str
    name: str | None
    lon: float
    lat: float
    where: str


@dataclass
class Feed:
    """Every table the twin keeps, as rows ready to COPY (``None`` for an empty cell)."""

    timezone: str
    agency: str | None
    stops: list[Stop] = field(default_factory=list)
    routes: list[tuple[str, str | None, str | None, int | None]] = field(default_factory=list)
    trips: list[tuple[str, str, str, str | None, int | None]] = field(default_factory=list)
    stop_times: list[tuple[str, int, str, int | None, int | None]] = field(default_factory=list)
    calendars: list[tuple[str, list[bool], date, date]] = field(default_factory=list)
    calendar_dates: list[tuple[str, date, bool]] = field(default_factory=list)
    #: what was left out and why (stations, entrances), for the report
    skipped: dict[str, int] = field(default_factory=dict)


class _Table:
    """One member of the zip: rows as dicts, each with the ``where`` of its line."""

    def __init__(self, archive: zipfile.ZipFile, file: str, member: str) -> None:
        self.file, self.member = file, member
        raw = archive.read(member)
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ImportFailed(f"{file}: {member} is not UTF-8 ({exc.reason})") from None
        self.reader = csv.DictReader(io.StringIO(text, newline=""))
        self.columns = [c.strip() for c in self.reader.fieldnames or []]
        self.reader.fieldnames = self.columns

    def require(self, *columns: str) -> None:
        missing = [c for c in columns if c not in self.columns]
        if missing:
            raise ImportFailed(
                f"{self.file}: {self.member} has no column {', '.join(missing)} (GTFS requires it)"
            )

    def rows(self) -> Iterator[tuple[str, dict[str, str]]]:
        for row in self.reader:
            yield (
                f"{self.member} line {self.reader.line_num}",
                {k: (v or "").strip() for k, v in row.items() if k is not None},
            )

    def fail(self, where: str, message: str) -> ImportFailed:
        return ImportFailed(f"{self.file}: {where}: {message}")


def _value(
    table: _Table, where: str, row: dict[str, str], col: str, parse: Callable[[str], T]
) -> T:
    try:
        return parse(row[col])
    except (ValueError, KeyError) as exc:
        raise table.fail(where, f"{col} {row.get(col, '')!r}: {exc}") from None


def _required(table: _Table, where: str, row: dict[str, str], col: str) -> str:
    value = row.get(col, "")
    if not value:
        raise table.fail(where, f"{col} is empty (GTFS requires it)")
    return value


def _unique(t: _Table, where: str, seen: set[T], key: T, what: str) -> None:
    if key in seen:
        raise t.fail(where, f"{what} {key!r} appears twice")
    seen.add(key)


def _optional_int(value: str) -> int | None:
    return int(value) if value else None


def _optional_time(value: str) -> int | None:
    return parse_time(value) if value else None


def _number(low: float, high: float) -> Callable[[str], float]:
    def parse(value: str) -> float:
        v = float(value)
        if not low <= v <= high:
            raise ValueError(f"outside {low:g}..{high:g}")
        return v

    return parse


def read_feed(path: Path) -> Feed:
    """Read and check the feed at ``path``.

    :raises ImportFailed: not a zip, a required file or column missing, a bad value (the
        message names the file and line), a stop time naming an unknown trip or stop.
    """
    file = path.name
    if not path.exists():
        raise ImportFailed(f"{path}: no such file")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ImportFailed(f"{file}: not a GTFS zip ({exc})") from None
    with archive:
        names = {Path(n).name: n for n in archive.namelist() if not n.endswith("/")}

        def maybe(member: str) -> _Table | None:
            return _Table(archive, file, names[member]) if member in names else None

        def need(member: str) -> _Table:
            found = maybe(member)
            if found is None:
                raise ImportFailed(f"{file}: {member} is missing (GTFS requires it)")
            return found

        feed = _agency(need("agency.txt"))
        _stops(feed, need("stops.txt"))
        trips = _trips(feed, need("trips.txt"), _routes(feed, need("routes.txt")))
        cal, dates = maybe("calendar.txt"), maybe("calendar_dates.txt")
        if cal is None and dates is None:
            raise ImportFailed(
                f"{file}: neither calendar.txt nor calendar_dates.txt is there (GTFS requires one)"
            )
        _calendars(feed, cal, dates)
        _stop_times(feed, need("stop_times.txt"), trips)
    return feed


def _agency(t: _Table) -> Feed:
    t.require("agency_timezone")
    zones = {(r["agency_timezone"], r.get("agency_name") or None) for _, r in t.rows()}
    if not zones:
        raise ImportFailed(f"{t.file}: agency.txt has no agency")
    timezones = {z for z, _ in zones}
    if len(timezones) > 1:
        raise ImportFailed(
            f"{t.file}: agency.txt names several time zones ({', '.join(sorted(timezones))}); "
            "GTFS requires one per feed"
        )
    tz, agency = sorted(zones, key=lambda z: z[1] or "")[0]
    try:
        zone(tz)
    except InputError as exc:
        raise ImportFailed(f"{t.file}: agency.txt: {exc}") from None
    return Feed(timezone=tz, agency=agency)


def _stops(feed: Feed, t: _Table) -> None:
    t.require("stop_id")
    seen: set[str] = set()
    for where, r in t.rows():
        stop_id = _required(t, where, r, "stop_id")
        _unique(t, where, seen, stop_id, "stop_id")
        if r.get("location_type", "") not in BOARDING:
            key = "stations, entrances and nodes (not bus stops)"
            feed.skipped[key] = feed.skipped.get(key, 0) + 1
            continue
        lat = _value(t, where, r, "stop_lat", _number(-90, 90))
        lon = _value(t, where, r, "stop_lon", _number(-180, 180))
        feed.stops.append(Stop(stop_id, r.get("stop_name") or None, lon, lat, where))
    if not feed.stops:
        raise ImportFailed(f"{t.file}: stops.txt has no stop (location_type 0)")


def _routes(feed: Feed, t: _Table) -> set[str]:
    t.require("route_id")
    seen: set[str] = set()
    for where, r in t.rows():
        route = _required(t, where, r, "route_id")
        kind = _value(t, where, r, "route_type", _optional_int) if "route_type" in r else None
        _unique(t, where, seen, route, "route_id")
        feed.routes.append(
            (route, r.get("route_short_name") or None, r.get("route_long_name") or None, kind)
        )
    return seen


def _trips(feed: Feed, t: _Table, routes: set[str]) -> set[str]:
    t.require("route_id", "service_id", "trip_id")
    seen: set[str] = set()
    for where, r in t.rows():
        trip, route = _required(t, where, r, "trip_id"), _required(t, where, r, "route_id")
        if route not in routes:
            raise t.fail(where, f"route_id {route!r} is not in routes.txt")
        direction = (
            _value(t, where, r, "direction_id", _optional_int) if "direction_id" in r else None
        )
        service = _required(t, where, r, "service_id")
        _unique(t, where, seen, trip, "trip_id")
        feed.trips.append((trip, route, service, r.get("trip_headsign") or None, direction))
    return seen


def _calendars(feed: Feed, cal: _Table | None, dates: _Table | None) -> None:
    if cal is not None:
        cal.require("service_id", *WEEKDAYS, "start_date", "end_date")
        for where, r in cal.rows():
            days = [_value(cal, where, r, d, _flag) for d in WEEKDAYS]
            start = _value(cal, where, r, "start_date", parse_date)
            end = _value(cal, where, r, "end_date", parse_date)
            feed.calendars.append((_required(cal, where, r, "service_id"), days, start, end))
    if dates is not None:
        dates.require("service_id", "date", "exception_type")
        for where, r in dates.rows():
            day = _value(dates, where, r, "date", parse_date)
            added = _value(dates, where, r, "exception_type", _exception)
            feed.calendar_dates.append((_required(dates, where, r, "service_id"), day, added))


def _flag(value: str) -> bool:
    if value not in ("0", "1"):
        raise ValueError("must be 0 or 1")
    return value == "1"


def _exception(value: str) -> bool:
    if value not in ("1", "2"):
        raise ValueError("must be 1 (added) or 2 (removed)")
    return value == "1"


def _stop_times(feed: Feed, t: _Table, trips: set[str]) -> None:
    t.require("trip_id", "stop_sequence", "stop_id")
    stops = {s.stop_id for s in feed.stops}
    seen: set[tuple[str, int]] = set()
    for where, r in t.rows():
        trip, stop = _required(t, where, r, "trip_id"), _required(t, where, r, "stop_id")
        if trip not in trips:
            raise t.fail(where, f"trip_id {trip!r} is not in trips.txt")
        if stop not in stops:
            raise t.fail(where, f"stop_id {stop!r} is not a stop of stops.txt")
        seq = _value(t, where, r, "stop_sequence", _sequence)
        arrival = (
            _value(t, where, r, "arrival_time", _optional_time) if "arrival_time" in r else None
        )
        departure = (
            _value(t, where, r, "departure_time", _optional_time) if "departure_time" in r else None
        )
        _unique(t, where, seen, (trip, seq), "trip_id and stop_sequence")
        feed.stop_times.append((trip, seq, stop, arrival, departure))


def _sequence(value: str) -> int:
    v = int(value)
    if v < 0:
        raise ValueError("must be 0 or more")
    return v
