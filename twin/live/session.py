"""One ``/ws/live`` client's outbox: bounded, coalescing, and the pump that drains it.

Nothing here waits on the client but :meth:`Session.pump`, so a slow or stalled client costs
the hub a bounded amount: ``pending`` keeps one value per device and metric (a newer one
replaces the older), at most ``max_pending`` of them, and at most ``max_alerts`` alerts; past
either bound everything waiting is dropped and the client gets ``resync`` and a fresh
snapshot once it reads again. Deltas leave at most once per ``coalesce_s`` (200 ms), each
device and metric at most once in a delta: at most one update per device per period.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from geodata.access import Principal
from twin.live.subscription import Subscription, as_doc

Send = Callable[[dict[str, Any]], Awaitable[None]]
#: control messages (errors) one client may have waiting; older ones are dropped
MAX_CONTROL = 8


@dataclass
class SessionStats:
    deltas: int = 0
    items: int = 0
    snapshots: int = 0
    resyncs: int = 0
    alerts: int = 0
    #: the most values and alerts ever waiting at once (what the bound is checked against)
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
    pending: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    alerts: deque[dict[str, Any]] = field(default_factory=deque)
    control: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MAX_CONTROL))
    snapshot_due: bool = False
    resync: bool = False
    closed: bool = False
    stats: SessionStats = field(default_factory=SessionStats)
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, key: tuple[str, str], item: dict[str, Any]) -> None:
        """A new latest value for a watched device (called by the hub, never blocks)."""
        if self.resync or self.snapshot_due:
            return  # the snapshot to come holds it
        if key not in self.pending and len(self.pending) >= self.max_pending:
            self.fall_behind()
            return
        self.pending[key] = item
        self.stats.max_pending = max(self.stats.max_pending, len(self.pending))
        self.wake.set()

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
        self.pending.clear()
        self.alerts.clear()
        self.resync = True
        self.stats.resyncs += 1
        self.wake.set()

    def want_snapshot(self) -> None:
        self.pending.clear()
        self.snapshot_due = True
        self.wake.set()

    def tell(self, doc: dict[str, Any]) -> None:
        """A control message (an error), sent before anything else."""
        self.control.append(doc)
        self.wake.set()

    async def pump(self, send: Send, snapshot: Callable[[Session], list[dict[str, Any]]]) -> None:
        """Send what waits until the session closes; the only place that awaits the client."""
        last_delta = float("-inf")
        while not self.closed:
            await self.wake.wait()
            self.wake.clear()
            while self.control:
                await send(self.control.popleft())
            if self.resync or self.snapshot_due:
                if self.resync:
                    await send({"type": "resync"})
                self.resync = self.snapshot_due = False
                self.pending.clear()
                if self.sub is not None:
                    items = snapshot(self)
                    self.stats.snapshots += 1
                    await send(
                        {"type": "snapshot", "items": items, "subscription": as_doc(self.sub)}
                    )
                self.wake.set()  # what came in meanwhile
                continue
            while self.alerts and not self.resync:
                self.stats.alerts += 1
                await send({"type": "alert", "alert": self.alerts.popleft()})
            if self.pending and not self.resync:
                delay = last_delta + self.coalesce_s - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)  # more values coalesce meanwhile
                    if self.resync or self.snapshot_due or self.control or self.alerts:
                        self.wake.set()
                        continue
                items, self.pending = list(self.pending.values()), {}
                last_delta = time.monotonic()
                self.stats.deltas += 1
                self.stats.items += len(items)
                await send({"type": "delta", "items": items})
