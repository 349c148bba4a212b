"""Write a static GTFS feed into the twin in one transaction: stops, timetable, calendars.

Stops go through the import pipeline (:func:`geodata.importers.pipeline.import_reader`, the
one place that reprojects) as ``bus_stop`` furniture of the source ``gtfs:NAME``, keyed by
``stop_id``: a re-import updates them and removes the stops the feed no longer has. The
timetable replaces the feed's previous one; its recorded realtime stays. Any error rolls all
of it back.

Each stop is also a device of protocol ``gtfs`` bound to its furniture feature, so the one
object referential holds: the bus stop on the map, its device in the registry, and what is
known live about it (its next departures) meet on one feature. The device id is
``gtfs-FEED-STOP``, its external id ``FEED:STOP`` (stop ids are unique only within a feed, and
external ids are unique per protocol); devices of stops a re-import removed go with them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from geodata.errors import InputError
from geodata.importers.base import ImportOptions, Reader, SourceBatch
from sensors_bridge.gtfs.feed import Feed, Stop, read_feed

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

    from geodata.importers.report import ImportReport

#: what a feed name may be (it is part of a source name)
FEED_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_NAME = re.compile(FEED_NAME)


def check_feed_name(name: str) -> str:
    """A feed name: letters, digits, ``_ . -``, at most 64 (it is part of a source name)."""
    if not _NAME.match(name):
        raise InputError(
            f"feed name {name!r}: use 1 to 64 letters, digits, '_', '.' or '-' "
            "(starting with a letter or digit)"
        )
    return name


def stop_source(feed: str) -> str:
    """The furniture source a feed's stops are stored under."""
    return f"gtfs:{feed}"


class StopsReader(Reader):
    """A feed's stops as an import reader: points in EPSG:4326, kind ``bus_stop``."""

    name: ClassVar[str] = "gtfs"
    unique_ids: ClassVar[bool] = False

    def __init__(self, path: Path, feed: str, stops: list[Stop]) -> None:
        super().__init__(path, "furniture")
        self.feed, self.stops = feed, stops

    def open(self) -> None:
        """The feed was read and checked by :func:`sensors_bridge.gtfs.feed.read_feed`."""

    def source_crs(self) -> int | None:
        return 4326  # GTFS coordinates are WGS 84 by definition

    def count(self) -> int | None:
        return len(self.stops)

    def batches(self, size: int) -> Iterator[SourceBatch]:
        import pandas as pd
        import shapely

        for start in range(0, len(self.stops), size):
            chunk = self.stops[start : start + size]
            points = shapely.points([(s.lon, s.lat) for s in chunk])
            yield SourceBatch(
                geoms=np.array(shapely.to_wkb(points), dtype=object),
                props=pd.DataFrame(
                    {"kind": ["bus_stop"] * len(chunk), "name": [s.name for s in chunk]}
                ),
                ids=np.array([s.stop_id for s in chunk], dtype=object),
                where=np.array([s.where for s in chunk], dtype=object),
                attrs=np.array(
                    [json.dumps({"gtfs_feed": self.feed, "stop_id": s.stop_id}) for s in chunk],
                    dtype=object,
                ),
            )


@dataclass
class FeedReport:
    feed: str
    timezone: str
    stops: ImportReport
    routes: int
    trips: int
    stop_times: int
    services: int
    skipped: dict[str, int]
    #: the stops' ``gtfs`` devices, bound to their furniture
    devices: int = 0

    def lines(self) -> list[str]:
        skipped = ", ".join(f"{n} {why}" for why, n in self.skipped.items())
        return [
            f"feed {self.feed!r} ({self.timezone}): {self.stops.imported} stops as bus_stop "
            f"furniture (new {self.stops.inserted}, deleted {self.stops.deleted}), "
            f"{self.routes} routes, {self.trips} trips, {self.stop_times} stop times, "
            f"{self.services} services, {self.devices} stop devices"
            + (f"; skipped {skipped}" if skipped else "")
        ]


def import_feed(
    engine: Engine, path: Path, *, feed: str, options: ImportOptions | None = None
) -> FeedReport:
    """Read, check and store the feed at ``path`` as ``feed``, all-or-nothing."""
    check_feed_name(feed)
    data = read_feed(Path(path))
    with engine.begin() as conn:
        return write_feed(conn, Path(path), feed, data, options or ImportOptions.from_settings())


