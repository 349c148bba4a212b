"""What every adapter yields: a normalised :class:`Observation`; and the one adapter registry.

An adapter (MQTT, HTTP, The Things Stack, ChirpStack, GTFS-realtime) turns its protocol's
messages into observations and nothing more: validation (:mod:`sensors_bridge.validate`),
device resolution and storage (:mod:`sensors_bridge.store`) are the same for all of them.
Adapters register under their protocol name (``geodata.vocab.PROTOCOLS``); a third party's
adapter registers by dotted path (``package.module:Class``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from geodata.errors import InputError
from geodata.vocab import PROTOCOLS


@dataclass(frozen=True, slots=True)
class Observation:
    """One measurement as an adapter understood it, before validation.

    ``value`` is whatever the message carried (validation refuses what is not a finite
    number); ``device`` is the twin's device id, or the network server's id for the device
    when ``external`` (a DevEUI, a GTFS stop id), matched per ``protocol``. ``message_id`` is
    the network server's id of the message (ChirpStack's ``deduplicationId``), part of the
    idempotency key; ``raw`` the bytes it came from, kept in dead letters if it is refused.
    """

    device: str
    metric: str
    value: object
    time: datetime
    protocol: str = "http"
    unit: str | None = None
    quality: str = "good"
    raw: bytes | None = None
    message_id: str | None = None
    external: bool = False


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message (or one observation of it) that could not be ingested, and why.

    ``reason`` is a short stable code counted in ``/api/ingest/stats`` (``nan``,
    ``non_numeric``, ``future``, ``out_of_range``, ``malformed_json``...); ``detail`` says
    what exactly was wrong, for the sender.
    """

    reason: str
    detail: str
    raw: bytes
    index: int | None = None


@runtime_checkable
class Adapter(Protocol):
    """One protocol's translator: bytes in, observations (or rejections) out.

    The contract: ``decode`` does no I/O and never raises on bad input (it yields a
    :class:`Rejected` instead), so one bad message never stops ingestion.
    """

    #: the protocol name it is registered under (one of ``geodata.vocab.PROTOCOLS``)
    protocol: str

    def decode(self, body: bytes, *, received: datetime) -> Iterable[Observation | Rejected]:
        """The observations in one message body (``received``: when it arrived)."""
        ...


AdapterFactory = Callable[[], Adapter]
_REGISTRY: dict[str, AdapterFactory | str] = {}


def register(protocol: str, factory: AdapterFactory | str) -> None:
    """Register an adapter factory (or its dotted path, imported on first use)."""
    if protocol not in PROTOCOLS:
        raise InputError(f"unknown protocol {protocol!r}: choose one of {', '.join(PROTOCOLS)}")
    _REGISTRY[protocol] = factory


def adapter_for(protocol: str) -> Adapter:
    """A new adapter for ``protocol``.

    :raises InputError: no adapter is registered for it (yet).
    """
    factory = _REGISTRY.get(protocol)
    if factory is None:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise InputError(f"no adapter for protocol {protocol!r} (registered: {known})")
    if isinstance(factory, str):
        module, _, name = factory.partition(":")
        factory = getattr(importlib.import_module(module), name)
        assert callable(factory)
        _REGISTRY[protocol] = factory
    adapter = factory()
    if not isinstance(adapter, Adapter) or adapter.protocol != protocol:
        raise InputError(f"the adapter registered for {protocol!r} does not implement Adapter")
    return adapter


register("http", "sensors_bridge.http_json:JSONAdapter")
register("mqtt", "sensors_bridge.mqtt:MQTTAdapter")
register("tts", "sensors_bridge.tts:TTSAdapter")
register("chirpstack", "sensors_bridge.chirpstack:ChirpStackAdapter")
