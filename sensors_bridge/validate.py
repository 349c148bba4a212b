"""The one place that decides whether an observation may be stored.

Refused: a value that is not a number (booleans included: ``true`` is no measurement), NaN
or infinity, a time more than :data:`MAX_AHEAD` in the future (a device with a wrong clock
would otherwise own ``latest_state`` until that time), a time without a time zone, a quality
outside the vocabulary, text PostgreSQL cannot store (NUL) or too long for a key, and a value
outside its metric's declared range (table ``metrics``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from geodata.vocab import QUALITIES
from sensors_bridge.model import Observation

#: how far ahead of the twin's clock an observation time may be
MAX_AHEAD = timedelta(minutes=5)
#: longest device id or metric name accepted (a key, not a document)
MAX_NAME = 200


@dataclass(frozen=True, slots=True)
class Range:
    """A metric's declared plausible values (either bound may be open)."""

    min_value: float | None = None
    max_value: float | None = None

    def contains(self, value: float) -> bool:
        low = self.min_value is None or value >= self.min_value
        return low and (self.max_value is None or value <= self.max_value)


def problem(
    obs: Observation, *, now: datetime, ranges: Mapping[str, Range]
) -> tuple[str, str] | None:
    """``(reason, detail)`` when ``obs`` may not be stored, else None."""
    named = (("device", obs.device, 1), ("metric", obs.metric, 1))
    optional = (("unit", obs.unit, 0), ("message_id", obs.message_id, 0))
    for name, field_text, shortest in (*named, *optional):
        if field_text is None:
            continue
        if not shortest <= len(field_text) <= MAX_NAME or "\x00" in field_text:
            detail = f"{name} must have {shortest} to {MAX_NAME} characters and no NUL"
            return f"bad_{name}", detail
    value = obs.value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "non_numeric", f"value {value!r} of {obs.metric!r} is not a number"
    if not math.isfinite(value):
        return "nan", f"value {value!r} of {obs.metric!r} is not a finite number"
    if obs.time.tzinfo is None:
        return "bad_time", "the time has no time zone: send RFC 3339 with Z or an offset"
    if obs.time > now + MAX_AHEAD:
        ahead = (obs.time - now).total_seconds()
        return "future", f"time {obs.time.isoformat()} is {ahead:.0f} s ahead of the twin's clock"
    if obs.quality not in QUALITIES:
        return "bad_quality", f"quality {obs.quality!r}: choose one of {', '.join(QUALITIES)}"
    declared = ranges.get(obs.metric)
    if declared is not None and not declared.contains(float(value)):
        return (
            "out_of_range",
            f"{obs.metric} = {value} is outside its declared range "
            f"[{declared.min_value}, {declared.max_value}]",
        )
    return None
