"""Rule timing on the real batch writer and PostGIS: hysteresis, `for` durations, no-data
timeouts with a controlled clock, geofences, combinations, restarts, out-of-order data."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from sensors_bridge.model import Observation
from tests.rules_support import (
    LATER,
    add_device,
    alerts,
    apply,
    at,
    rules_settings,
    rules_writer,
    send,
    state,
)
from twin.rules.listener import Evaluator, sweep
from twin.services.mosquitto import EmbeddedMosquitto
from twin.settings import Settings


@pytest.fixture
def rs(settings: Settings, mqtt_broker: EmbeddedMosquitto) -> Settings:
    return rules_settings(settings, mqtt_broker.url)


CO2 = """
rules:
  - name: classroom-co2
    metric: co2
    raise: 1000
    clear: 800
    for: 10m
    where: {type: co2}
    severity: warning
    message: "CO2 {value} ppm in {device}"
"""


def test_hysteresis_does_not_flap_between_raise_and_clear(rs: Settings, engine: Engine) -> None:
    add_device(engine, "c1")
    apply(engine, CO2.replace("for: 10m", "for: 0"))
    with rules_writer(rs, engine) as (writer, _):
        send(writer, "c1", "co2", 1050, 0)
        assert state(engine, "classroom-co2", "c1") == "firing"
        for i, v in enumerate([990, 850, 1010, 801, 950]):  # between clear and raise
            send(writer, "c1", "co2", v, 1 + i)
            assert state(engine, "classroom-co2", "c1") == "firing"
        send(writer, "c1", "co2", 790, 10)
        assert state(engine, "classroom-co2", "c1") == "resolved"
        for i, v in enumerate([900, 999, 850]):  # below raise: stays resolved
            send(writer, "c1", "co2", v, 11 + i)
            assert state(engine, "classroom-co2", "c1") == "resolved"
    found = alerts(engine)
    assert len(found) == 1
    assert found[0]["state"] == "resolved" and found[0]["opened_at"] == at(0)
    assert found[0]["resolved_at"] == at(10) and found[0]["message"] == "CO2 1050 ppm in c1"


def test_for_duration_and_a_dip_resets_the_timer(rs: Settings, engine: Engine) -> None:
    add_device(engine, "c1")
    apply(engine, CO2)
    with rules_writer(rs, engine) as (writer, _):
        send(writer, "c1", "co2", 1100, 0)
        assert state(engine, "classroom-co2", "c1") == "pending"
        send(writer, "c1", "co2", 1200, 9)
        assert state(engine, "classroom-co2", "c1") == "pending"
        send(writer, "c1", "co2", 700, 9.5)  # a dip below clear: the timer starts again
        assert state(engine, "classroom-co2", "c1") == "ok"
        send(writer, "c1", "co2", 1100, 10)
        send(writer, "c1", "co2", 1100, 19)
        assert state(engine, "classroom-co2", "c1") == "pending" and alerts(engine) == []
        send(writer, "c1", "co2", 1150, 20)  # 10 minutes since 10
        assert state(engine, "classroom-co2", "c1") == "firing"
    assert [(a["state"], a["opened_at"], a["value"]) for a in alerts(engine)] == [
        ("open", at(20), 1150.0)
    ]


def test_restart_in_the_middle_of_a_pending_duration(rs: Settings, engine: Engine) -> None:
    add_device(engine, "c1")
    apply(engine, CO2)
    with rules_writer(rs, engine) as (writer, _):
        send(writer, "c1", "co2", 1100, 0)
        send(writer, "c1", "co2", 1100, 6)
    assert state(engine, "classroom-co2", "c1") == "pending"
    with rules_writer(rs, engine) as (writer, _):  # a new process: nothing in memory
        send(writer, "c1", "co2", 1100, 10)
    assert state(engine, "classroom-co2", "c1") == "firing"
    assert [a["opened_at"] for a in alerts(engine)] == [at(10)]


def test_an_older_observation_is_ignored(rs: Settings, engine: Engine) -> None:
    add_device(engine, "c1")
    apply(engine, CO2.replace("for: 10m", "for: 0"))
    with rules_writer(rs, engine) as (writer, _):
        send(writer, "c1", "co2", 1100, 5)
        send(writer, "c1", "co2", 500, 4)  # stored late by another bridge: older, ignored
        assert state(engine, "classroom-co2", "c1") == "firing"
        send(writer, "c1", "co2", 500, 6)
        assert state(engine, "classroom-co2", "c1") == "resolved"


def test_one_batch_in_time_order_and_scope(rs: Settings, engine: Engine) -> None:
    add_device(engine, "c1")
    add_device(engine, "lamp-1", "lamp")
    apply(engine, CO2.replace("for: 10m", "for: 0"))
    with rules_writer(rs, engine) as (writer, _):
        batch = [Observation("c1", "co2", v, at(m)) for m, v in ((2, 700), (1, 1200), (0, 1100))]
        batch.append(Observation("lamp-1", "co2", 5000, at(0)))  # not a co2 device: out of scope
        assert writer.write(batch, now=LATER).accepted == 4
    assert state(engine, "classroom-co2", "c1") == "resolved"
    assert [(a["device_id"], a["opened_at"], a["resolved_at"]) for a in alerts(engine)] == [
        ("c1", at(0), at(2))
    ]


NO_DATA = """
- name: lamp-dim
  metric: presence
  no_data: 5m
  where: {type: lamp}
  actions:
    - command: {name: dim, payload: {level: 30}}
      on: firing
    - command: {name: dim, payload: {level: 100}}
      on: resolved