def write_feed(
    conn: Connection, path: Path, feed: str, data: Feed, options: ImportOptions
) -> FeedReport:
    """Store ``data`` inside the caller's transaction."""
    from geodata.importers.pipeline import import_reader
    from geodata.pg import raw_connection

    stops = import_reader(
        conn,
        StopsReader(path, feed, data.stops),
        layer="furniture",
        source=stop_source(feed),
        options=replace(options, prune=True),
    )
    devices = bind_stop_devices(conn, feed, options.visibility or "public")
    raw = raw_connection(conn)
    raw.execute(
        "INSERT INTO gtfs_feeds (name, timezone, agency) VALUES (%s, %s, %s) "
        "ON CONFLICT (name) DO UPDATE SET timezone = EXCLUDED.timezone, "
        "agency = EXCLUDED.agency, imported_at = now()",
        (feed, data.timezone, data.agency),
    )
    for table in ("gtfs_calendar_dates", "gtfs_calendars", "gtfs_routes"):  # trips cascade
        raw.execute(f"DELETE FROM {table} WHERE feed = %s", (feed,))
    _copy(raw, "gtfs_routes (feed, route_id, short_name, long_name, route_type)", feed, data.routes)
    _copy(
        raw,
        "gtfs_trips (feed, trip_id, route_id, service_id, headsign, direction_id)",
        feed,
        data.trips,
    )
    _copy(
        raw,
        "gtfs_calendars (feed, service_id, weekdays, start_date, end_date)",
        feed,
        data.calendars,
    )
    _copy(raw, "gtfs_calendar_dates (feed, service_id, date, added)", feed, data.calendar_dates)
    _copy(
        raw,
        "gtfs_stop_times (feed, trip_id, stop_sequence, stop_id, arrival, departure)",
        feed,
        data.stop_times,
    )
    services = {c[0] for c in data.calendars} | {c[0] for c in data.calendar_dates}
    return FeedReport(
        feed,
        data.timezone,
        stops,
        len(data.routes),
        len(data.trips),
        len(data.stop_times),
        len(services),
        data.skipped,
        devices,
    )


def stop_device_id(feed: str, stop_id: str) -> str:
    """The registry id of a stop's device."""
    return f"gtfs-{feed}-{stop_id}"


def bind_stop_devices(conn: Connection, feed: str, visibility: str) -> int:
    """One ``gtfs`` device per stop of ``feed``, bound to its furniture feature (upserted,
    located where the stop is); devices of stops no longer in the feed are removed. How many."""
    from sqlalchemy import text

    params = {"feed": feed, "src": stop_source(feed), "vis": visibility}
    conn.execute(
        text(
            "DELETE FROM devices d WHERE d.protocol = 'gtfs' AND d.attrs->>'gtfs_feed' = :feed "
            "AND NOT EXISTS (SELECT 1 FROM furniture f WHERE f.id = d.feature_id "
            "AND f.source = :src AND f.scenario_id IS NULL)"
        ),
        params,
    )
    done = conn.execute(
        text(
            "INSERT INTO devices (id, protocol, type, external_id, visibility, layer, feature_id, "
            "geom, attrs) "
            "SELECT 'gtfs-' || :feed || '-' || f.source_id, 'gtfs', 'bus_stop', "
            ":feed || ':' || f.source_id, :vis, 'furniture', f.id, ST_Force3D(f.geom), "
            "jsonb_build_object('gtfs_feed', CAST(:feed AS text), 'stop_id', f.source_id, "
            "'name', f.name) "
            "FROM furniture f WHERE f.source = :src AND f.scenario_id IS NULL "
            "ON CONFLICT (id) DO UPDATE SET (external_id, visibility, layer, feature_id, geom, "
            "attrs, status) = (EXCLUDED.external_id, EXCLUDED.visibility, EXCLUDED.layer, "
            "EXCLUDED.feature_id, EXCLUDED.geom, EXCLUDED.attrs, 'active')"
        ),
        params,
    )
    return done.rowcount


def _copy(raw: Any, target: str, feed: str, rows: list[Any]) -> None:
    with raw.cursor() as cur, cur.copy(f"COPY {target} FROM STDIN") as copy:
        for row in rows:
            copy.write_row((feed, *row))
