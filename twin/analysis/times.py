"""Instants given to the analyses: ISO 8601 with an offset, or naive in ``TWIN_TIMEZONE``.

A naive time without that setting is refused rather than read as UTC or as the server's
local time: a balcony's sun hours an hour off would look right and be wrong.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from geodata.errors import InputError


def zone(timezone: str | None, what: str) -> ZoneInfo:
    if timezone is None:
        raise InputError(
            f"{what} has no time zone: give an offset (e.g. 2026-06-21T12:00:00+02:00) "
            "or set TWIN_TIMEZONE (e.g. TWIN_TIMEZONE=Europe/Paris)"
        )
    return ZoneInfo(timezone)


def parse_instant(value: str | datetime, timezone: str | None, what: str = "the time") -> datetime:
    """An aware datetime; naive input is placed in ``timezone`` (TWIN_TIMEZONE)."""
    if isinstance(value, datetime):
        at = value
    else:
        try:
            at = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InputError(
                f"{what} {value!r} is not an ISO 8601 time: write e.g. 2026-06-21T12:00:00+02:00"
            ) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=zone(timezone, f"{what} {value!s}"))
    return at


def day_bounds(
    day: date, timezone: str | None, what: str = "the date"
) -> tuple[datetime, datetime]:
    """A civil day's first and last instant in TWIN_TIMEZONE (a date alone names no zone)."""
    tz = zone(timezone, f"{what} {day.isoformat()}")
    start = datetime.combine(day, time(0, 0), tzinfo=tz)
    return start, datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=tz)
