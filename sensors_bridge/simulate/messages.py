"""The messages a simulated device sends, in each protocol's own shape (pure: no I/O).

Why the real shapes: the simulator is the demo's traffic and the bridge's test load, so what
it publishes must be what a user's devices and network servers publish, read by the same
adapters: ``twin/{device}/{metric}`` JSON with ``at``; an ``/api/ingest`` observation; a The
Things Stack v3 uplink (``end_device_ids.dev_eui``, ``correlation_ids`` with its ``as:up:``
id, ``uplink_message.decoded_payload`` and ``received_at``) on
``v3/{application}@{tenant}/devices/{device}/up``; a ChirpStack v4 ``UplinkEvent`` in
Protobuf's JSON mapping (``deduplicationId``, ``time``, ``deviceInfo.devEui``, ``object``,
``rxInfo`` with ``rssi`` and ``snr``) on ``application/{id}/device/{devEui}/event/up``.
Every message carries its time and a message id derived from (seed, device, sequence), so a
resend is a duplicate, never a second observation.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from sensors_bridge.simulate.profiles import METRICS, Scenario, noise, utc, value

#: the demo's The Things Stack application and tenant, and ChirpStack application id
TTS_APPLICATION = "twin-demo@ttn"
CHIRPSTACK_APPLICATION = "5b4c5cb8-5f41-4c1e-9d0f-7a1f0c0d2b10"
_NAMESPACE = uuid.UUID("6f1c2c57-7a43-4d8e-9b1e-0d3d7c6a9f10")


@dataclass(frozen=True)
class SimDevice:
    """A registered device the simulator speaks for: its id, protocol and kind of profile."""

    id: str
    protocol: str
    kind: str
    external_id: str | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def metrics(self) -> dict[str, str]:
        return METRICS[self.kind]

    def observations_per_message(self) -> int:
        """How many observations one message of it gives once ingested (ChirpStack adds the
        best gateway's RSSI and SNR)."""
        return len(self.metrics) + (2 if self.protocol == "chirpstack" else 0)


@dataclass(frozen=True)
class Message:
    """One message to publish: an MQTT topic, or an HTTP path, and its body."""

    protocol: str
    device: str
    body: bytes
    topic: str | None = None
    path: str | None = None
    observations: int = 1


def message(device: SimDevice, at: datetime, n: int, scenario: Scenario) -> list[Message]:
    """What ``device`` sends as its ``n``-th message at ``at`` (the twin's MQTT and HTTP send
    one message per metric; a LoRaWAN uplink carries all of them)."""
    values = {m: value(device.kind, m, device.id, at, scenario) for m in device.metrics}
    if device.protocol == "mqtt":
        return [
            Message(
                "mqtt",
                device.id,
                orjson.dumps({"value": v, "at": utc(at), "unit": device.metrics[m]}),
                topic=f"twin/{device.id}/{m}",
            )
            for m, v in values.items()
        ]
    if device.protocol == "http":
        return [
            Message(
                "http",
                device.id,
                orjson.dumps(
                    {"device": device.id, "metric": m, "value": v, "at": utc(at)}
                    | {"unit": device.metrics[m]}
                ),
                path="/api/ingest",
            )
            for m, v in values.items()
        ]
    if device.protocol == "tts":
        return [_tts(device, at, n, values, scenario)]
    if device.protocol == "chirpstack":
        return [_chirpstack(device, at, n, values, scenario)]
    raise ValueError(f"device {device.id!r}: the simulator has no {device.protocol} messages")


def _eui(device: SimDevice) -> str:
    if not device.external_id:
        raise ValueError(f"device {device.id!r}: a LoRaWAN device needs its DevEUI")
    return device.external_id.upper()


def _ulid_like(scenario: Scenario, device: SimDevice, n: int) -> str:
    """A stable 26-character id in Crockford base 32, as TTS's correlation ids look."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    x = uuid.uuid5(_NAMESPACE, f"{scenario.seed}|{device.id}|{n}").int >> 2
    return "".join(alphabet[(x >> (5 * i)) & 31] for i in range(26))


def _tts(
    device: SimDevice, at: datetime, n: int, values: dict[str, float], scenario: Scenario
) -> Message:
    eui = _eui(device)
    up = _ulid_like(scenario, device, n)
    body = {
        "end_device_ids": {
            "device_id": device.id,
            "application_ids": {"application_id": TTS_APPLICATION.split("@")[0]},
            "dev_eui": eui,
        },
        "correlation_ids": [f"as:up:{up}", f"rpc:/ttn.lorawan.v3.GsNs/HandleUplink:{up}"],
        "received_at": utc(at),
        "uplink_message": {
            "f_port": 1,
            "f_cnt": n,
            "decoded_payload": values,
            "received_at": utc(at),
            "rx_metadata": [{"gateway_ids": {"gateway_id": "twin-demo-gw"}, "rssi": -97}],
        },
    }
    return Message(
        "tts",
        device.id,
        orjson.dumps(body),
        topic=f"v3/{TTS_APPLICATION}/devices/{device.id}/up",
        path="/api/ingest/tts",
        observations=len(values),
    )


def _chirpstack(
    device: SimDevice, at: datetime, n: int, values: dict[str, float], scenario: Scenario
) -> Message:
    eui = _eui(device).lower()  # ChirpStack writes DevEUIs in lower case
    rssi = -110 + int(noise(scenario.seed, device.id, "rssi", n) * 50)
    snr = round(-5 + noise(scenario.seed, device.id, "snr", n) * 15, 1)
    body = {
        "deduplicationId": str(uuid.uuid5(_NAMESPACE, f"{scenario.seed}|{device.id}|{n}")),
        "time": utc(at),
        "deviceInfo": {
            "applicationId": CHIRPSTACK_APPLICATION,
            "applicationName": "twin demo",
            "deviceName": device.id,
            "devEui": eui,
        },
        "fCnt": n,
        "fPort": 1,
        "object": values,
        "rxInfo": [{"gatewayId": "0016c001f153a14c", "rssi": rssi, "snr": snr}],
    }
    return Message(
        "chirpstack",
        device.id,
        orjson.dumps(body),
        topic=f"application/{CHIRPSTACK_APPLICATION}/device/{eui}/event/up",
        path="/api/ingest/chirpstack?event=up",
        observations=len(values) + 2,
    )
