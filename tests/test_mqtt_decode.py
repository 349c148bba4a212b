"""The MQTT adapter's decoding, pure: topic and payload in, one observation or one rejection
out, and fuzzed topics and payloads never raise."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geodata.errors import InputError
from sensors_bridge.model import Observation, Rejected, adapter_for
from sensors_bridge.mqtt import DEFAULT_PATTERN, MQTTAdapter, TopicPattern
from sensors_bridge.validate import problem

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _one(topic: str, body: bytes) -> Observation | Rejected:
    return MQTTAdapter().decode_message(topic, body, NOW)


def test_plain_number_takes_the_receipt_time() -> None:
    obs = _one("twin/sensor-1/temperature", b"21.5")
    assert isinstance(obs, Observation)
    assert (obs.device, obs.metric, obs.value, obs.time) == ("sensor-1", "temperature", 21.5, NOW)
    assert obs.protocol == "mqtt"


def test_json_payload_carries_its_time_and_unit() -> None:
    obs = _one("twin/s2/co2", b'{"value": 410, "at": "2026-12-01T11:00:00Z", "unit": "ppm"}')
    assert isinstance(obs, Observation)
    assert obs.time == datetime(2026, 12, 1, 11, 0, tzinfo=UTC)
    assert (obs.value, obs.unit) == (410, "ppm")


@pytest.mark.parametrize(
    ("topic", "body", "reason", "says"),
    [
        ("twin/s1", b"1", "bad_topic", "twin/{device_id}/{metric}"),
        ("twin/s1/t/extra", b"1", "bad_topic", "is not"),
        ("other/s1/t", b"1", "bad_topic", "is not"),
        ("twin//t", b"1", "bad_topic", "is not"),
        ("twin/s1/t", b"warm", "malformed_payload", "must be a number"),
        ("twin/s1/t", b'"21"', "malformed_payload", "not a number"),
        ("twin/s1/t", b"true", "malformed_payload", "not a number"),
        ("twin/s1/t", b'{"at": "2026-12-01T11:00:00Z"}', "malformed_payload", "no value"),
        ("twin/s1/t", b'{"value": 1, "colour": "red"}', "malformed_payload", "colour"),
        ("twin/s1/t", b'{"value": 1, "at": "yesterday"}', "malformed_payload", "RFC 3339"),
        ("twin/s1/t", b'{"value": 1, "at": 5}', "malformed_payload", "at must be a string"),
    ],
)
def test_bad_messages_are_rejected_with_a_reason(
    topic: str, body: bytes, reason: str, says: str
) -> None:
    got = _one(topic, body)
    assert isinstance(got, Rejected)
    assert got.reason == reason and says in got.detail
    assert body in got.raw and topic.encode() in got.raw  # the dead letter keeps both


def test_registered_as_mqtt_and_the_interface_decode_needs_the_topic() -> None:
    adapter = adapter_for("mqtt")
    assert isinstance(adapter, MQTTAdapter)
    [item] = adapter.decode(b"1", received=NOW)  # no topic: refused, not raised
    assert isinstance(item, Rejected) and item.reason == "bad_topic"


def test_topic_patterns_are_the_seam_for_other_layouts() -> None:
    site = TopicPattern("city/{metric}/by-device/{device_id}")
    assert site.filter == "city/+/by-device/+"
    assert DEFAULT_PATTERN.filter == "twin/+/+"
    obs = MQTTAdapter((site,)).decode_message("city/noise/by-device/m-7", b"55", NOW)
    assert isinstance(obs, Observation) and (obs.device, obs.metric) == ("m-7", "noise")
    for bad in ("twin/{device_id}", "twin/x{device_id}/{metric}", "twin/#/{device_id}/{metric}"):
        with pytest.raises(InputError, match="topic pattern"):
            TopicPattern(bad)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40), st.binary(max_size=120))
def test_arbitrary_topics_and_payloads_never_raise(topic: str, body: bytes) -> None:
    item = _one(topic, body)
    assert isinstance(item, Observation | Rejected)
    if isinstance(item, Observation):
        why = problem(item, now=NOW, ranges={})
        assert why is None or (why[0] and why[1])


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=st.characters(blacklist_characters="/+#"), min_size=1, max_size=10),
    st.one_of(st.integers(), st.floats(), st.booleans(), st.none(), st.text(max_size=8)),
)
def test_json_values_of_any_kind_never_raise(device: str, value: object) -> None:
    import orjson

    try:
        body = orjson.dumps({"value": value})
    except TypeError:
        return
    assert isinstance(_one(f"twin/{device}/m", body), Observation | Rejected)
