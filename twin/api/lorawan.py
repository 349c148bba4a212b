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

from geodata.access import check_ingest
from sensors_bridge import deadletters
from sensors_bridge.chirpstack import EVENTS as CHIRPSTACK_EVENTS
from sensors_bridge.model import Observation, Rejected, adapter_for
from sensors_bridge.store import BatchResult, BatchWriter
from sensors_bridge.tts import TTSAdapter
from twin.api.deps import CurrentUser, EngineDep, SettingsDep
from twin.api.ingest import answer, read_body
from twin.api.openapi import problems

router = APIRouter(prefix="/api/ingest", tags=["live"])

_TTS_BODY = {
    "description": "A The Things Stack v3 application message (its webhook's JSON): an "
    "uplink (`uplink_message`) gives one observation per number of its `decoded_payload`, "
    "matched on `end_device_ids.dev_eui`, at `uplink_message.received_at`; other messages "
    "(`join_accept`, `downlink_ack`...) are counted.",
    "required": True,
    "content": {"application/json": {"schema": {"type": "object"}}},
}
_CHIRPSTACK_BODY = {
    "description": "A ChirpStack v4 integration event, JSON or Protobuf (as the HTTP "
    "integration's encoding is set): an `up` event (`integration.UplinkEvent`) gives one "
    "observation per number of its `object`, plus `rssi` and `snr`, matched on "
    "`deviceInfo.devEui`; other events are counted.",
    "required": True,
    "content": {
        "application/json": {"schema": {"type": "object"}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    },
}
ChirpStackEvent = Literal["up", "status", "join", "ack", "txack", "log", "location", "integration"]
assert set(get_args(ChirpStackEvent)) == set(CHIRPSTACK_EVENTS)  # one list, checked at import


@router.post(
    "/tts",
    summary="The Things Stack v3 webhook (integration tokens)",
    openapi_extra={"requestBody": _TTS_BODY},
    responses=problems(400, 401, 403, 413, 422),
)
async def ingest_tts(
    request: Request, user: CurrentUser, engine: EngineDep, settings: SettingsDep
) -> JSONResponse:
    check_ingest(user)
    body, received = await read_body(request, engine, settings, "tts")
    adapter = adapter_for("tts")
    assert isinstance(adapter, TTSAdapter)
    kind, items = adapter.decode_message(body, received=received)
    if kind != "up":
        return await _counted(engine, "tts", kind)
    return answer(await run_in_threadpool(_write, request, "tts", items, received))


@router.post(
    "/chirpstack",
    summary="ChirpStack v4 HTTP integration, JSON or Protobuf (integration tokens)",
    openapi_extra={"requestBody": _CHIRPSTACK_BODY},
    responses=problems(400, 401, 403, 413, 422),
)
async def ingest_chirpstack(
    request: Request,
    user: CurrentUser,
    engine: EngineDep,
    settings: SettingsDep,
    event: ChirpStackEvent = Query(description="the event type ChirpStack sends with it"),
) -> JSONResponse:
    check_ingest(user)
    body, received = await read_body(request, engine, settings, "chirpstack")
    if event != "up":
        return await _counted(engine, "chirpstack", event)
    items = list(adapter_for("chirpstack").decode(body, received=received))
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
