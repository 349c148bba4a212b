"""The MQTT bridge: broker messages into the twin, each acknowledged only once it is stored.

paho-mqtt 2 with MQTT 5 and QoS 1, a fixed client id per instance (``twin-bridge-NAME``) and
a persistent session (``clean_start`` off, a session expiry), so a bridge that stops or is
killed gets back every message it had not acknowledged. It subscribes to
``$share/twin/<filter>`` so several bridges split the load. ``manual_ack`` holds each PUBACK
back until the batch holding the message is committed by the :class:`BatchWriter`: a crash
before the commit means redelivery, never loss, and the idempotency key turns a redelivered
observation into a counted duplicate. Messages received on an earlier connection are not
acknowledged on a later one (packet ids are per connection): the broker resends them.
Bad payloads become dead letters and are acknowledged; no message stops the bridge.

Which topics it listens to, and which adapter decodes each, are the topic mappings
(:mod:`sensors_bridge.topics`, ``TWIN_MQTT_TOPICS``): by default the twin's own
``twin/{device}/{metric}``, The Things Stack's and ChirpStack's uplink topics. Each protocol
has its own :class:`BatchWriter`, so dead letters and counts name the adapter as its HTTP
route does; a batch mixing protocols commits each protocol's part, then acknowledges all.
"""

from __future__ import annotations

import logging
import queue
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from geodata.errors import ConfigError
from sensors_bridge import deadletters
from sensors_bridge.listeners import BatchListener
from sensors_bridge.model import Observation, Rejected
from sensors_bridge.mqtt_client import LeanClient
from sensors_bridge.store import BatchWriter
from sensors_bridge.topics import DEFAULT_ROUTES, Decoded, TopicRoute, route_for

LOGGER = logging.getLogger(__name__)

#: the shared-subscription group every twin bridge joins
SHARE_GROUP = "twin"
#: how long the broker keeps a bridge's session (and queues its messages) while it is away
SESSION_EXPIRY_SECONDS = 7 * 24 * 3600
#: topics whose mapping the bridge remembers (emptied when full: a bound, not a policy)
_ROUTE_CACHE = 100_000


@dataclass
class BridgeStats:
    """What the bridge did since it started."""

    stored: int = 0
    duplicate: int = 0
    rejected: int = 0
    batches: int = 0
    #: network-server messages carrying no observation (joins, status reports), counted
    events: int = 0
    #: redelivered (DUP) messages without ``at``: stored with this receipt time, so if the
    #: first delivery had been committed too, the observation is now stored twice
    untimed_redeliveries: int = 0


@dataclass(slots=True)
class _Held:
    generation: int
    mid: int
    qos: int
    protocol: str
    decoded: Decoded
    #: when the network thread queued it (monotonic): its wait counts from here
    arrived: float = field(default_factory=time.monotonic)


