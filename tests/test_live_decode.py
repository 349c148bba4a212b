"""The HTTP adapter's decoding and the validation rule, pure (no database): fuzzed bytes never
raise, and every observation the decoder yields either passes validation or gets a reason."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from sensors_bridge.model import Observation, Rejected, adapter_for
from sensors_bridge.validate import problem

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
_json = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=10,
)
_observation = st.fixed_dictionaries(
    {"device": st.text(max_size=5), "metric": st.text(max_size=5), "value": _json},
    optional={"at": st.text(max_size=30) | st.just("2026-12-01T11:00:00Z"), "unit": _json},
)


def _check(body: bytes) -> None:
    for item in adapter_for("http").decode(body, received=NOW):
        assert isinstance(item, Observation | Rejected)
        if isinstance(item, Observation):
            why = problem(item, now=NOW, ranges={})
            assert why is None or (why[0] and why[1])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise(body: bytes) -> None:
    _check(body)


@settings(max_examples=300, deadline=None)
@given(st.one_of(_observation, st.lists(_observation, max_size=4), _json))
def test_arbitrary_json_never_raises(doc: object) -> None:
    try:
        body = orjson.dumps(doc)
    except TypeError:  # integers beyond 64 bits: not JSON orjson writes
        return
    _check(body)
    _check(body + b"\n" + body)  # as NDJSON


def test_ndjson_keeps_the_good_lines() -> None:
    body = b'{"device": "a", "metric": "t", "value": 1}\n\n{oops\n[1]\n'
    got = list(adapter_for("http").decode(body, received=NOW))
    assert isinstance(got[0], Observation) and got[0].time == NOW
    assert [(r.reason, r.index) for r in got[1:] if isinstance(r, Rejected)] == [
        ("malformed_json", 1),
        ("not_an_object", 2),
    ]
