"""The MQTT adapter's decoding: topic ``twin/{device_id}/{metric}``, payload a number or JSON.

The payload is a plain number (``21.5``) or ``{"value": 21.5, "at": "RFC 3339"}`` (optional
``unit``, ``quality``); without ``at`` the receipt time is the observation's time. Decoding is
pure (topic and bytes in, one :class:`Observation` or :class:`Rejected` out) and never raises.

The seam for configurable topic mappings is :class:`TopicPattern`: a mapping is a pattern
with ``{device_id}`` and ``{metric}`` placeholders, and :class:`MQTTAdapter` takes a tuple of
them (first match wins); the default is :data:`DEFAULT_PATTERN`. The bridge subscribes to
each pattern's :attr:`TopicPattern.filter`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

import orjson

from geodata.errors import InputError
from sensors_bridge.model import Observation, Rejected

_PLACEHOLDER = re.compile(r"\{(device_id|metric)\}")
_JSON_FIELDS = frozenset({"value", "at", "unit", "quality"})


@dataclass(frozen=True)
class TopicPattern:
    """A topic layout such as ``twin/{device_id}/{metric}``: each placeholder is one level."""

    pattern: str

    def __post_init__(self) -> None:
        found = _PLACEHOLDER.findall(self.pattern)
        if sorted(found) != ["device_id", "metric"]:
            raise InputError(
                f"topic pattern {self.pattern!r} must hold {{device_id}} and {{metric}} once each"
            )
        for level in self.pattern.split("/"):
            if ("{" in level and not _PLACEHOLDER.fullmatch(level)) or level in ("+", "#"):
                raise InputError(
                    f"topic pattern {self.pattern!r}: a placeholder must be a whole level "
                    "and wildcards are not allowed"
                )

    @property
    def filter(self) -> str:
        """The MQTT subscription filter matching it (each placeholder becomes ``+``)."""
        return _PLACEHOLDER.sub("+", self.pattern)

    @cached_property
    def _layout(self) -> tuple[int, int, int, tuple[tuple[int, str], ...]]:
        """(levels, device's level, metric's level, the literal levels): read once, since
        every message of a busy bridge is matched against it."""
        wanted = self.pattern.split("/")
        slots = {m.group(1): i for i, w in enumerate(wanted) if (m := _PLACEHOLDER.fullmatch(w))}
        literals = tuple((i, w) for i, w in enumerate(wanted) if i not in slots.values())
        return len(wanted), slots["device_id"], slots["metric"], literals

    def match(self, topic: str) -> tuple[str, str] | None:
        """(device_id, metric) when ``topic`` has this layout, else None."""
        size, device_at, metric_at, literals = self._layout
        levels = topic.split("/")
        if len(levels) != size:
            return None
        for i, literal in literals:
            if levels[i] != literal:
                return None
        device, metric = levels[device_at], levels[metric_at]
        return (device, metric) if device and metric else None


DEFAULT_PATTERN = TopicPattern("twin/{device_id}/{metric}")


class MQTTAdapter:
    """MQTT messages (protocol ``mqtt``): the topic names the device and metric."""

    protocol = "mqtt"

    def __init__(self, patterns: tuple[TopicPattern, ...] = (DEFAULT_PATTERN,)) -> None:
        self.patterns = patterns

    def decode(
        self, body: bytes, *, received: datetime, topic: str = ""
    ) -> Iterable[Observation | Rejected]:
        """The Adapter interface: one message is one observation (or one rejection)."""
        return [self.decode_message(topic, body, received)]

    def decode_message(self, topic: str, body: bytes, received: datetime) -> Observation | Rejected:
        """One MQTT message as an observation; never raises."""
        names = next((m for p in self.patterns if (m := p.match(topic))), None)
        raw = topic.encode("utf-8", "replace") + b" " + body
        if names is None:
            layouts = ", ".join(p.pattern for p in self.patterns)
            return Rejected("bad_topic", f"topic {topic!r} is not {layouts}", raw)
        device, metric = names
        try:
            doc: Any = orjson.loads(body)
        except orjson.JSONDecodeError:
            return Rejected("malformed_payload", _PAYLOAD_HELP, raw)
        fields = _fields(doc, received)
        if isinstance(fields, str):
            return Rejected("malformed_payload", f"{fields} ({_PAYLOAD_HELP})", raw)
        value, at, unit, quality = fields
        return Observation(
            device=device,
            metric=metric,
            value=value,
            time=at,
            protocol="mqtt",
            unit=unit,
            quality=quality,
            raw=raw,
        )


_PAYLOAD_HELP = 'the payload must be a number or {"value": n, "at": "RFC 3339"}'


def _fields(doc: Any, received: datetime) -> tuple[object, datetime, str | None, str] | str:
    """(value, at, unit, quality) from a decoded payload, or what is wrong with it."""
    if isinstance(doc, int | float) and not isinstance(doc, bool):
        return doc, received, None, "good"
    if not isinstance(doc, dict):
        return "not a number or a JSON object"
    if "value" not in doc:
        return "no value"
    unknown = sorted(set(doc) - _JSON_FIELDS)
    if unknown:
        return f"unknown fields {', '.join(unknown)}"
    for key in ("at", "unit", "quality"):
        if key in doc and not isinstance(doc[key], str):
            return f"{key} must be a string"
    at = received
    if "at" in doc:
        try:
            at = datetime.fromisoformat(doc["at"])
        except ValueError:
            return f"at {doc['at']!r} is not an RFC 3339 time"
    return doc["value"], at, doc.get("unit") or None, doc.get("quality", "good")
