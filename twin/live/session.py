"""One ``/ws/live`` client: what it watches, where it is in the change log, and the pump.

A session keeps no queue of values: the hub's :class:`~twin.live.changes.ChangeLog` says
which device and metric changed since the session last sent, and the hub's latest values are
what it sends. So a slow or stalled client costs a number, at most ``max_alerts`` alerts and
what the socket buffers; once it reads again, it gets every value that changed meanwhile in
one delta, or, when more than ``max_pending`` of them did, ``resync`` and a fresh snapshot.
The pump (the only coroutine that waits on the client) looks at the log at most once per
``coalesce_s`` (200 ms) and sends each device and metric at most once per look: at most one
update per device per period.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from geodata.access import Principal
from twin.live.subscription import Subscription, as_doc

#: sends one encoded JSON message as a text frame
Send = Callable[[bytes], Awaitable[None]]
#: control messages (errors) one client may have waiting; older ones are dropped
MAX_CONTROL = 8


class Source(Protocol):
    """What a session reads from its hub."""

    @property
    def seq(self) -> int: ...

    def snapshot(self, session: Session) -> list[bytes]: ...

    def alerts_of(self, session: Session) -> list[dict[str, Any]]: ...

    def changed(self, session: Session, limit: int) -> list[bytes] | None: ...

    def idle(self, session: Session) -> None: ...


@dataclass
class SessionStats:
    deltas: int = 0
    items: int = 0
    snapshots: int = 0
    resyncs: int = 0
    alerts: int = 0
    #: the most values one delta carried and the most alerts ever waiting (the bounds)
    max_pending: int = 0
    max_alerts: int = 0


@dataclass(eq=False)
class Session:
    principal: Principal
    coalesce_s: float = 0.2
    max_pending: int = 10_000
    max_alerts: int = 200
    sub: Subscription | None = None
    #: the devices of the hub's index this session watches (asked and allowed)
    devices: set[str] = field(default_factory=set)
    #: the change log's sequence number up to which this client has what it watches
    seen: int = 0
    alerts: deque[dict[str, Any]] = field(default_factory=deque)
    control: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MAX_CONTROL))
    snapshot_due: bool = False
    resync: bool = False
    closed: bool = False
    stats: SessionStats = field(default_factory=SessionStats)
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def offer_alert(self, alert: dict[str, Any]) -> None:
        if self.resync:
            return
        if len(self.alerts) >= self.max_alerts:
            self.fall_behind()
            return
        self.alerts.append(alert)
        self.stats.max_alerts = max(self.stats.max_alerts, len(self.alerts))
        self.wake.set()

    def fall_behind(self) -> None:
        """Drop what waits; the client gets ``resync`` then a fresh snapshot."""
        self.alerts.clear()
        self.resync = True
        self.stats.resyncs += 1
        self.wake.set()

    def want_snapshot(self) -> None:
        self.snapshot_due = True
        self.wake.set()

    def tell(self, doc: dict[str, Any]) -> None:
        """A control message (an error), sent before anything else."""
        self.control.append(doc)
        self.wake.set()

    def _busy(self, source: Source) -> bool:
        return bool(
            self.control
            or self.alerts
            or self.resync
            or self.snapshot_due
            or (self.sub is not None and source.seq > self.seen)
        )

    async def pump(self, send: Send, source: Source) -> None:
        """Send what is due until the session closes."""
        last_look = float("-inf")
        while not self.closed:
            if not self._busy(source):
                source.idle(self)  # the hub wakes it at the next change
                await self.wake.wait()
            self.wake.clear()
            while self.control:
                await send(orjson.dumps(self.control.popleft()))
            if self.resync or self.snapshot_due:
                await self._snapshot(send, source)
                continue
            while self.alerts and not self.resync:
                self.stats.alerts += 1
                await send(orjson.dumps({"type": "alert", "alert": self.alerts.popleft()}))
            if self.sub is None or source.seq <= self.seen or self.resync:
                continue
            delay = last_look + self.coalesce_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)  # more changes coalesce meanwhile
                if self.resync or self.snapshot_due or self.control or self.alerts:
                    continue
            last_look = time.monotonic()
            seq = source.seq
            items = source.changed(self, self.max_pending)
            self.seen = seq
            if items is None:
                self.fall_behind()
            elif items:
                self.stats.deltas += 1
                self.stats.items += len(items)
                self.stats.max_pending = max(self.stats.max_pending, len(items))
                await send(_message(b"delta", items))

    async def _snapshot(self, send: Send, source: Source) -> None:
        if self.resync:
            await send(b'{"type":"resync"}')
        self.resync = self.snapshot_due = False
        if self.sub is None:
            return
        self.seen = source.seq
        items = source.snapshot(self)
        self.stats.snapshots += 1
        sub = orjson.dumps(as_doc(self.sub))
        alerts = orjson.dumps(source.alerts_of(self))
        await send(_message(b"snapshot", items, b',"subscription":' + sub + b',"alerts":' + alerts))


def _message(kind: bytes, items: list[bytes], extra: bytes = b"") -> bytes:
    """``{"type": kind, "items": [...]}`` from items encoded once by the hub."""
    return b'{"type":"' + kind + b'","items":[' + b",".join(items) + b"]" + extra + b"}"
