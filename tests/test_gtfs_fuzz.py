"""Fuzzing the GTFS-realtime parser path with hypothesis: any bytes, and any well-formed
FeedMessage with hostile values, either parse and extract, or raise RealtimeError; nothing
else escapes, and a refused message leaves the recorded state untouched."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.transit import gtfs_realtime_pb2 as rt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from sensors_bridge.gtfs.predict import Call, predict
from sensors_bridge.gtfs.realtime import RealtimeError, extract, parse, record
from sensors_bridge.gtfs.store import import_feed
from tests.gtfs_data import message, trip_update, write_feed

VALID = message(1_781_586_000, trip_update("T1", {"stop_sequence": 2, "departure": {"delay": 60}}))
CALLS = [Call(i, f"S{i}", 1000 * i, 1000 * i + 30) for i in range(1, 5)]
u32 = st.integers(0, 2**32 - 1)
i32 = st.integers(-(2**31), 2**31 - 1)
i64 = st.integers(-(2**63), 2**63 - 1)
floats = st.floats(allow_nan=True, allow_infinity=True, width=32)


def _parse_or_refuse(data: bytes) -> None:
    try:
        msg = parse(data, "fuzz")
    except RealtimeError as exc:
        assert "fuzz: not a GTFS-realtime FeedMessage" in str(exc)
        return
    extracted = extract(msg, 1_781_586_000)
    for entity in msg.entity:
        if entity.HasField("trip_update"):
            prediction = predict(CALLS, entity.trip_update)
            assert len(prediction.calls) == len(CALLS)
    assert extracted.feed_time > 0


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=512))
def test_any_bytes_parse_or_are_refused(data: bytes) -> None:
    _parse_or_refuse(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64), st.integers(0, len(VALID)), st.integers(0, len(VALID)))
def test_a_valid_message_mutated_parses_or_is_refused(blob: bytes, start: int, end: int) -> None:
    _parse_or_refuse(VALID[:start] + blob + VALID[max(start, end) :])


stop_events = st.fixed_dictionaries({}, optional={"time": i64, "delay": i32, "uncertainty": i32})
stop_updates = st.fixed_dictionaries(
    {},
    optional={
        "stop_sequence": u32,
        "stop_id": st.sampled_from(["S1", "S2", "S3", "", "X"]),
        "arrival": stop_events,
        "departure": stop_events,
        "schedule_relationship": st.sampled_from(
            rt.TripUpdate.StopTimeUpdate.ScheduleRelationship.values()
        ),
    },
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(stop_updates, max_size=6),
    st.sampled_from(rt.TripDescriptor.ScheduleRelationship.values()),
    st.one_of(st.none(), i32),
    st.integers(0, 2**64 - 1),
    floats,
    floats,
)
def test_hostile_values_in_a_well_formed_message(
    stops: list[dict[str, object]],
    relationship: int,
    delay: int | None,
    timestamp: int,
    lat: float,
    lon: float,
) -> None:
    msg = rt.FeedMessage()
    msg.header.gtfs_realtime_version = "2.0"
    msg.header.timestamp = timestamp
    tu = msg.entity.add(id="t").trip_update
    tu.trip.trip_id = "T1"
    tu.trip.schedule_relationship = relationship
    if delay is not None:
        tu.delay = delay
    for fields in stops:
        stu = tu.stop_time_update.add()
        for key, value in fields.items():
            if isinstance(value, dict):
                for k, v in value.items():
                    setattr(getattr(stu, key), k, v)
            else:
                setattr(stu, key, value)
    v = msg.entity.add(id="v").vehicle
    v.position.latitude, v.position.longitude = lat, lon
    _parse_or_refuse(msg.SerializeToString())
    out = extract(parse(msg.SerializeToString(), "fuzz"), 1_781_586_000)
    assert 0 < out.feed_time <= 4_102_444_800
    assert all(-90 <= r[4] <= 90 and -180 <= r[3] <= 180 for r in out.vehicles)


def test_refused_messages_leave_the_state_untouched(engine: Engine, tmp_path: Path) -> None:
    import_feed(engine, write_feed(tmp_path / "f.zip"), feed="syn")
    record(engine, "syn", "tu", VALID)

    def state() -> list[tuple[object, ...]]:
        with engine.connect() as conn:
            return [
                tuple(r)
                for r in conn.execute(
                    text(
                        "SELECT s.id, s.message, u.entity_id, u.feed_time FROM gtfs_rt_snapshots s"
                        ", gtfs_trip_updates u ORDER BY 1, 3"
                    )
                )
            ]

    before = state()

    @settings(
        max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(st.binary(max_size=200))
    def refused_or_recorded(data: bytes) -> None:
        try:
            parse(data, "tu")
        except RealtimeError:
            with pytest.raises(RealtimeError):
                record(engine, "syn", "tu", data)
            assert state() == before
            return

    refused_or_recorded()
    assert before and state() == before
