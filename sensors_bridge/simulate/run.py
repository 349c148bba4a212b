"""The simulation: which device sends when, paced on the wall clock, published per protocol.

Why a pure schedule (:func:`schedule`) apart from the loop (:class:`Simulation`): the number
of observations each protocol gets is fixed by the rate, the duration and the devices alone,
so a test knows beforehand how many rows the twin must end with. ``rate`` is observations
per second over all protocols; they share it equally (the protocol that has had the fewest
observations sends next, its devices in turn), each observation ``1/rate`` seconds after the
previous one, which also gives every message its own time: nothing is a duplicate unless it
is resent. GTFS-realtime is not an observation stream: the buses' FeedMessage is rewritten
every ``gtfs_interval`` seconds.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path

from geodata.errors import InputError
from sensors_bridge.simulate.buses import Lines, feed_message
from sensors_bridge.simulate.messages import Message, SimDevice, message
from sensors_bridge.simulate.profiles import Scenario
from sensors_bridge.simulate.publish import HTTPPublisher, MQTTPublisher, write_atomically

LOGGER = logging.getLogger(__name__)
PROTOCOLS = ("mqtt", "http", "tts", "chirpstack", "gtfs")
SENSOR_PROTOCOLS = ("mqtt", "http", "tts", "chirpstack")


def parse_protocols(text: str) -> tuple[str, ...]:
    """``mqtt,http,tts,chirpstack,gtfs`` (any of them, in any order)."""
    wanted = tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
    unknown = [p for p in wanted if p not in PROTOCOLS]
    if unknown or not wanted:
        raise InputError(
            f"--protocols {text!r}: {'unknown ' + ', '.join(unknown) if unknown else 'none given'}"
            f"; choose among {','.join(PROTOCOLS)}"
        )
    return wanted


@dataclass(frozen=True)
class Send:
    """The ``n``-th message of ``device``, due ``offset`` seconds after the start."""

    offset: float
    device: SimDevice
    n: int
    observations: int


def schedule(
    devices: Sequence[SimDevice], protocols: Sequence[str], rate: float, duration: float | None
) -> Iterator[Send]:
    """Every message of the run, in order (``duration`` None: without end)."""
    by_protocol = {
        p: [d for d in devices if d.protocol == p] for p in protocols if p in SENSOR_PROTOCOLS
    }
    by_protocol = {p: ds for p, ds in by_protocol.items() if ds}
    if not by_protocol:
        return
    budget = None if duration is None else round(rate * duration)
    sent: Counter[str] = Counter()
    turn: Counter[str] = Counter()
    nth: Counter[str] = Counter()
    total = 0
    while True:
        candidates = sorted(by_protocol, key=lambda p: (sent[p], list(by_protocol).index(p)))
        chosen = None
        for p in candidates:
            d = by_protocol[p][turn[p] % len(by_protocol[p])]
            k = d.observations_per_message()
            if budget is None or total + k <= budget:
                chosen = (p, d, k)
                break
        if chosen is None:
            return
        p, d, k = chosen
        yield Send(total / rate, d, nth[d.id], k)
        turn[p] += 1
        nth[d.id] += 1
        sent[p] += k
        total += k


@dataclass
class Report:
    """What a run sent, per protocol (observations, messages), and what failed."""

    observations: Counter[str] = field(default_factory=Counter)
    messages: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    feed_messages: int = 0
    vehicles: int = 0

    def lines(self) -> list[str]:
        parts = [
            f"{p}: {self.observations[p]} observations in {self.messages[p]} messages"
            for p in SENSOR_PROTOCOLS
            if self.messages[p]
        ]
        if self.feed_messages:
            parts.append(
                f"gtfs: {self.feed_messages} FeedMessages, {self.vehicles} vehicle positions"
            )
        failed = ", ".join(f"{n} {p}" for p, n in self.failed.items() if n)
        return [
            "sent " + "; ".join(parts or ["nothing"]),
            *([f"not sent: {failed}"] if failed else []),
        ]


@dataclass
class Simulation:
    """One run: devices, rate and protocols, and where each protocol's messages go."""

    devices: Sequence[SimDevice]
    protocols: Sequence[str]
    rate: float
    duration: float | None
    scenario: Scenario = field(default_factory=Scenario)
    mqtt: MQTTPublisher | None = None
    http: HTTPPublisher | None = None
    #: TTS and ChirpStack uplinks over MQTT (their integrations) or their HTTP routes
    lorawan_via: str = "mqtt"
    lines: Lines | None = None
    gtfs_file: Path | None = None
    gtfs_interval: float = 1.0
    stop: Callable[[], bool] = lambda: False
    #: the time of the first message (default: the next second); a past start replays the
    #: run at once, the same messages again for the same seed
    start: datetime | None = None

    def check(self) -> None:
        """Refuse a run that could not send what it was asked (before sending anything)."""
        if self.rate <= 0:
            raise InputError("--rate must be above 0 observations per second")
        wanted = [p for p in self.protocols if p in SENSOR_PROTOCOLS]
        missing = [p for p in wanted if not any(d.protocol == p for d in self.devices)]
        if missing:
            raise InputError(
                f"no registered device to simulate for {', '.join(missing)}: load the demo "
                '(`twin demo`) or register devices with attrs {"simulate": KIND}'
            )
        if "gtfs" in self.protocols and (self.lines is None or self.gtfs_file is None):
            raise InputError("gtfs: no demo bus lines found: load the demo (`twin demo`)")

    def run(self, progress: Callable[[int, int | None], None] | None = None) -> Report:
        """Send everything at its time; ``progress(observations, total)`` as it goes."""
        self.check()
        report = Report()
        start = self.start or datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
        t0 = time.monotonic() + (start - datetime.now(UTC)).total_seconds()
        total = None if self.duration is None else round(self.rate * self.duration)
        last_flush = time.monotonic()
        for send in self._timeline():
            if self.stop():
                break
            if isinstance(send, float):  # a GTFS-realtime tick
                self._wait(t0 + send)
                self._feed(start + timedelta(seconds=send), report)
                continue
            self._wait(t0 + send.offset)
            at = start + timedelta(seconds=send.offset)
            for msg in message(send.device, at, send.n, self.scenario):
                self._publish(msg)
                report.messages[msg.protocol] += 1
                report.observations[msg.protocol] += msg.observations
            if progress is not None:
                progress(send.observations, total)
            if self.http is not None and time.monotonic() - last_flush > 0.2:
                self.http.flush()
                last_flush = time.monotonic()
        if self.http is not None:
            self.http.close()
            report.failed.update(self.http.failed)
        if self.mqtt is not None:
            missing = self.mqtt.close()
            if missing:
                report.failed["mqtt"] += missing
        return report

    def _timeline(self) -> Iterator[Send | float]:
        """Messages and GTFS ticks merged in time order."""
        sends = schedule(self.devices, self.protocols, self.rate, self.duration)
        ticks: Iterator[float] = iter(())
        if "gtfs" in self.protocols:
            n = None if self.duration is None else int(self.duration / self.gtfs_interval) + 1
            ticks = (i * self.gtfs_interval for i in (range(n) if n is not None else count()))
        tick = next(ticks, None)
        for send in sends:
            while tick is not None and tick <= send.offset:
                yield tick
                tick = next(ticks, None)
            yield send
        while tick is not None and (self.duration is None or tick <= self.duration):
            yield tick
            tick = next(ticks, None)

    def _publish(self, msg: Message) -> None:
        over_mqtt = msg.protocol == "mqtt" or (
            msg.protocol in ("tts", "chirpstack") and self.lorawan_via == "mqtt"
        )
        target = self.mqtt if over_mqtt else self.http
        if target is None:
            raise InputError(
                f"{msg.protocol}: no {'broker' if over_mqtt else 'twin URL'} to send to"
            )
        target.publish(msg)

    def _feed(self, at: datetime, report: Report) -> None:
        assert self.lines is not None and self.gtfs_file is not None
        feed = feed_message(self.lines, at)
        write_atomically(self.gtfs_file, feed.SerializeToString())
        report.feed_messages += 1
        report.vehicles += sum(1 for e in feed.entity if e.HasField("vehicle"))

    def _wait(self, until: float) -> None:
        while not self.stop():
            left = until - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.2))
