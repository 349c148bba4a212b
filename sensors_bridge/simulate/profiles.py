"""What each kind of demo device measures at a given time: pure, deterministic with a seed.

Why pure functions of (kind, metric, device, time, seed): the simulator's streams can then be
replayed (a test knows the value a device sent at ``t`` without listening), and a restart of
``twin simulate`` continues the same day instead of starting another one. The noise of a value
comes from a hash of (seed, device, metric, time bucket), never from a shared random state.

The daily profiles are those a city sees, in the district's local time (Helsinki):

- ``parking`` ``occupied`` (0 or 1): occupancy probability by hour of day, higher on working
  days; a bay keeps its state for a quarter of an hour (cars park, they do not flicker).
- ``lamp`` ``power`` (W): off while the sun is up (sunrise and sunset from the solar
  declination at the district's latitude), 36 W after dusk, dimmed to half from midnight to 5.
- ``smart_lamp``: a lamp with a presence sensor, ``power`` as a lamp and ``presence``, the
  passers-by it saw in the last minute (often someone by day, seldom at night), what the
  lamp-dimming rule reads.
- ``parking_disabled``: a bay reserved for disabled badge holders, ``occupied`` as a bay
  and ``badge`` (1 while its reader sees a disabled badge in the car): most cars there have
  one, some do not (what the disabled-bay rule alerts the agents of).
- ``co2`` ``co2`` (ppm): outdoor air (about 420) when a school is empty; on school days from
  8:00 to 15:45 it rises through each 45-minute lesson and falls in the 15-minute break when
  the windows open.
- ``flood_gauge`` ``stage_m`` (m above the gauge's zero): the sea's usual level, then a storm
  surge from ``storm_start``: a rise of ``surge_m`` over three hours, then a slow fall.
- ``air_quality`` ``pm2_5`` and ``no2`` (µg/m³): background plus the morning and evening
  traffic peaks.
- ``pressure`` ``pressure_bar``: a water main's pressure, lowest at the morning and evening
  demand peaks, highest at night.
- ``camera`` ``online``: 1, except a rare five-minute outage.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

#: the demo district's clock and latitude (sunrise and sunset)
ZONE = ZoneInfo("Europe/Helsinki")
LATITUDE = 60.17
#: local solar noon in Helsinki, in hours of standard time (24.94 E on a 30 E meridian)
SOLAR_NOON = 12 + (30 - 24.94) / 15

#: kind -> its metrics and their UCUM units
METRICS: dict[str, dict[str, str]] = {
    "parking": {"occupied": "1"},
    "parking_disabled": {"occupied": "1", "badge": "1"},
    "lamp": {"power": "W"},
    "smart_lamp": {"power": "W", "presence": "1"},
    "co2": {"co2": "ppm"},
    "flood_gauge": {"stage_m": "m"},
    "air_quality": {"pm2_5": "ug/m3", "no2": "ug/m3"},
    "pressure": {"pressure_bar": "bar"},
    "camera": {"online": "1"},
}
#: the plausible range of each metric (the twin refuses what lies outside: a dead letter)
RANGES: dict[str, tuple[float, float, str]] = {
    "occupied": (0, 1, "a parking bay is taken (1) or free (0)"),
    "power": (0, 1000, "electric power drawn"),
    "co2": (300, 10000, "carbon dioxide indoors"),
    "stage_m": (-5, 10, "water above the gauge's zero (zero_altitude_m in its attrs)"),
    "pm2_5": (0, 1000, "fine particles"),
    "no2": (0, 2000, "nitrogen dioxide"),
    "pressure_bar": (0, 16, "water main pressure"),
    "online": (0, 1, "the device answers (1) or not (0)"),
    "badge": (0, 1, "a disabled badge is seen in the car on the bay (1) or not (0)"),
    "presence": (0, 1000, "passers-by seen in the last minute"),
}


@dataclass(frozen=True)
class Scenario:
    """What the streams share: the seed of their noise and when the storm comes."""

    seed: int = 10
    storm_start: datetime | None = None
    surge_m: float = 1.3
    base_stage_m: float = 0.35


def noise(seed: int, device: str, metric: str, bucket: int) -> float:
    """A number in [0, 1) fixed by its arguments (the same on every machine and run)."""
    key = f"{seed}|{device}|{metric}|{bucket}".encode()
    n = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")
    return n / 2**64


def value(kind: str, metric: str, device: str, at: datetime, scenario: Scenario) -> float:
    """The value ``device`` (a ``kind`` of :data:`METRICS`) reports for ``metric`` at ``at``."""
    local = at.astimezone(ZONE)
    hour = local.hour + local.minute / 60 + local.second / 3600
    workday = local.weekday() < 5
    second = int(at.timestamp())

    def jitter(width: float, bucket: int = second) -> float:
        return (noise(scenario.seed, device, metric, bucket) - 0.5) * width

    if kind in ("parking", "parking_disabled"):
        quarter = second // 900
        taken = noise(scenario.seed, device, "occupied", quarter) < occupancy(hour, workday)
        if metric == "badge":  # the same car all the quarter: most have a badge
            return float(taken and noise(scenario.seed, device, "badge", quarter) < 0.7)
        return float(taken)
    if kind == "smart_lamp" and metric == "presence":
        busy = 0.6 if 7 <= hour < 22 else 0.08
        return float(noise(scenario.seed, device, metric, second // 60) < busy)
    if kind in ("lamp", "smart_lamp"):
        if daylight(local):
            return 0.0
        full = 36.0 if not 0 <= hour < 5 else 18.0
        return round(full + jitter(1.0), 2)
    if kind == "co2":
        return round(classroom_co2(hour, workday) + jitter(30.0), 1)
    if kind == "flood_gauge":
        return round(stage(at, scenario) + jitter(0.02), 3)
    if kind == "air_quality":
        peaks = _peak(hour, 8.0, 1.2) + _peak(hour, 16.75, 1.5)
        if metric == "pm2_5":
            return round(max(0.5, 5.0 + 9.0 * peaks * (1 if workday else 0.5) + jitter(2.0)), 1)
        if metric == "no2":
            return round(max(1.0, 11.0 + 32.0 * peaks * (1 if workday else 0.4) + jitter(4.0)), 1)
    if kind == "pressure":
        demand = _peak(hour, 7.5, 1.5) + 0.8 * _peak(hour, 19.5, 2.0)
        return round(4.9 - 0.7 * demand + jitter(0.06), 3)
    if kind == "camera":
        return float(noise(scenario.seed, device, metric, second // 300) > 0.01)
    raise KeyError(f"no profile for {kind} {metric}")


def occupancy(hour: float, workday: bool) -> float:
    """Share of the district's kerbside bays taken at ``hour`` (residents at night, workers
    and shoppers by day)."""
    base = 0.45 if workday else 0.5
    day = 0.45 * _peak(hour, 12.5, 3.2) if workday else 0.3 * _peak(hour, 14.0, 3.5)
    evening = 0.15 * _peak(hour, 19.0, 1.5)
    return min(0.97, base + day + evening)


def daylight(local: datetime) -> bool:
    """Whether the sun is above the horizon in the district (declination approximation)."""
    day = local.timetuple().tm_yday
    decl = -23.44 * math.cos(2 * math.pi * (day + 10) / 365)
    x = -math.tan(math.radians(LATITUDE)) * math.tan(math.radians(decl))
    if x >= 1:
        return False  # polar night
    if x <= -1:
        return True  # midnight sun
    half = math.degrees(math.acos(x)) / 15
    dst = (local.utcoffset() or timedelta(0)) - timedelta(hours=2)
    hour = local.hour + local.minute / 60 - dst.total_seconds() / 3600
    return SOLAR_NOON - half <= hour <= SOLAR_NOON + half


def classroom_co2(hour: float, workday: bool) -> float:
    """CO2 (ppm) in an occupied classroom ventilated at the breaks."""
    outdoor = 420.0
    if not workday or not 8 <= hour < 15.75:
        return outdoor
    minute = (hour - 8) * 60 % 60
    rise = 1000.0 * (1 - math.exp(-45 / 40))
    if minute < 45:
        return outdoor + 1000.0 * (1 - math.exp(-minute / 40)) + 80.0 * (hour > 9)
    return outdoor + (rise + 80.0 * (hour > 9)) * math.exp(-(minute - 45) / 4)


def stage(at: datetime, scenario: Scenario) -> float:
    """Water above the gauge's zero (m): the sea's level, and the storm surge once it came."""
    base = scenario.base_stage_m + 0.05 * math.sin(2 * math.pi * at.timestamp() / 44_712)
    if scenario.storm_start is None or at < scenario.storm_start:
        return base
    hours = (at - scenario.storm_start).total_seconds() / 3600
    rising = 1 / (1 + math.exp(-(hours - 1.5) * 3))  # most of the rise within three hours
    falling = math.exp(-max(0.0, hours - 4) / 6)
    return base + scenario.surge_m * rising * falling


def _peak(hour: float, centre: float, width: float) -> float:
    return math.exp(-(((hour - centre) / width) ** 2))


def utc(at: datetime) -> str:
    """RFC 3339 in UTC with milliseconds: what every publisher writes as ``at``."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
