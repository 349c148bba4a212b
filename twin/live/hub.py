"""The hub of one app worker: the latest state, who watches which device, and the fan-out.

Everything here runs on the worker's event loop (the MQTT feed hands messages over in
batches), so no lock is needed and no client is ever waited for: a state change updates the
latest value kept for its device and metric (encoded once) and moves that key to the end of
the change log; sessions read the log at their own pace, at most once per coalescing period
(so the cost per message does not grow with the number of clients), keeping only the devices
they watch (an index from device to sessions, rebuilt for one session when its subscription
changes and for the changed devices when the registry does). Memory is the registry's size
(devices, their latest values, the log) plus each session's few alerts.

The latest values come from ``latest_state`` at start and on every (re)connection to the
broker, merged with what the broker says by the observations' own time (newer wins), so a
worker that missed messages while disconnected catches up and its clients get a resync.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Engine

from geodata.access import Principal, strictest
from twin.live import devices as dev
from twin.live.changes import ChangeLog
from twin.live.devices import DeviceMeta, LatestValue
from twin.live.mqtt import ALERT_PREFIX, FLOOD_PREFIX, STATE_PREFIX
from twin.live.session import Session
from twin.live.subscription import Subscription, check_access, sees
from twin.settings import Settings

LOGGER = logging.getLogger(__name__)
Latest = dict[str, dict[str, LatestValue]]
#: state changes for devices the hub does not know yet, kept while the registry reloads
MAX_PARKED = 100_000


class Hub:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.devices: dict[str, DeviceMeta] = {}
        self.latest: Latest = {}
        self.sessions: set[Session] = set()
        self.watchers: dict[str, set[Session]] = {}
        self.log = ChangeLog()
        self._idle: set[Session] = set()
        self.bad_messages = 0
        self.received = 0
        self._parked: Latest | None = None
        #: the alerts not resolved, per device and id, as the rules announced them: what a
        #: snapshot carries (the database's at each reload, then what the broker says)
        self.open_alerts: dict[str, dict[Any, dict[str, Any]]] = {}
        #: (device, alert id) the broker spoke of while a reload read the database
        self._alerts_heard: set[tuple[str, Any]] | None = None
        self._reload_lock = asyncio.Lock()

    # -- sessions ---------------------------------------------------------------------------
    def open(self, principal: Principal) -> Session:
        s = self.settings
        session = Session(
            principal,
            coalesce_s=s.live_coalesce_ms / 1000,
            max_pending=s.live_client_queue,
            max_alerts=s.live_client_alerts,
        )
        self.sessions.add(session)
        return session

    def close(self, session: Session) -> None:
        session.closed = True
        session.wake.set()
        self._unindex(session)
        self.sessions.discard(session)
        self._idle.discard(session)

    # -- what sessions read (twin.live.session.Source) ---------------------------------------
    @property
    def seq(self) -> int:
        return self.log.seq

    def idle(self, session: Session) -> None:
        self._idle.add(session)

    def changed(self, session: Session, limit: int) -> list[bytes] | None:
        """The values of the session's devices changed since it last sent; None when more
        than ``limit`` did (it gets a snapshot instead)."""
        out: list[bytes] = []
        watched = session.devices
        for device, metric in self.log.since(session.seen):
            if device in watched:
                value = self.latest.get(device, {}).get(metric)
                if value is not None:
                    out.append(value.raw)
                    if len(out) > limit:
                        return None
        return out

    def _wake_idle(self) -> None:
        idle, self._idle = self._idle, set()
        for session in idle:
            session.wake.set()

    def subscribe(self, session: Session, sub: Subscription) -> str:
        """Make ``sub`` the session's subscription and send it a snapshot; the strictest
        visibility among the devices it now watches (for the audit log).

        :raises TwinError: the subscription is refused (the previous one stays in effect).
        """
        check_access(session.principal, sub, self.devices)
        session.sub = sub
        self._index(session)
        session.want_snapshot()
        return strictest(*(self.devices[d].visibility for d in session.devices))

    def sign_in(self, session: Session, principal: Principal) -> None:
        """A token arrived: what the session watches follows the new role."""
        session.principal = principal
        if session.sub is None:
            return
        try:
            check_access(principal, session.sub, self.devices)
        except Exception:
            session.sub = None
            self._unindex(session)
            raise
        self._index(session)
        session.want_snapshot()

    def snapshot(self, session: Session) -> list[bytes]:
        return [
            v.raw
            for d in sorted(session.devices)
            for _, v in sorted(self.latest.get(d, {}).items())
        ]

    def alerts_of(self, session: Session) -> list[dict[str, Any]]:
        """The open and acknowledged alerts of the devices ``session`` watches, each as an
        ``alert`` message carries it (with the device's layer and location)."""
        out: list[dict[str, Any]] = []
        for d in sorted(session.devices & self.open_alerts.keys()):
            meta = self.devices.get(d)
            if meta is not None:
                for _, doc in sorted(self.open_alerts[d].items(), key=lambda kv: str(kv[0])):
                    out.append({**doc, "layer": meta.layer, "lon": meta.lon, "lat": meta.lat})
        return out

    def _unindex(self, session: Session) -> None:
        for d in session.devices:
            watching = self.watchers.get(d)
            if watching is not None:
                watching.discard(session)
                if not watching:
                    del self.watchers[d]
        session.devices = set()

    def _index(self, session: Session) -> None:
        self._unindex(session)
        sub = session.sub
        if sub is None:
            return
        pool: Iterable[DeviceMeta]
        if sub.devices is not None:
            pool = [m for d in sub.devices if (m := self.devices.get(d)) is not None]
        else:
            pool = self.devices.values()
        for meta in pool:
            if sees(session.principal, sub, meta):
                session.devices.add(meta.id)
                self.watchers.setdefault(meta.id, set()).add(session)

    # -- what the broker says ---------------------------------------------------------------
    def feed(self, batch: list[tuple[str, bytes]]) -> None:
        """Messages of ``twin/live/#`` in arrival order; a bad one is counted and skipped.
        Sessions waiting for news are woken once per batch, not once per message."""
        self._feed(batch)
        self._wake_idle()

    def _feed(self, batch: list[tuple[str, bytes]]) -> None:
        for topic, payload in batch:
            self.received += 1
            try:
                doc = orjson.loads(payload)
                if not isinstance(doc, dict):
                    raise ValueError("not a JSON object")
                if topic.startswith(STATE_PREFIX):
                    self.apply_state(doc)
                elif topic.startswith(ALERT_PREFIX):
                    self.apply_alert(doc)
                elif topic.startswith(FLOOD_PREFIX):
                    self.apply_flood(doc)
            except (ValueError, TypeError, KeyError) as exc:
                self.bad_messages += 1
                if self.bad_messages % 1000 == 1:
                    LOGGER.warning("live hub: skipped a bad message on %s (%s)", topic, exc)

    def apply_state(self, doc: dict[str, Any]) -> None:
        device, metric = doc["device_id"], doc["metric"]
        if not isinstance(device, str) or not isinstance(metric, str):
            raise TypeError("device_id and metric must be strings")
        at = datetime.fromisoformat(doc["at"])
        if at.tzinfo is None:
            raise ValueError("at has no time zone")
        meta = self.devices.get(device)
        if meta is None:
            self._park(device, metric, doc, at)
            return
        metrics = self.latest.setdefault(device, {})
        seen = metrics.get(metric)
        if seen is not None and seen.at > at:
            return  # an older value arriving late changes nothing
        metrics[metric] = dev.value_item(doc, meta, at)
        self.log.touch((device, metric))

    def _park(self, device: str, metric: str, doc: dict[str, Any], at: datetime) -> None:
        parked = self._parked
        if parked is None or sum(len(m) for m in parked.values()) >= MAX_PARKED:
            return
        meta = DeviceMeta(device, "", None, "confidential", None, None)
        parked.setdefault(device, {})[metric] = dev.value_item(doc, meta, at)

    def apply_alert(self, doc: dict[str, Any]) -> None:
        device = doc["device_id"]
        if isinstance(device, str):
            self._keep_alert(device, doc)
        meta = self.devices.get(device) if isinstance(device, str) else None
        if meta is None:
            return  # unknown, quarantined: nobody is shown it live
        alert = {**doc, "layer": meta.layer, "lon": meta.lon, "lat": meta.lat}
        for session in self.watchers.get(device, ()):
            session.offer_alert(alert)

    def apply_flood(self, doc: dict[str, Any]) -> None:
        """A gauge's flood extent: to the sessions watching the gauge, as ``flood``."""
        device = doc["device_id"]
        meta = self.devices.get(device) if isinstance(device, str) else None
        if meta is None:
            return
        for session in self.watchers.get(device, ()):
            session.tell({"type": "flood", "flood": {**doc, "layer": meta.layer}})

    def _keep_alert(self, device: str, doc: dict[str, Any]) -> None:
        key = doc.get("id")
        if self._alerts_heard is not None:
            self._alerts_heard.add((device, key))
        if doc.get("state") == "resolved":
            kept = self.open_alerts.get(device, {})
            kept.pop(key, None)
            if not kept:
                self.open_alerts.pop(device, None)
        else:
            self.open_alerts.setdefault(device, {})[key] = doc

    def _apply_alerts(self, loaded: dict[str, dict[Any, dict[str, Any]]]) -> None:
        """The database's open alerts, except where the broker spoke since it was read."""
        for device, key in self._alerts_heard or ():
            doc = self.open_alerts.get(device, {}).get(key)
            if doc is None:
                loaded.get(device, {}).pop(key, None)
            else:
                loaded.setdefault(device, {})[key] = doc
        self.open_alerts = {d: kept for d, kept in loaded.items() if kept}

    # -- the registry and the database ------------------------------------------------------
    async def reload(self, *, everything: bool) -> None:
        """Reload the devices, and the latest values of the new ones (``everything``: of all,
        after a (re)connection to the broker, for what it may have missed). Sessions whose
        set of devices changed get a fresh snapshot; values newer than the hub's go out as
        deltas like any other."""
        async with self._reload_lock:
            await self._reload(everything=everything)

    async def _reload(self, *, everything: bool) -> None:
        self._parked = {}
        self._alerts_heard = set()
        try:
            devices = await asyncio.to_thread(dev.reload, self.engine)
            added = devices.keys() - self.devices.keys()
            only = None if everything else added
            loaded = await asyncio.to_thread(dev.load_latest, self.engine, devices, only)
            alerts = await asyncio.to_thread(dev.load_open_alerts, self.engine)
            self._apply_alerts(alerts)
            self._apply_devices(devices, loaded)
        finally:
            self._parked = None
            self._alerts_heard = None

    def _apply_devices(self, devices: dict[str, DeviceMeta], loaded: Latest) -> None:
        old = self.devices
        changed = {d for d in devices.keys() | old.keys() if devices.get(d) != old.get(d)}
        self.devices = devices
        gone = old.keys() - devices.keys()
        for d in gone:
            self.latest.pop(d, None)
        if gone:
            self.log.forget(gone)
        for d in changed & devices.keys():  # new tags (layer, location) on what is kept
            for metric, v in self.latest.get(d, {}).items():
                self.latest[d][metric] = v.retagged(devices[d])
        if changed:
            for session in list(self.sessions):
                before = set(session.devices)
                if changed & (before | self._candidates(session, changed)):
                    self._index(session)
                    session.want_snapshot()
        for source in (loaded, self._parked or {}):
            for d, metrics in source.items():
                found = devices.get(d)
                if found is None:
                    continue
                mine = self.latest.setdefault(d, {})
                for metric, v in metrics.items():
                    seen = mine.get(metric)
                    if seen is not None and seen.at >= v.at:
                        continue
                    mine[metric] = v.retagged(found)
                    self.log.touch((d, metric))  # what the broker did not say
        self._wake_idle()

    def _candidates(self, session: Session, changed: set[str]) -> set[str]:
        sub = session.sub
        if sub is None:
            return set()
        return {
            d
            for d in changed
            if (m := self.devices.get(d)) is not None and sees(session.principal, sub, m)
        }

    def stats(self) -> dict[str, Any]:
        """Sizes, for tests and the bench: what the bounds are checked against."""
        return {
            "devices": len(self.devices),
            "values": sum(len(m) for m in self.latest.values()),
            "sessions": len(self.sessions),
            "received": self.received,
            "bad_messages": self.bad_messages,
            "changes": len(self.log),
            "alerts": [len(s.alerts) for s in self.sessions],
        }
