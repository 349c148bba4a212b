"""Which MQTT topics the bridge listens to, and which adapter reads each: the topic mappings.

A mapping is ``TOPIC=ADAPTER``. For the ``mqtt`` adapter the topic is a pattern naming the
device's and the metric's levels (``city/{device}/{metric}``; ``{device_id}`` is read the same),
and the payload is a number or ``{"value": n, "at": ...}``. For an adapter whose messages name
their device themselves (``tts``, ``chirpstack``, ``http``) the topic is a plain MQTT filter
(``v3/+/devices/+/up``), and the payload is what that network server publishes, decoded by the
same adapter as its HTTP route: one decoder per protocol, whatever carried the message.

``TWIN_MQTT_TOPICS`` holds the mappings, comma- or newline-separated, first match wins; unset,
the bridge listens to the twin's own convention and to the uplink topics of The Things Stack
v3 and ChirpStack v4 (:data:`DEFAULT_ROUTES`). Parsing is pure, so a bad mapping is refused
when the settings are read, naming the entry and what to write instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from paho.mqtt.client import topic_matches_sub

from geodata.errors import InputError
from sensors_bridge import chirpstack, tts
from sensors_bridge.model import Adapter, Observation, Rejected, adapter_for
from sensors_bridge.mqtt import MQTTAdapter, TopicPattern

#: adapters a topic may map to (``gtfs`` arrives as GTFS-realtime files, not MQTT messages)
TOPIC_ADAPTERS = ("mqtt", "tts", "chirpstack", "http")
_DEVICE = re.compile(r"\{device\}")
_HELP = (
    "write TOPIC=ADAPTER, e.g. city/{device}/{metric}=mqtt or v3/+/devices/+/up=tts "
    f"(adapters: {', '.join(TOPIC_ADAPTERS)})"
)


@dataclass(frozen=True)
class Decoded:
    """One message as its adapter read it: observations, or the event it counts as."""

    items: list[Observation | Rejected]
    event: str | None = None


@dataclass(frozen=True)
class TopicRoute:
    """One mapping: messages on topics matching :attr:`filter` go to :attr:`protocol`'s adapter."""

    filter: str
    protocol: str
    pattern: TopicPattern | None = None
    _adapter: Adapter | None = field(default=None, compare=False, repr=False)

    @classmethod
    def parse(cls, entry: str) -> TopicRoute:
        """``TOPIC=ADAPTER`` (``=mqtt`` may be left out of a pattern with placeholders)."""
        topic, sep, protocol = (p.strip() for p in entry.strip().rpartition("="))
        if not sep:
            topic, protocol = protocol, "mqtt" if "{" in protocol else ""
        if protocol not in TOPIC_ADAPTERS:
            what = f"unknown adapter {protocol!r}" if protocol else "no adapter named"
            raise InputError(f"topic mapping {entry.strip()!r}: {what}; {_HELP}")
        if protocol == "mqtt":
            try:
                pattern = TopicPattern(_DEVICE.sub("{device_id}", topic))
            except InputError as exc:
                raise InputError(f"topic mapping {entry.strip()!r}: {exc}; {_HELP}") from None
            return cls(pattern.filter, "mqtt", pattern, MQTTAdapter((pattern,)))
        if "{" in topic:
            raise InputError(
                f"topic mapping {entry.strip()!r}: a {protocol} message names its device "
                "itself: give a plain MQTT filter (+ and # wildcards), no placeholders"
            )
        check_filter(topic, entry.strip())
        return cls(topic, protocol, None, adapter_for(protocol))

    def matches(self, topic: str) -> bool:
        return bool(topic_matches_sub(self.filter, topic))

    def decode(self, topic: str, body: bytes, received: datetime) -> Decoded:
        """The message's observations, by this route's adapter; never raises on bad input.

        A network server's message that carries no observation (a TTS ``join_accept``, a
        ChirpStack ``status`` event, when a filter is wider than the uplink topic) is an
        event, counted as its HTTP route counts it."""
        adapter = self._adapter or adapter_for(self.protocol)
        if isinstance(adapter, MQTTAdapter):
            return Decoded([adapter.decode_message(topic, body, received)])
        if isinstance(adapter, tts.TTSAdapter):
            kind, items = adapter.decode_message(body, received=received)
            return Decoded(items, None if kind == "up" else kind)
        last = topic.rsplit("/", 1)[-1]
        if self.protocol == "chirpstack" and last in chirpstack.EVENTS and last != "up":
            return Decoded([], last)
        return Decoded(list(adapter.decode(body, received=received)))

    @property
    def entry(self) -> str:
        """The mapping as written in ``TWIN_MQTT_TOPICS``."""
        shown = self.pattern.pattern.replace("{device_id}", "{device}") if self.pattern else ""
        return f"{shown or self.filter}={self.protocol}"


def check_filter(topic: str, entry: str) -> None:
    """An MQTT subscription filter as the specification allows it (the bridge adds ``$share``)."""
    levels = topic.split("/")
    problem = None
    if not topic or topic.startswith("$"):
        problem = "give a topic filter (not empty, not a $ system or $share topic)"
    elif any(("+" in lv and lv != "+") or ("#" in lv and lv != "#") for lv in levels):
        problem = "+ and # must each be a whole level"
    elif "#" in levels[:-1]:
        problem = "# may only be the last level"
    if problem:
        raise InputError(f"topic mapping {entry!r}: {problem}")


def parse_routes(text: str | Iterable[str]) -> tuple[TopicRoute, ...]:
    """Mappings from ``TWIN_MQTT_TOPICS`` (comma- or newline-separated) or a list of entries."""
    entries = re.split(r"[,\n]", text) if isinstance(text, str) else list(text)
    routes = tuple(TopicRoute.parse(e) for e in entries if e.strip())
    if not routes:
        raise InputError(f"no topic mapping given; {_HELP}")
    filters = [r.filter for r in routes]
    twice = sorted({f for f in filters if filters.count(f) > 1})
    if twice:
        raise InputError(f"topic mappings: {', '.join(twice)} is mapped twice; keep one")
    return routes


def route_for(routes: Iterable[TopicRoute], topic: str) -> TopicRoute | None:
    """The first mapping whose filter matches ``topic``."""
    return next((r for r in routes if r.matches(topic)), None)


#: the twin's own topics, then the uplinks of The Things Stack v3 and ChirpStack v4
DEFAULT_TOPICS = (
    "twin/{device}/{metric}=mqtt",
    *(f"{t}=tts" for t in tts.TOPICS),
    *(f"{t}=chirpstack" for t in chirpstack.TOPICS),
)
DEFAULT_ROUTES = parse_routes(DEFAULT_TOPICS)
