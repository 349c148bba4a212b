"""GTFS times: ``H:MM:SS`` past midnight (24:00 and later allowed), service days, time zones.

GTFS measures a time of day from "noon minus 12 h" of the service day in the agency's time
zone, not from midnight: on the days clocks change the two differ by an hour, and a trip at
25:30 belongs to the previous day's service. :func:`service_day_origin` is that instant.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from geodata.errors import InputError

_TIME = re.compile(r"^\s*(\d{1,3}):([0-5]\d):([0-5]\d)\s*$")
_DATE = re.compile(r"^\d{8}$")


def parse_time(value: str) -> int:
    """Seconds after the service day's origin, from ``H:MM:SS`` or ``HH:MM:SS`` (>= 24 h ok).

    :raises ValueError: anything else (the caller names the file and line).
    """
    match = _TIME.match(value)
    if match is None:
        raise ValueError(f"{value!r} is not a time H:MM:SS")
    h, m, s = (int(g) for g in match.groups())
    return h * 3600 + m * 60 + s


def parse_date(value: str) -> date:
    """A GTFS date ``YYYYMMDD``."""
    if not _DATE.match(value.strip()):
        raise ValueError(f"{value!r} is not a date YYYYMMDD")
    v = value.strip()
    return date(int(v[:4]), int(v[4:6]), int(v[6:]))


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (an agency's ``agency_timezone``)."""
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(
            f"unknown time zone {name!r}: agency_timezone must be an IANA name "
            "such as Europe/Helsinki"
        ) from None


def service_day_origin(day: date, tz: ZoneInfo) -> int:
    """Epoch seconds of "noon minus 12 h" of ``day`` in ``tz``: where GTFS times count from."""
    noon = datetime.combine(day, time(12), tzinfo=tz)
    return int(noon.timestamp()) - 12 * 3600


def local_date(epoch: int, tz: ZoneInfo) -> date:
    return datetime.fromtimestamp(epoch, tz).date()


def days_around(epoch: int, tz: ZoneInfo) -> list[date]:
    """The service days whose trips may still run at ``epoch``: that local day and the one
    before (its trips run past midnight, up to 48:00)."""
    today = local_date(epoch, tz)
    return [today - timedelta(days=1), today]


def parse_instant(value: str | None, now: int) -> int:
    """``at`` of a query: epoch seconds, or ISO 8601 with an offset (``Z``, ``+02:00``);
    ``now`` when absent.

    :raises InputError: anything else, or a date-time without offset (whose zone would be a
        guess).
    """
    if value is None or value == "":
        return now
    text = value.strip()
    if re.fullmatch(r"\d{1,12}", text):
        return _in_range(int(text), value)
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise InputError(
            f"at={value!r}: give epoch seconds or an ISO 8601 date-time such as "
            "2026-12-01T08:00:00+02:00"
        ) from None
    if moment.tzinfo is None:
        raise InputError(f"at={value!r} has no UTC offset: add one, e.g. Z or +02:00")
    return _in_range(int(moment.timestamp()), value)


#: the instants a query may ask about: 1970 to the end of 9998 (a service day before or
#: after must still be a date)
LAST_INSTANT = 253_370_764_799


def _in_range(epoch: int, value: str) -> int:
    if not 0 <= epoch <= LAST_INSTANT:
        raise InputError(f"at={value!r} is outside 1970 to 9998")
    return epoch