@dataclass
class MQTTBridge:
    """One bridge instance: ``run()`` until ``stop`` is set (or ``request_stop()``)."""

    engine: Engine
    host: str
    port: int
    instance: str = "default"
    username: str | None = None
    password: str | None = None
    batch_size: int = 500
    #: the longest a message waits for its batch to fill, from its arrival (bench/mqtt_ingest.py
    #: --paced: p99 at 5,000/s 133-282 ms at 0.05 s, 207-436 ms at 0.1 s)
    flush_seconds: float = 0.05
    routes: tuple[TopicRoute, ...] = DEFAULT_ROUTES
    #: join the ``$share/twin/`` group (several bridges split the load); off, the bridge
    #: subscribes alone, a subscription Mosquitto restores after its own restart
    shared: bool = True
    #: TLS to the broker (mqtts://), its certificate checked against ``ca_file`` (PEM) or,
    #: without one, the system's trusted authorities; the host name is checked too
    tls: bool = False
    ca_file: Path | None = None
    #: told of every observation stored (rules, the live hub: :mod:`sensors_bridge.listeners`)
    listeners: tuple[BatchListener, ...] = ()
    stats: BridgeStats = field(default_factory=BridgeStats)
    subscribed: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.stop = threading.Event()
        # the C queue: put and get cost a tenth of queue.Queue's, twice per message
        self._inbox: queue.SimpleQueue[_Held] = queue.SimpleQueue()
        #: each topic's mapping, found once (paho's filter matcher is built per call)
        self._routes: dict[str, TopicRoute | None] = {}
        self._generation = 0
        # held by the network thread while it turns the generation over, and by the main
        # thread while it acknowledges: no PUBACK of one connection goes out on the next
        self._ack_lock = threading.Lock()
        self._writers = {
            r.protocol: BatchWriter(self.engine, r.protocol, self.listeners) for r in self.routes
        }
        self._writers.setdefault("mqtt", BatchWriter(self.engine, "mqtt", self.listeners))
        self.client = LeanClient(
            CallbackAPIVersion.VERSION2,
            client_id=f"twin-bridge-{self.instance}",
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        if self.username is not None:
            self.client.username_pw_set(self.username, self.password)
        if self.tls:
            self.client.tls_set_context(_tls_context(self.ca_file))
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.on_packet = self._receive
        self.client.on_disconnect = self._on_disconnect
        self.client.on_connect_fail = self._on_connect_fail

    @property
    def filters(self) -> list[str]:
        prefix = f"$share/{SHARE_GROUP}/" if self.shared else ""
        return [f"{prefix}{r.filter}" for r in self.routes]

    def request_stop(self) -> None:
        self.stop.set()

    def run(self) -> BridgeStats:
        """Connect (retrying with backoff), store batches, acknowledge them; until stopped."""
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = SESSION_EXPIRY_SECONDS
        self.client.connect_async(self.host, self.port, clean_start=False, properties=props)
        self.client.loop_start()
        try:
            while not self.stop.is_set():
                batch = self._collect()
                if batch:
                    self._store(batch)
        finally:
            self.client.disconnect()
            self.client.loop_stop()
        return self.stats

    # -- the network thread's side: decode and hold, never raise --------------------------

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            LOGGER.warning("the broker refused the bridge: %s", reason)
            return
        with self._ack_lock:
            self._generation += 1
        client.subscribe([(f, SubscribeOptions(qos=1)) for f in self.filters])
        LOGGER.info("bridge %s connected to %s:%s", self.instance, self.host, self.port)

    def _on_connect_fail(self, _c: mqtt.Client, _u: Any) -> None:
        # paho retries by itself; say why nothing arrives (a refused TLS handshake among them)
        LOGGER.warning("cannot reach the broker at %s:%s: retrying", self.host, self.port)

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, codes: Any, _p: Any) -> None:
        if all(not c.is_failure for c in codes):
            self.subscribed.set()
        else:
            LOGGER.error("subscription refused: %s", ", ".join(str(c) for c in codes))

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.subscribed.clear()
        with self._ack_lock:  # before paho reconnects: later acks of this connection's
            self._generation += 1  # messages would reach the next one
        if not self.stop.is_set():
            LOGGER.warning("bridge disconnected (%s): reconnecting", reason)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        """paho's path: a message with MQTT 5 properties (the others come to _receive)."""
        self._receive(msg._topic, bytes(msg.payload), msg.mid, msg.qos, bool(msg.dup))

    def _route(self, topic: str) -> TopicRoute | None:
        try:
            return self._routes[topic]
        except KeyError:
            if len(self._routes) >= _ROUTE_CACHE:
                self._routes.clear()
            route = self._routes[topic] = route_for(self.routes, topic)
            return route

    def _receive(self, raw_topic: bytes, body: bytes, mid: int, qos: int, dup: bool) -> None:
        received = datetime.now(UTC)
        topic = raw_topic.decode("utf-8", "replace")  # paho's .topic raises on bad UTF-8
        route = self._route(topic)
        protocol = route.protocol if route else "mqtt"
        try:
            if route is None:
                raw = topic.encode() + b" " + body
                detail = f"topic {topic!r} matches no mapping of TWIN_MQTT_TOPICS"
                decoded = Decoded([Rejected("bad_topic", detail, raw)])
            else:
                decoded = route.decode(topic, body, received)
            if dup and any(
                isinstance(i, Observation) and i.time is received for i in decoded.items
            ):
                self.stats.untimed_redeliveries += 1
                LOGGER.warning("redelivered message without `at` on %s: may be stored twice", topic)
        except Exception as exc:  # the contract says never; a bug must still not stop us
            LOGGER.exception("decoding failed")
            decoded = Decoded([Rejected("decode_error", f"decoding failed: {exc}", body)])
        self._inbox.put(_Held(self._generation, mid, qos, protocol, decoded, time.monotonic()))

    # -- the main thread's side: batch, commit, acknowledge -------------------------------

    def _collect(self) -> list[_Held]:
        """Up to ``batch_size`` messages, waiting at most ``flush_seconds`` after the first
        *arrived*: a message that queued while the previous batch was committing has waited
        already, so what is queued goes at once instead of waiting another full timeout."""
        try:
            first = self._inbox.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = first.arrived + self.flush_seconds
        while len(batch) < self.batch_size:
            left = deadline - time.monotonic()
            try:  # past the deadline, take only what is queued already
                batch.append(
                    self._inbox.get(timeout=left) if left > 0 else self._inbox.get_nowait()
                )
            except queue.Empty:
                break
        return batch

    def _store(self, batch: list[_Held]) -> None:
        """Commit the batch, then acknowledge it; while that fails, keep it unacknowledged
        and retry with backoff (a retry after a partial write only meets duplicates)."""
        delay = 0.5
        while True:
            try:
                self._commit(batch)
                break
            except Exception as exc:  # the database is away (or worse): never drop, never die
                if self.stop.is_set():
                    return  # unacknowledged: the broker redelivers them to the next run
                LOGGER.warning("batch not stored (%s): retrying in %.1f s", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 30)
        with self._ack_lock:
            generation = self._generation
            self.client.ack_many(h.mid for h in batch if h.qos == 1 and h.generation == generation)
            for held in batch:
                if held.qos > 1 and held.generation == generation:
                    self.client.ack(held.mid, held.qos)

    def _commit(self, batch: list[_Held]) -> None:
        """One transaction per protocol of the batch; if the database refuses one, one per
        message. Events are counted after (a retry counts them again: counts, not data)."""
        by_protocol: dict[str, list[Observation | Rejected]] = {}
        events: list[tuple[str, str]] = []
        for held in batch:
            by_protocol.setdefault(held.protocol, []).extend(held.decoded.items)
            if held.decoded.event:
                events.append((held.protocol, held.decoded.event))
        for protocol, items in by_protocol.items():
            if not items:
                continue
            try:
                self._write(protocol, items)
            except DBAPIError as exc:
                if _away(exc):
                    raise
                LOGGER.exception("a batch failed: storing its messages one by one")
                for item in items:
                    self._write_alone(protocol, item)
        if events:
            with self.engine.begin() as conn:
                for protocol, kind in events:
                    deadletters.count_event(conn, protocol, kind)
            self.stats.events += len(events)

    def _write(self, protocol: str, items: list[Observation | Rejected]) -> None:
        result = self._writers[protocol].write(items)
        self.stats.batches += 1
        self.stats.stored += result.accepted
        self.stats.duplicate += result.duplicate
        self.stats.rejected += len(result.rejected)

    def _write_alone(self, protocol: str, item: Observation | Rejected) -> None:
        """One message of a failed batch; if it fails alone too, it becomes a dead letter."""
        try:
            self._write(protocol, [item])
        except DBAPIError as exc:
            if _away(exc):
                raise
            raw = item.raw if isinstance(item, Rejected) else (item.raw or b"")
            refused = Rejected("store_error", f"the database refused it: {exc.orig}", raw)
            self._write(protocol, [refused])


def _away(exc: DBAPIError) -> bool:
    """The database is unreachable, restarting or shutting down, not refusing this data:
    the batch waits and is retried whole; it never becomes dead letters."""
    return exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)


def _tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """Certificate and host name checked; a CA file that cannot be read is a setup error."""
    try:
        return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"TWIN_MQTT_CA_FILE {ca_file}: not a readable PEM certificate ({exc})"
        ) from None
