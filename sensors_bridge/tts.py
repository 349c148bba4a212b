"""The Things Stack v3 (protocol ``tts``): application uplinks as its webhooks and MQTT send.

A message is the JSON TTS documents under "Data Formats": ``end_device_ids`` (``device_id``,
``dev_eui``), ``correlation_ids`` and one part naming its kind, ``uplink_message`` for an
uplink. Empty fields are omitted by TTS, so any field may be absent. An uplink gives one
observation per number of ``uplink_message.decoded_payload`` (what the device's payload
formatter made of its bytes), matched on the DevEUI against the device's external id. Its
time is ``uplink_message.received_at``, when the network server received the uplink (the
closest to the measurement TTS knows; the device sends no clock), else the message's own
``received_at``. Its message id is the ``as:up:`` correlation id, so a redelivery is stored
once. Other messages (``join_accept``, ``downlink_ack``...) carry no observation: the route
counts them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson

from sensors_bridge import lorawan
from sensors_bridge.model import Observation, Rejected

#: MQTT topics TTS publishes uplinks on (``v3/{application id}@{tenant id}/devices/{device
#: id}/up``), for the MQTT bridge to subscribe to
TOPICS = ("v3/+/devices/+/up",)
#: the parts a TTS application message may carry besides an uplink, by the name it is counted
EVENTS = {
    "join_accept": "join",
    "downlink_ack": "downlink_ack",
    "downlink_nack": "downlink_nack",
    "downlink_sent": "downlink_sent",
    "downlink_failed": "downlink_failed",
    "downlink_queued": "downlink_queued",
    "downlink_queue_invalidated": "downlink_queue_invalidated",
    "location_solved": "location",
    "service_data": "service_data",
}


class TTSAdapter:
    """Uplink messages of The Things Stack v3 (protocol ``tts``)."""

    protocol = "tts"

    def decode(self, body: bytes, *, received: datetime) -> Iterable[Observation | Rejected]:
        return self.decode_message(body, received=received)[1]

    def decode_message(
        self, body: bytes, *, received: datetime
    ) -> tuple[str, list[Observation | Rejected]]:
        """The message's kind (``up``, or a name of :data:`EVENTS`) and its observations."""
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return "up", [Rejected("malformed_json", f"the body is not JSON: {exc}", body)]
        if not isinstance(doc, dict):
            return "up", [Rejected("not_an_object", "a TTS message is a JSON object", body)]
        uplink = doc.get("uplink_message")
        if uplink is None:
            kind = next((EVENTS[k] for k in doc if k in EVENTS), None)
            if kind is not None:
                return kind, []
            detail = "no uplink_message (nor another TTS message part) in the message"
            return "up", [Rejected("missing_field", detail, body)]
        return "up", _uplink(doc, uplink, body, received)


def _uplink(
    doc: dict[str, Any], uplink: Any, body: bytes, received: datetime
) -> list[Observation | Rejected]:
    ids = doc.get("end_device_ids")
    eui = lorawan.dev_eui(ids.get("dev_eui") if isinstance(ids, dict) else None)
    if eui is None:
        detail = "end_device_ids.dev_eui is missing or not 16 hex digits: give the device a DevEUI"
        return [Rejected("missing_field", detail, body)]
    if not isinstance(uplink, dict):
        return [Rejected("wrong_type", "uplink_message must be an object", body)]
    at = _time(uplink.get("received_at"), doc.get("received_at"), received)
    if at is None:
        detail = "uplink_message.received_at is not an RFC 3339 time"
        return [Rejected("bad_time", detail, body)]
    payload = uplink.get("decoded_payload")
    if payload is None:
        detail = "the uplink has no decoded_payload: give the device a payload formatter"
        return [Rejected("no_decoded_payload", detail, body)]
    if not isinstance(payload, dict):
        return [Rejected("wrong_type", "decoded_payload must be an object", body)]
    return lorawan.observations(
        payload, device=eui, protocol="tts", at=at, message_id=_message_id(doc), raw=body
    )


def _time(*candidates: object) -> datetime | None:
    """The first time given: a string is parsed (None when unreadable), a datetime kept."""
    for value in candidates:
        if isinstance(value, datetime):
            return value
        if value is None:
            continue
        if not isinstance(value, str):
            return None
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _message_id(doc: dict[str, Any]) -> str | None:
    """The application server's uplink id (``as:up:...``): one per uplink, kept on resends."""
    ids = doc.get("correlation_ids")
    if isinstance(ids, list):
        for cid in ids:
            if isinstance(cid, str) and cid.startswith("as:up:"):
                return cid
    return None
