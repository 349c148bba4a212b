"""Listeners on the batch writer: told once of what was newly stored, inside the batch's
transaction and after its commit; a failing listener never costs the batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, Engine, text

from sensors_bridge.listeners import BatchListener, Stored
from sensors_bridge.model import Observation
from sensors_bridge.store import BatchWriter
from twin import listeners as registry

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def obs(device: str, value: float, minutes: float = 0) -> Observation:
    return Observation(device, "co2", value, NOW - timedelta(minutes=minutes))


@dataclass
class Recorder:
    name: str = "recorder"
    fail_inside: bool = False
    fail_after: bool = False
    inside: list[Stored] = field(default_factory=list)
    after: list[Stored] = field(default_factory=list)
    closed: bool = False

    def in_transaction(self, conn: Connection, stored: Sequence[Stored], now: datetime) -> None:
        conn.execute(text("INSERT INTO audit_probe VALUES (:n)"), {"n": len(stored)})
        if self.fail_inside:
            raise RuntimeError("a listener's bug")
        self.inside.extend(stored)

    def after_commit(self, stored: Sequence[Stored]) -> None:
        if self.fail_after:
            raise RuntimeError("a listener's bug after the commit")
        self.after.extend(stored)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def probe(engine: Engine) -> Engine:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO devices (id, protocol, type) VALUES ('c1', 'http', 'co2')"))
        conn.execute(text("CREATE TABLE audit_probe (n int)"))
    return engine


def test_listeners_hear_each_new_observation_once(probe: Engine) -> None:
    rec = Recorder()
    assert isinstance(rec, BatchListener)
    writer = BatchWriter(probe, "http", [rec])
    batch = [obs("c1", 900, 2), obs("c1", 1100, 1)]
    first = writer.write(batch, now=NOW)
    again = writer.write(batch, now=NOW)  # a redelivery: nothing new to tell
    assert (first.accepted, again.accepted, again.duplicate) == (2, 0, 2)
    assert [s.value for s in rec.inside] == [900.0, 1100.0]
    assert rec.after == rec.inside
    assert rec.inside[0] == Stored("c1", "co2", NOW - timedelta(minutes=2), 900.0, None, "good")
    with probe.connect() as conn:
        assert conn.execute(text("SELECT array_agg(n) FROM audit_probe")).scalar() == [2]


def test_a_failing_listener_costs_its_own_work_not_the_batch(probe: Engine) -> None:
    bad, good = Recorder("bad", fail_inside=True, fail_after=True), Recorder("good")
    result = BatchWriter(probe, "http", [bad, good]).write([obs("c1", 700)], now=NOW)
    assert result.accepted == 1
    assert [s.value for s in good.inside] == [700.0] and good.after == good.inside
    assert bad.after == []
    with probe.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM observations")).scalar_one() == 1
        # the bad listener's write was rolled back with its savepoint, the good one's kept
        assert conn.execute(text("SELECT array_agg(n) FROM audit_probe")).scalar() == [1]


def test_without_listeners_nothing_is_kept(probe: Engine) -> None:
    result = BatchWriter(probe, "http").write([obs("c1", 500)], now=NOW)
    assert result.accepted == 1 and result.stored == []


def test_the_registry_builds_what_is_switched_on(settings: object, probe: Engine) -> None:
    made: list[Recorder] = []

    def on(_s: object, _e: Engine) -> Recorder:
        made.append(Recorder("on"))
        return made[-1]

    saved = dict(registry._REGISTRY)
    try:
        registry._REGISTRY.clear()
        registry.register("on", on)
        registry.register("off", lambda _s, _e: None)
        registry.register("dotted", "tests.test_live_listeners:dotted_factory")
        built = registry.listeners_for(settings, probe)  # type: ignore[arg-type]
        assert [b.name for b in built] == ["on", "dotted"]
        registry.close_all(built)
        assert all(isinstance(b, Recorder) and b.closed for b in built)
    finally:
        registry._REGISTRY.clear()
        registry._REGISTRY.update(saved)


def dotted_factory(_s: object, _e: Engine) -> Recorder:
    return Recorder("dotted")


@dataclass
class LiveProbe:
    """Inside the transaction, what the merge's ``Stored.live`` says and what the live
    publisher's own query (``became_latest``, the path of a writer that does not say) finds."""

    name: str = "live-probe"
    said: list[list[Stored]] = field(default_factory=list)
    asked: list[list[Stored]] = field(default_factory=list)

    def in_transaction(self, conn: Connection, stored: Sequence[Stored], now: datetime) -> None:
        from dataclasses import replace

        from twin.live.publish import became_latest, newest

        assert all(s.live is not None for s in stored)
        self.said.append(sorted(newest([s for s in stored if s.live]).values(), key=_key))
        unsaid = [replace(s, live=None) for s in stored]
        self.asked.append(sorted(became_latest(conn, unsaid), key=_key))

    def after_commit(self, stored: Sequence[Stored]) -> None:
        pass

    def close(self) -> None:
        pass


def _key(s: Stored) -> tuple[str, str]:
    return s.device_id, s.metric


def test_the_merges_live_flags_are_what_the_publishers_query_finds(probe: Engine) -> None:
    """Newest per device and metric, only when newer than latest_state, only active devices:
    the flag from the merge and the separate query agree on every batch."""
    with probe.begin() as conn:
        conn.execute(text("INSERT INTO devices (id, protocol, type) VALUES ('c2', 'http', 'co2')"))
    live = LiveProbe()
    writer = BatchWriter(probe, "http", [live])
    batches = [
        [obs("c1", 900, 5), obs("c1", 950, 4), obs("c2", 400, 5)],  # both devices new
        [obs("c1", 800, 10), obs("c2", 410, 1)],  # c1 back-dated: stored, not latest
        [obs("stranger", 1, 1), obs("c1", 990, 0)],  # an unknown device: quarantined
        [Observation("c1", "temp", 20.5, NOW), obs("c2", 420, 0.5), obs("c2", 415, 3)],
    ]
    for batch in batches:
        writer.write(batch, now=NOW)
    assert live.said == live.asked
    shown = [[(s.device_id, s.metric, s.value) for s in said] for said in live.said]
    assert shown == [
        [("c1", "co2", 950.0), ("c2", "co2", 400.0)],
        [("c2", "co2", 410.0)],
        [("c1", "co2", 990.0)],
        [("c1", "temp", 20.5), ("c2", "co2", 420.0)],
    ]