"""


def test_no_data_timeout_with_a_controlled_clock(rs: Settings, engine: Engine) -> None:
    add_device(engine, "lamp-1", "lamp")
    apply(engine, NO_DATA)
    evaluator = Evaluator()
    with rules_writer(rs, engine) as (writer, _):
        send(writer, "lamp-1", "presence", 1, 0)
        assert sweep(engine, evaluator, at(4.9)) == 0
        assert state(engine, "lamp-dim", "lamp-1") == "ok"
        assert sweep(engine, evaluator, at(5)) == 1
        assert state(engine, "lamp-dim", "lamp-1") == "firing"
        assert sweep(engine, evaluator, at(8)) == 0  # fires once
        send(writer, "lamp-1", "presence", 1, 9)
        assert state(engine, "lamp-dim", "lamp-1") == "resolved"
    with engine.connect() as conn:
        sent = conn.execute(text("SELECT target, payload FROM rule_outbox ORDER BY id")).all()
    assert [(t, p) for t, p in sent] == [
        ("twin/lamp-1/cmd/dim", {"level": 30}),
        ("twin/lamp-1/cmd/dim", {"level": 100}),
    ]
    assert alerts(engine) == []  # this rule only commands


def test_no_data_counts_from_data_stored_before_the_rule(rs: Settings, engine: Engine) -> None:
    add_device(engine, "lamp-1", "lamp")
    with rules_writer(rs, engine) as (writer, _):
        send(writer, "lamp-1", "presence", 1, 0)
    apply(engine, NO_DATA)
    assert sweep(engine, Evaluator(), at(6)) == 1
    assert state(engine, "lamp-dim", "lamp-1") == "firing"


GEOFENCE = """
- name: bus-left-district
  geofence: {area: [24.90, 60.15, 24.96, 60.18], when: outside}
  where: {type: tracker}
"""


def test_geofence_enter_and_leave(rs: Settings, engine: Engine) -> None:
    add_device(engine, "bus-1", "tracker")
    apply(engine, GEOFENCE)
    with rules_writer(rs, engine) as (writer, _):
        writer.write(
            [Observation("bus-1", "lon", 24.93, at(0)), Observation("bus-1", "lat", 60.16, at(0))],
            now=LATER,
        )
        assert state(engine, "bus-left-district", "bus-1") == "ok"
        send(writer, "bus-1", "lon", 24.99, 1)  # leaves to the east
        assert state(engine, "bus-left-district", "bus-1") == "firing"
        send(writer, "bus-1", "lon", 24.95, 2)  # back inside
        assert state(engine, "bus-left-district", "bus-1") == "resolved"
        send(writer, "bus-1", "lat", 60.20, 3)  # leaves to the north
        assert state(engine, "bus-left-district", "bus-1") == "firing"
    assert [a["state"] for a in alerts(engine)] == ["resolved", "open"]


COMBO = """
- name: disabled-bay-without-badge
  all:
    - {metric: occupied, raise: 1}
    - {metric: badge, raise: 0, direction: below}
  where: {tags: [disabled]}
  for: 2m
  severity: major
