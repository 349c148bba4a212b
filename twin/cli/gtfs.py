"""``twin gtfs``: a static feed into the twin (``import``), its realtime kept current (``rt``).

Only Typer and rich at module level, like every command group: the feed reader, the database
and the Protobuf bindings load when a command runs.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Annotated

import typer

from twin.cli.common import allow_quick_exit, out, settings, user_errors

gtfs_app = typer.Typer(
    help="GTFS timetables (static) and GTFS-realtime trip updates and vehicle positions.",
    no_args_is_help=True,
)
LOGGER = logging.getLogger(__name__)

FeedName = Annotated[str, typer.Option("--feed", help="The feed's name in the twin, e.g. hsl.")]


@gtfs_app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="The GTFS zip (agency, stops, routes, trips...).")],
    feed: FeedName,
    visibility: Annotated[
        str | None,
        typer.Option(help="Who may see the stops: public (default for furniture), agent..."),
    ] = None,
    licence: Annotated[str | None, typer.Option(help="Licence of the feed.")] = None,
    attribution: Annotated[str | None, typer.Option(help="Attribution it asks for.")] = None,
) -> None:
    """Import a static feed: stops become bus_stop furniture; trips, stop times and calendars
    are kept. All-or-nothing; re-importing replaces the feed's timetable."""
    from geodata.importers.base import ImportOptions
    from sensors_bridge.gtfs.store import import_feed
    from twin.cli.data import audit_import
    from twin.runtime import Runtime

    with user_errors():
        s = settings()
        with Runtime(s) as rt:
            rt.check()
            options = ImportOptions.from_settings(
                s, licence=licence, attribution=attribution, visibility=visibility
            )
            report = import_feed(rt.engine, path, feed=feed, options=options)
            audit_import(rt, report.stops)
        for line in report.lines():
            out.print(line, highlight=False)
    allow_quick_exit()


@gtfs_app.command("rt")
def realtime(
    sources: Annotated[
        list[str],
        typer.Argument(help="GTFS-realtime URLs or files (TripUpdates, VehiclePositions)."),
    ],
    feed: FeedName,
    once: Annotated[
        bool, typer.Option("--once", help="Fetch each source once, then stop.")
    ] = False,
    interval: Annotated[
        float, typer.Option(min=1.0, help="Seconds between polls (without --once).")
    ] = 30.0,
) -> None:
    """Fetch GTFS-realtime FeedMessages and keep them; then store each stop's next departure
    where it changed (metrics next_departure, next_departure_delay), so a stop device's latest
    state is its next bus. With --once a corrupt source exits non-zero; polling, it is logged
    and the previous state stays."""
    from sensors_bridge.gtfs.live import record_next_departures
    from sensors_bridge.gtfs.realtime import fetch, record
    from sensors_bridge.store import BatchWriter
    from twin.runtime import Runtime

    with user_errors():
        s = settings()
        with Runtime(s) as rt:
            rt.check()
            writer = BatchWriter(rt.engine, "gtfs")
            while True:
                for source in sources:
                    try:
                        summary = record(rt.engine, feed, source, fetch(source))
                    except Exception as exc:
                        if once or not _recoverable(exc):
                            raise
                        LOGGER.warning("%s", exc)
                        continue
                    out.print(summary.line(), highlight=False)
                try:
                    live = record_next_departures(rt.engine, feed, writer)
                    out.print(live.line(feed), highlight=False)
                except Exception as exc:
                    if once or not _recoverable(exc):
                        raise
                    LOGGER.warning("%s", exc)
                if once:
                    break
                time.sleep(interval)
    allow_quick_exit()


def _recoverable(exc: Exception) -> bool:
    """A bad or unreachable source, not a broken twin: polling goes on."""
    from geodata.errors import InputError

    return isinstance(exc, InputError | OSError)
