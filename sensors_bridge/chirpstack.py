"""ChirpStack v4 (protocol ``chirpstack``): integration events, JSON or Protobuf.

ChirpStack's HTTP integration posts each event to one URL with ``?event=up`` (``join``,
``status``, ``ack``, ``txack``, ``log``, ``location``, ``integration``); its MQTT integration
publishes on ``application/{id}/device/{dev_eui}/event/{event}``. The body is the event's
Protobuf message (``integration.UplinkEvent`` for ``up``, from the ``chirpstack-api``
package), in the binary encoding or in Protobuf's JSON mapping, as the integration is set.
Both are read into the same message, so the two encodings cannot disagree: a body starting
with ``{`` is JSON (a binary ``UplinkEvent`` starts with field 1's tag, ``0x0a``).

An uplink gives one observation per number of ``object`` (the device profile's codec
output), matched on ``deviceInfo.devEui``, at ``time``, with ``deduplicationId`` as message
id; and its link metrics, ``rssi`` and ``snr`` of the gateway that heard it best (highest
RSSI). Without ``object`` (no codec) the link metrics are still stored and the uplink is a
dead letter ``no_decoded_payload``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from chirpstack_api import integration
from google.protobuf import json_format
from google.protobuf.message import DecodeError

from sensors_bridge import lorawan
from sensors_bridge.model import Observation, Rejected

#: the events ChirpStack v4 integrations send; only ``up`` carries observations
EVENTS = ("up", "status", "join", "ack", "txack", "log", "location", "integration")
#: MQTT topics of ChirpStack's MQTT integration for uplinks, for the MQTT bridge
TOPICS = ("application/+/device/+/event/up",)
#: UCUM units of the link metrics
_LINK_UNITS = {"rssi": "dB[mW]", "snr": "dB"}


class ChirpStackAdapter:
    """ChirpStack v4 uplink events in either encoding (protocol ``chirpstack``)."""

    protocol = "chirpstack"

    def decode(self, body: bytes, *, received: datetime) -> Iterable[Observation | Rejected]:
        event = integration.UplinkEvent()
        problem = _parse(body, event)
        if problem is not None:
            return [problem]
        return _uplink(event, body, received)


def _parse(body: bytes, event: integration.UplinkEvent) -> Rejected | None:
    """Fill ``event`` from either encoding; a rejection when the body is neither."""
    if body.lstrip()[:1] == b"{":
        try:
            json_format.Parse(body, event, ignore_unknown_fields=True)
        except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
            return Rejected("malformed_json", f"the body is no ChirpStack UplinkEvent: {exc}", body)
        return None
    try:
        event.ParseFromString(body)
    except (DecodeError, ValueError, RecursionError) as exc:
        detail = f"the body is neither JSON nor a Protobuf UplinkEvent: {exc}"
        return Rejected("malformed_protobuf", detail, body)
    return None


def _uplink(
    event: integration.UplinkEvent, body: bytes, received: datetime
) -> list[Observation | Rejected]:
    eui = lorawan.dev_eui(event.device_info.dev_eui)
    if eui is None:
        detail = "deviceInfo.devEui is missing or not 16 hex digits"
        return [Rejected("missing_field", detail, body)]
    at = received
    if event.HasField("time"):
        try:
            at = event.time.ToDatetime(tzinfo=UTC)
        except (ValueError, OverflowError, OSError):
            return [Rejected("bad_time", "time is outside the years 1 to 9999", body)]
    message_id = event.deduplication_id or None
    found: list[Observation | Rejected] = [
        Observation(
            eui,
            metric,
            value,
            at,
            "chirpstack",
            _LINK_UNITS[metric],
            "good",
            body,
            message_id,
            True,
        )
        for metric, value in _link_metrics(event)
    ]
    if not event.HasField("object"):
        detail = "the uplink has no object: give the device profile a codec"
        return [*found, Rejected("no_decoded_payload", detail, body)]
    payload = json_format.MessageToDict(event.object)
    found += lorawan.observations(
        payload, device=eui, protocol="chirpstack", at=at, message_id=message_id, raw=body
    )
    return found


def _link_metrics(event: integration.UplinkEvent) -> list[tuple[str, float]]:
    """RSSI and SNR of the gateway that heard the uplink best (highest RSSI, then SNR)."""
    if not event.rx_info:
        return []
    best = max(event.rx_info, key=lambda rx: (rx.rssi, rx.snr))
    return [("rssi", best.rssi), ("snr", best.snr)]
