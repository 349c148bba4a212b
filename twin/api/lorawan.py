"""``POST /api/ingest/tts`` and ``POST /api/ingest/chirpstack``: LoRaWAN network servers'
HTTP integrations (a TTS webhook, ChirpStack's HTTP integration) posting to the twin.

Both take integration tokens like ``/api/ingest`` (set ``Authorization: Bearer ...`` as a
header of the webhook or integration). An uplink is decoded by the protocol's adapter and
stored by its batch writer; an event that carries no observation (a join, a status report,
a downlink acknowledgement) is answered 200 and counted in ``/api/ingest/stats``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from geodata.access import check_network_ingest
from sensors_bridge import deadletters
from sensors_bridge.chirpstack import EVENTS as CHIRPSTACK_EVENTS
from sensors_bridge.model import Observation, Rejected, adapter_for
from sensors_bridge.store import BatchResult, BatchWriter
from sensors_bridge.tts import EVENTS as TTS_EVENTS
from sensors_bridge.tts import TTSAdapter
from twin.api.deps import CurrentUser, EngineDep, SettingsDep
from twin.api.ingest import TEXT, answer, read_body, within_observation_rate, within_rate
from twin.api.openapi import problems

router = APIRouter(prefix="/api/ingest", tags=["live"])

_EUI = {"type": "string", "pattern": "^[0-9A-Fa-f]{16}$", "description": "the DevEUI"}
_AT = {"type": "string", "format": "observed-at", "description": "RFC 3339 time"}
#: a codec's output as far as the twin reads it: named numbers (other values are left out)
_DECODED = {
    "type": "object",
    "minProperties": 1,
    "propertyNames": TEXT,
    "additionalProperties": {"type": "number"},
}
_TTS_UPLINK = {
    "type": "object",
    "required": ["end_device_ids", "uplink_message"],
    "properties": {
        "end_device_ids": {
            "type": "object",
            "required": ["dev_eui"],
            "properties": {"device_id": {"type": "string"}, "dev_eui": _EUI},
        },
        "correlation_ids": {"type": "array", "items": {**TEXT, "minLength": 0}},
        "received_at": _AT,
        "uplink_message": {
            "type": "object",
            "required": ["decoded_payload"],
            "properties": {"decoded_payload": _DECODED, "received_at": _AT},
        },
    },
}
_TTS_EVENT = {
    "type": "object",
    "not": {"required": ["uplink_message"]},
    "anyOf": [{"required": [part]} for part in TTS_EVENTS],
}
_TTS_BODY = {
    "description": "A The Things Stack v3 application message (its webhook's JSON): an "
    "uplink (`uplink_message`) gives one observation per number of its `decoded_payload`, "
    "matched on `end_device_ids.dev_eui`, at `uplink_message.received_at`, the "
    "`as:up:` correlation id its message id; other messages (`join_accept`, "
    "`downlink_ack`...) are counted.",
    "required": True,
    "content": {"application/json": {"schema": {"anyOf": [_TTS_UPLINK, _TTS_EVENT]}}},
}
_LINK = {"type": "number", "minimum": -1000, "maximum": 1000}
_CHIRPSTACK_UP = {
    "type": "object",
    "required": ["deviceInfo", "object"],
    "properties": {
        "deduplicationId": {**TEXT, "minLength": 0},
        "time": _AT,
        "deviceInfo": {"type": "object", "required": ["devEui"], "properties": {"devEui": _EUI}},
        "object": _DECODED,
        "rxInfo": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"rssi": {**_LINK, "type": "integer"}, "snr": _LINK},
            },
        },
    },
}
_CHIRPSTACK_BODY = {
    "description": "A ChirpStack v4 integration event: an `up` event "
    "(`integration.UplinkEvent`) gives one observation per number of its `object`, plus "
    "`rssi` and `snr` of the best gateway, matched on `deviceInfo.devEui`, at `time`, "
    "`deduplicationId` its message id (an uplink without `object` keeps `rssi` and `snr` "
    "and is a dead letter `no_decoded_payload`); other events are counted. Shown here in "
    "Protobuf's JSON mapping; the binary encoding (ChirpStack's Protobuf marshaler, "
    "`Content-Type: application/octet-stream`) is read at the same URL.",
    "required": True,
    "content": {"application/json": {"schema": _CHIRPSTACK_UP}},
}
ChirpStackEvent = Literal["up", "status", "join", "ack", "txack", "log", "location", "integration"]
assert set(get_args(ChirpStackEvent)) == set(CHIRPSTACK_EVENTS)  # one list, checked at import


@router.post(
    "/tts",
    summary="The Things Stack v3 webhook (integration tokens)",
    openapi_extra={"requestBody": _TTS_BODY},
    responses=problems(400, 401, 403, 413, 422, 429),
)
async def ingest_tts(
    request: Request, user: CurrentUser, engine: EngineDep, settings: SettingsDep
) -> JSONResponse:
    check_network_ingest(user)
    await within_rate(request, engine, user, "tts")
    body, received = await read_body(request, engine, settings, "tts")
    adapter = adapter_for("tts")
    assert isinstance(adapter, TTSAdapter)
    kind, items = adapter.decode_message(body, received=received)
    if kind != "up":
        return await _counted(engine, "tts", kind)
    items = list(items)
    await within_observation_rate(request, engine, user, "tts", items, body)
    return answer(await run_in_threadpool(_write, request, "tts", items, received))


@router.post(
    "/chirpstack",
    summary="ChirpStack v4 HTTP integration, JSON or Protobuf (integration tokens)",
    openapi_extra={"requestBody": _CHIRPSTACK_BODY},
    responses=problems(400, 401, 403, 413, 422, 429),
)
async def ingest_chirpstack(
    request: Request,
    user: CurrentUser,
    engine: EngineDep,
    settings: SettingsDep,
    event: ChirpStackEvent = Query(description="the event type ChirpStack sends with it"),
) -> JSONResponse:
    check_network_ingest(user)
    await within_rate(request, engine, user, "chirpstack")
    body, received = await read_body(request, engine, settings, "chirpstack")
    if event != "up":
        return await _counted(engine, "chirpstack", event)
    items = list(adapter_for("chirpstack").decode(body, received=received))
    await within_observation_rate(request, engine, user, "chirpstack", items, body)
    return answer(await run_in_threadpool(_write, request, "chirpstack", items, received))


def _write(
    request: Request, protocol: str, items: list[Observation | Rejected], received: datetime
) -> BatchResult:
    writer: BatchWriter = request.app.state.ingest_writers[protocol]
    return writer.write(items, now=received)


async def _counted(engine: Engine, adapter: str, kind: str) -> JSONResponse:
    """A network-server event without observations: counted, answered 200."""

    def count() -> None:
        with engine.begin() as conn:
            deadletters.count_event(conn, adapter, kind)

    await run_in_threadpool(count)
    doc: dict[str, Any] = {"event": kind, "accepted": 0, "duplicate": 0, "rejected": []}
    return JSONResponse(doc)
