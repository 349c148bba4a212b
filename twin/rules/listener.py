"""Rules on the batch writer: evaluated inside each batch's transaction, exactly once per
observation however many bridges and app workers write (``twin.listeners``).

``in_transaction`` locks the states the batch touches, runs the state machine
(:mod:`twin.rules.evaluate`) in time order and writes states, alerts and outbox rows with
the observations; ``after_commit`` wakes the process's worker, which sends the outbox and
runs the no-data sweep every ``TWIN_RULES_SWEEP_SECONDS`` (:func:`sweep`, also ``twin rules
tick``). The cost when no rule reads a batch's metrics is one indexed read.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, text

from sensors_bridge.listeners import Stored
from twin.rules import evaluate, outbox, store
from twin.rules.actions import perform
from twin.rules.evaluate import utc_now
from twin.rules.store import Loaded, RuleCache

if TYPE_CHECKING:
    from twin.settings import Settings


class Evaluator:
    """Evaluation with the process's rule cache; no I/O of its own beyond ``conn``."""

    def __init__(self) -> None:
        self.cache = RuleCache()
        self.devices = store.DeviceCache()

    def observe(self, conn: Connection, stored: Sequence[Stored]) -> int:
        """Evaluate a batch's new observations; how many messages were queued."""
        outbox.discard(conn)
        rules = self.cache.refresh(conn)
        if not rules:
            return 0
        relevant = sorted((s for s in stored if s.metric in self.cache.metrics), key=_at)
        if not relevant:
            return 0
        by_metric = self.cache.by_metric
        pairs = {(s.device_id, s.metric) for s in relevant}
        devs = self.devices.get(conn, {d for d, _ in pairs})
        keys = {
            (lr.id, device_id)
            for device_id, metric in pairs
            if (dev := devs.get(device_id)) is not None
            for lr in by_metric.get(metric, ())
            if store.in_scope(lr.rule, dev)
        }
        states = store.lock_states(conn, sorted(keys))
        queued = 0
        for s in relevant:
            for lr in by_metric.get(s.metric, ()):
                st = states.get((lr.id, s.device_id))
                if st is None:
                    continue
                for tr in evaluate.observe(lr.rule, st, s.metric, s.value, s.at):
                    queued += perform(conn, lr, devs[s.device_id], st, tr)
        store.save_states(conn, states)
        outbox.flush(conn)
        return queued

    def sweep(self, conn: Connection, now: datetime) -> int:
        """Advance the no-data rules to ``now``; how many transitions happened."""
        outbox.discard(conn)
        moved = 0
        for lr in self.cache.refresh(conn):
            if lr.rule.has_no_data():
                moved += self._sweep_rule(conn, lr, now)
        outbox.flush(conn)
        return moved

    def _sweep_rule(self, conn: Connection, lr: Loaded, now: datetime) -> int:
        metrics = sorted(
            {leaf.metric for _, leaf in lr.rule.leaves() if leaf.no_data and leaf.metric}
        )
        latest = conn.execute(
            text(
                "SELECT device_id, metric, value, at FROM latest_state WHERE metric = ANY(:m) "
                "AND value IS NOT NULL"
            ),
            {"m": metrics},
        ).all()
        devs = store.devices(conn, {r.device_id for r in latest})
        keys = [(lr.id, d) for d, dev in devs.items() if store.in_scope(lr.rule, dev)]
        states = store.lock_states(conn, keys)
        for r in latest:  # what was stored before the rule existed, or while it was off
            st = states.get((lr.id, r.device_id))
            if st is None:
                continue
            values = st.memory.setdefault("v", {})
            seen = values.get(r.metric)
            if seen is None or seen[1] < r.at.timestamp():
                values[r.metric] = [r.value, r.at.timestamp()]
                st.dirty = True
        moved = 0
        for (_, device_id), st in states.items():
            for tr in evaluate.tick(lr.rule, st, now):
                perform(conn, lr, devs[device_id], st, tr)
                moved += 1
        store.save_states(conn, states)
        return moved


def _at(s: Stored) -> datetime:
    return s.at


def sweep(engine: Engine, evaluator: Evaluator, now: datetime | None = None) -> int:
    """One sweep in its own transaction (the worker's, and ``twin rules tick --at``)."""
    with engine.begin() as conn:
        return evaluator.sweep(conn, now or utc_now())


class RulesListener:
    """The batch listener of rules, with the process's outbox sender and sweep."""

    name = "rules"

    def __init__(self, settings: Settings, engine: Engine) -> None:
        from twin.rules.publish import MQTTPublisher

        self.engine = engine
        self.evaluator = Evaluator()
        self.publisher = MQTTPublisher(settings)
        self.poster = outbox.HTTPPoster()
        self.builders = builders(settings, engine)
        self.queued = False
        self.worker = outbox.Worker(
            self.send,
            lambda: sweep(engine, self.evaluator),
            poll=2.0,
            sweep_seconds=settings.rules_sweep_seconds,
        )
        self._retry = settings.rules_retry_seconds
        self._attempts = settings.rules_max_attempts
        if _has_work(engine):  # else it starts with the first batch a rule reads, or a wake
            self.worker.start()

    def send(self) -> int:
        return outbox.send_due(
            self.engine,
            self.publisher,
            self.poster,
            retry_seconds=self._retry,
            max_attempts=self._attempts,
            builders=self.builders,
        )

    def in_transaction(self, conn: Connection, stored: Sequence[Stored], now: datetime) -> None:
        if self.evaluator.observe(conn, stored):
            self.queued = True
        if self.evaluator.cache.rules:
            self.worker.start()  # no-data sweeps from now on

    def after_commit(self, stored: Sequence[Stored]) -> None:
        if self.queued:
            self.queued = False
            self.worker.wake()

    def wake(self) -> None:
        """Something else (an alert handled through the API) queued messages: send now."""
        self.worker.wake()

    def close(self) -> None:
        self.publisher.interrupt()  # a send waiting for an absent broker gives up now
        self.worker.stop()
        self.publisher.close()
        self.poster.close()


def builders(settings: Settings, engine: Engine) -> dict[str, outbox.Builder]:
    """Messages built when sent: the flood action's extent (twin.analysis.flood.live)."""

    def flood(payload: dict[str, Any]) -> dict[str, Any]:
        from twin.analysis.flood.live import flood_message

        return flood_message(settings, engine, payload)

    return {"flood": flood}


def _has_work(engine: Engine) -> bool:
    """Rules to sweep or messages to send: the worker is needed from the start (a process
    serving a twin without rules runs no thread)."""
    try:
        with engine.connect() as conn:
            return bool(
                conn.execute(
                    text(
                        "SELECT EXISTS (SELECT 1 FROM rules WHERE enabled) OR EXISTS "
                        "(SELECT 1 FROM rule_outbox WHERE sent_at IS NULL AND failed_at IS NULL)"
                    )
                ).scalar()
            )
    except Exception:  # not migrated yet (the app checks at start-up): start when needed
        return False


def factory(settings: Settings, engine: Engine) -> RulesListener | None:
    return RulesListener(settings, engine) if settings.rules_enabled else None
