"""The GTFS-realtime propagation rule, without HTTP or database: every rule of the spec on
FeedMessages built here (``sensors_bridge.gtfs.predict``)."""

from __future__ import annotations

from typing import Any

from google.transit import gtfs_realtime_pb2 as rt

from sensors_bridge.gtfs.predict import Call, Predicted, added_departures, predict
from tests.gtfs_data import message, trip_update

CALLS = [Call(1, "S1", 1000, 1000), Call(2, "S2", 1600, 1600), Call(3, "S3", 2200, 2260)]
CALLS.append(Call(4, "S4", 2800, 2800))


def _through_the_wire(update: Any) -> Any:
    """The update as a consumer meets it: serialized in a FeedMessage and parsed back."""
    msg = rt.FeedMessage()
    msg.ParseFromString(message(5000, update))
    return msg.entity[0].trip_update


def run(*stops: dict[str, object], **trip: object) -> list[Predicted | None]:
    return predict(CALLS, _through_the_wire(trip_update("T1", *stops, **trip))).calls


def rt_(time: int, delay: int) -> Predicted:
    return Predicted(time, delay, "realtime")


def sch(time: int) -> Predicted:
    return Predicted(time, None, "scheduled")


def test_a_trip_without_update_is_scheduled_not_on_time() -> None:
    assert predict(CALLS, None).calls == [sch(1000), sch(1600), sch(2260), sch(2800)]


def test_absolute_time_wins_over_delay_and_propagates_downstream_only() -> None:
    got = run({"stop_sequence": 2, "departure": {"time": 1700, "delay": 999}})
    assert got == [sch(1000), rt_(1700, 100), rt_(2360, 100), rt_(2900, 100)]


def test_a_delay_propagates_until_the_next_update() -> None:
    got = run(
        {"stop_sequence": 2, "departure": {"delay": 60}},
        {"stop_sequence": 4, "arrival": {"delay": -30}},
    )
    assert got == [sch(1000), rt_(1660, 60), rt_(2320, 60), rt_(2770, -30)]


def test_an_arrival_time_alone_gives_the_departure_its_delay() -> None:
    got = run({"stop_sequence": 3, "arrival": {"time": 2250}})
    assert got[2:] == [rt_(2310, 50), rt_(2850, 50)]


def test_a_skipped_stop_drops_out_and_the_delay_carries_across_it() -> None:
    got = run(
        {"stop_sequence": 2, "departure": {"delay": 120}},
        {"stop_sequence": 3, "relationship": "SKIPPED", "departure": {"delay": 900}},
    )
    assert got == [sch(1000), rt_(1720, 120), None, rt_(2920, 120)]


def test_no_data_means_the_schedule_until_the_next_update() -> None:
    got = run(
        {"stop_sequence": 1, "departure": {"delay": 120}},
        {"stop_sequence": 2, "relationship": "NO_DATA"},
        {"stop_sequence": 4, "departure": {"delay": 10}},
    )
    assert got == [rt_(1120, 120), sch(1600), sch(2260), rt_(2810, 10)]


def test_a_canceled_trip_drops_out() -> None:
    assert run(relationship="CANCELED") == [None, None, None, None]
    assert run(relationship="DELETED") == [None, None, None, None]


def test_an_added_trip_uses_its_own_times() -> None:
    update = _through_the_wire(
        trip_update(
            "X1",
            {"stop_id": "S2", "departure": {"time": 4321}},
            {"stop_id": "S3", "relationship": "SKIPPED", "departure": {"time": 4400}},
            {"stop_id": "S4", "arrival": {"time": 4500}},
            relationship="ADDED",
            route_id="R1",
        )
    )
    assert added_departures(update, "S2") == [4321]
    assert added_departures(update, "S3") == []
    assert added_departures(update, "S4") == [4500]


def test_updates_matched_by_stop_id_and_what_matches_nothing_is_counted() -> None:
    update = _through_the_wire(
        trip_update(
            "T1",
            {"stop_id": "S3", "departure": {"delay": 30}},
            {"stop_id": "NOWHERE", "departure": {"delay": 500}},
            {"stop_sequence": 99, "departure": {"delay": 500}},
        )
    )
    got = predict(CALLS, update)
    assert got.calls == [sch(1000), sch(1600), rt_(2290, 30), rt_(2830, 30)]
    assert got.unmatched == 2


def test_a_trip_level_delay_applies_until_a_stop_says_otherwise() -> None:
    got = run({"stop_sequence": 3, "departure": {"delay": 0}}, delay=45)
    assert got == [rt_(1045, 45), rt_(1645, 45), rt_(2260, 0), rt_(2800, 0)]