"""


def test_all_of_two_conditions_and_tag_scope(rs: Settings, engine: Engine) -> None:
    add_device(engine, "bay-1", "parking", tags=["disabled"])
    add_device(engine, "bay-2", "parking")
    apply(engine, COMBO)
    with rules_writer(rs, engine) as (writer, _):
        for bay in ("bay-1", "bay-2"):
            send(writer, bay, "badge", 1, 0)
            send(writer, bay, "occupied", 1, 1)  # a car with a badge
        send(writer, "bay-1", "occupied", 1, 5)
        assert state(engine, "disabled-bay-without-badge", "bay-1") == "ok"
        send(writer, "bay-1", "badge", 0, 6)  # the badge is gone, the car stays
        send(writer, "bay-1", "occupied", 1, 7)
        assert state(engine, "disabled-bay-without-badge", "bay-1") == "pending"
        send(writer, "bay-1", "occupied", 1, 8)
        assert state(engine, "disabled-bay-without-badge", "bay-1") == "firing"
    with engine.connect() as conn:
        scoped = conn.execute(text("SELECT device_id FROM rule_states")).scalars().all()
    assert scoped == ["bay-1"]
    assert [(a["device_id"], a["severity"]) for a in alerts(engine)] == [("bay-1", "major")]


RATE = """
- name: flood-rising-fast
  metric: stage_m
  change_per: 1h
  raise: 0.5
  clear: 0.2
"""


def test_rate_of_change(rs: Settings, engine: Engine) -> None:
    add_device(engine, "gauge", "flood_gauge")
    apply(engine, RATE)
    with rules_writer(rs, engine) as (writer, _):
        send(writer, "gauge", "stage_m", 0.30, 0)
        send(writer, "gauge", "stage_m", 0.35, 10)  # 0.3 m/h
        assert state(engine, "flood-rising-fast", "gauge") == "ok"
        send(writer, "gauge", "stage_m", 0.45, 20)  # 0.6 m/h
        assert state(engine, "flood-rising-fast", "gauge") == "firing"
        send(writer, "gauge", "stage_m", 0.50, 30)  # 0.3 m/h: above clear, still firing
        assert state(engine, "flood-rising-fast", "gauge") == "firing"
        send(writer, "gauge", "stage_m", 0.51, 40)
        assert state(engine, "flood-rising-fast", "gauge") == "resolved"


def test_a_changed_rule_starts_again(rs: Settings, engine: Engine) -> None:
    add_device(engine, "c1")
    apply(engine, CO2)
    with rules_writer(rs, engine) as (writer, listener):
        send(writer, "c1", "co2", 1100, 0)
        assert state(engine, "classroom-co2", "c1") == "pending"
        apply(engine, CO2.replace("for: 10m", "for: 0"))  # the cache reloads on its version
        send(writer, "c1", "co2", 1100, 1)
        assert state(engine, "classroom-co2", "c1") == "firing"
        assert listener.evaluator.cache.rules[0].rule.for_ == 0


def test_two_writers_at_once_open_one_alert(rs: Settings, engine: Engine) -> None:
    """Two bridges storing the same devices' messages at the same time: each observation is
    stored and evaluated once, under the state's lock, and each alert opens once."""
    import threading

    for i in range(5):
        add_device(engine, f"c{i}")
    apply(engine, CO2.replace("for: 10m", "for: 1m"))
    readings = [
        Observation(f"c{i}", "co2", v, at(m))
        for m, v in enumerate([1100, 1150, 1200, 1250, 1300, 1350])
        for i in range(5)
    ]
    errors: list[BaseException] = []
    with rules_writer(rs, engine) as (one, _), rules_writer(rs, engine) as (two, _):

        def run(writer: object, items: list[Observation]) -> None:
            try:
                for obs in items:
                    writer.write([obs], now=LATER)  # type: ignore[attr-defined]
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        # each writer gets every observation (a redelivery to both), in time order: what
        # one stores first the other finds a duplicate; what one evaluates late, being
        # older than the state's last, is ignored
        threads = [
            threading.Thread(target=run, args=(one, readings)),
            threading.Thread(target=run, args=(two, readings)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors
    found = alerts(engine)
    assert sorted(a["device_id"] for a in found) == [f"c{i}" for i in range(5)]
    assert all(a["state"] == "open" for a in found)
    for i in range(5):
        assert state(engine, "classroom-co2", f"c{i}") == "firing"
