"""The Things Stack and ChirpStack decoders, pure (no database): the documentation's own
examples, both ChirpStack encodings, and fuzzed bytes that never raise."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geodata.errors import InputError
from sensors_bridge.lorawan import normal_external_id
from sensors_bridge.model import Observation, Rejected, adapter_for
from sensors_bridge.tts import TTSAdapter
from tests.lorawan_examples import (
    CHIRPSTACK_UP,
    TTS_JOIN,
    TTS_UPLINK,
    as_protobuf,
    with_object,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _obs(items: object) -> list[tuple[str, str, float]]:
    assert isinstance(items, list | tuple)
    return [(o.device, o.metric, o.value) for o in items if isinstance(o, Observation)]


def test_tts_uplink_example() -> None:
    items = list(adapter_for("tts").decode(TTS_UPLINK, received=NOW))
    assert _obs(items) == [
        ("0004A30B001C0530", "temperature", 1.0),
        ("0004A30B001C0530", "luminosity", 0.64),
    ]
    first = items[0]
    assert isinstance(first, Observation)
    # the network server's receipt, not the application server's nor ours
    assert first.time == datetime(2020, 2, 12, 15, 15, 45, 789585, tzinfo=UTC)
    assert first.message_id == "as:up:01E0WZGT6Y7657CPFPE5WEYDSQ"
    assert first.external and first.protocol == "tts"


def test_tts_join_is_an_event_and_no_observation() -> None:
    adapter = adapter_for("tts")
    assert isinstance(adapter, TTSAdapter)
    assert adapter.decode_message(TTS_JOIN, received=NOW) == ("join", [])


def test_tts_uplink_without_decoded_payload_is_refused() -> None:
    doc = orjson.loads(TTS_UPLINK)
    del doc["uplink_message"]["decoded_payload"]
    items = list(adapter_for("tts").decode(orjson.dumps(doc), received=NOW))
    assert [r.reason for r in items if isinstance(r, Rejected)] == ["no_decoded_payload"]


def test_chirpstack_up_without_object_keeps_link_metrics() -> None:
    items = list(adapter_for("chirpstack").decode(CHIRPSTACK_UP, received=NOW))
    assert _obs(items) == [
        ("0101010101010101".upper(), "rssi", -36),
        ("0101010101010101", "snr", 10.5),
    ]
    assert [r.reason for r in items if isinstance(r, Rejected)] == ["no_decoded_payload"]


@pytest.mark.parametrize("encode", [lambda b: b, as_protobuf], ids=["json", "protobuf"])
def test_chirpstack_both_encodings_give_the_same_observations(encode: object) -> None:
    body = with_object(CHIRPSTACK_UP, {"temperature": 21.5, "air": {"humidity": 40}, "ok": True})
    assert callable(encode)
    items = list(adapter_for("chirpstack").decode(encode(body), received=NOW))
    assert not [i for i in items if isinstance(i, Rejected)]
    assert sorted(m for _, m, _ in _obs(items)) == ["air.humidity", "rssi", "snr", "temperature"]
    first = items[0]
    assert isinstance(first, Observation)
    assert first.message_id == "3ac7e3c4-4401-4b8d-9386-a5c902f9202d"
    assert first.time == datetime(2022, 7, 18, 9, 34, 15, 775023, tzinfo=UTC)


def test_the_best_gateway_gives_the_link_metrics() -> None:
    doc = orjson.loads(CHIRPSTACK_UP)
    doc["rxInfo"] = [{"rssi": -110, "snr": -3}, {"rssi": -80, "snr": 2.5}, {"rssi": -95, "snr": 9}]
    items = adapter_for("chirpstack").decode(orjson.dumps(doc), received=NOW)
    assert [(m, v) for _, m, v in _obs(list(items))] == [("rssi", -80), ("snr", 2.5)]


def test_a_lorawan_external_id_must_be_a_dev_eui() -> None:
    assert normal_external_id("chirpstack", "0101010101010101") == "0101010101010101"
    assert normal_external_id("tts", "0004a30b001c0530") == "0004A30B001C0530"
    assert normal_external_id("http", "t-1") == "t-1"
    with pytest.raises(InputError, match="no DevEUI"):
        normal_external_id("tts", "dev1")


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.floats()
    | st.integers(-(2**63), 2**63 - 1)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)


def _only_items(protocol: str, body: bytes) -> None:
    for item in adapter_for(protocol).decode(body, received=NOW):
        assert isinstance(item, Observation | Rejected)


@pytest.mark.parametrize("protocol", ["tts", "chirpstack"])
@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(protocol: str, body: bytes) -> None:
    _only_items(protocol, body)


@settings(max_examples=300, deadline=None)
@given(payload=_json, eui=st.text(max_size=20) | st.just("0004A30B001C0530"), at=_json)
def test_tts_shaped_json_never_raises(payload: object, eui: object, at: object) -> None:
    doc = orjson.loads(TTS_UPLINK)
    doc["end_device_ids"]["dev_eui"] = eui
    doc["uplink_message"]["decoded_payload"] = payload
    doc["uplink_message"]["received_at"] = at
    _only_items("tts", orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS))


@settings(max_examples=300, deadline=None)
@given(obj=_json, time=_json, rx=_json, cut=st.integers(0, 400))
def test_chirpstack_shaped_bodies_never_raise(
    obj: object, time: object, rx: object, cut: int
) -> None:
    doc = orjson.loads(CHIRPSTACK_UP)
    doc.update(object=obj, time=time, rxInfo=rx)
    _only_items("chirpstack", orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS))
    _only_items("chirpstack", as_protobuf(with_object(CHIRPSTACK_UP, {"t": 1}))[:cut])
