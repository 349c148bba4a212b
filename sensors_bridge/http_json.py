"""The HTTP adapter's decoding: one JSON observation, a JSON array of them, or NDJSON.

Each observation is ``{"device": ..., "metric": ..., "value": ..., "at": "RFC 3339",
"unit": ..., "quality": ..., "message_id": ...}``; ``at`` defaults to the receipt time.
A line or element that cannot be read becomes a :class:`Rejected` with its index (the
others are still stored); a body that is no JSON at all is one rejection.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import orjson

from sensors_bridge.model import Observation, Rejected

_FIELDS = frozenset({"device", "metric", "value", "at", "unit", "quality", "message_id"})


class JSONAdapter:
    """``POST /api/ingest`` bodies (protocol ``http``)."""

    protocol = "http"

    def decode(self, body: bytes, *, received: datetime) -> Iterable[Observation | Rejected]:
        return list(_decode(body, received))


def _decode(body: bytes, received: datetime) -> Iterator[Observation | Rejected]:
    try:
        docs: list[Any] = [orjson.loads(body)]
        lines: list[bytes] = [body]
    except orjson.JSONDecodeError as exc:
        lines = [line for line in body.splitlines() if line.strip()]
        if len(lines) < 2:
            yield Rejected("malformed_json", f"the body is not JSON: {exc}", body)
            return
        docs = []
        for i, line in enumerate(lines):
            try:
                docs.append(orjson.loads(line))
            except orjson.JSONDecodeError as line_exc:
                docs.append(Rejected("malformed_json", f"line {i + 1}: {line_exc}", line, i))
    if len(docs) == 1 and isinstance(docs[0], list):
        docs = docs[0]
        lines = [orjson.dumps(d) for d in docs]
    if not docs:
        yield Rejected("empty", "the body holds no observation", body)
    for i, doc in enumerate(docs):
        if isinstance(doc, Rejected):
            yield doc
        else:
            yield _observation(doc, i, lines[i] if len(lines) == len(docs) else body, received)


def _observation(doc: Any, index: int, raw: bytes, received: datetime) -> Observation | Rejected:
    if not isinstance(doc, dict):
        return Rejected("not_an_object", f"item {index} is not a JSON object", raw, index)
    missing = [f for f in ("device", "metric", "value") if f not in doc]
    if missing:
        return Rejected("missing_field", f"item {index} lacks {', '.join(missing)}", raw, index)
    unknown = sorted(set(doc) - _FIELDS)
    if unknown:
        allowed = ", ".join(sorted(_FIELDS))
        detail = f"item {index} has unknown fields {', '.join(unknown)} (allowed: {allowed})"
        return Rejected("unknown_field", detail, raw, index)
    for key in ("device", "metric", "unit", "quality", "message_id", "at"):
        if key in doc and not isinstance(doc[key], str):  # null too: leave the field out
            return Rejected("wrong_type", f"item {index}: {key} must be a string", raw, index)
    at = received
    if "at" in doc:
        try:
            at = datetime.fromisoformat(doc["at"])
        except ValueError:
            detail = f"item {index}: at {doc['at']!r} is not an RFC 3339 time"
            return Rejected("bad_time", detail, raw, index)
    return Observation(
        device=doc["device"],
        metric=doc["metric"],
        value=doc["value"],
        time=at,
        protocol="http",
        unit=doc.get("unit") or None,
        quality=doc.get("quality", "good"),
        raw=raw,
        message_id=doc.get("message_id"),
    )
