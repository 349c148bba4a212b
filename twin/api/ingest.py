"""``POST /api/ingest`` (observations over HTTP) and ``GET /api/ingest/stats``.

Thin: the body is read here (up to ``TWIN_MAX_BODY_BYTES``, since an oversize body must still
become a dead letter), decoded by the registered ``http`` adapter and stored by the batch
writer; what each rejection was, and the status, come from :mod:`sensors_bridge`.

Every ingest route spends the caller's rates (``app.state.ingest_limits``, a
:class:`twin.throttle.RateLimits`): one request before the body is read, then one per decoded
observation. A refusal is a 429 with ``Retry-After`` counted as ``rate_limited`` in the stats,
and never a dead letter, read or not: 429 tells the sender nothing was stored and to send it
again, so keeping it would store it twice, and keeping a flood would turn the limit into a
disk filler. A body with more observations than one window allows can never pass, so it is a
413 and a dead letter ``over_rate``, like an oversize body. A device token's body that names
another device is refused whole (403) and kept as one dead letter ``device_not_allowed``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from geodata.access import Principal, check_device_observations, check_ingest, check_role
from geodata.errors import Forbidden, InputError, PayloadTooLarge, TooManyRequests
from geodata.vocab import QUALITIES
from sensors_bridge import deadletters
from sensors_bridge.model import Observation, Rejected, adapter_for
from sensors_bridge.store import BatchResult, BatchWriter
from sensors_bridge.validate import MAX_NAME
from twin.api.deps import CurrentUser, EngineDep, SettingsDep
from twin.api.openapi import problems
from twin.throttle import RateLimits

router = APIRouter(prefix="/api/ingest", tags=["live"])

NO_NUL = "^[^\\u0000]*$"  # PostgreSQL text cannot hold NUL
TEXT = {"type": "string", "minLength": 1, "maxLength": MAX_NAME, "pattern": NO_NUL}
_OBSERVATION = {
    "type": "object",
    "required": ["device", "metric", "value"],
    "additionalProperties": False,
    "properties": {
        "device": {**TEXT, "description": "the device id (unknown ids are quarantined)"},
        "metric": {**TEXT, "description": "what was measured, e.g. `temperature`"},
        "value": {"type": "number", "description": "a finite number"},
        # a format of its own: JSON Schema cannot say "at most 5 minutes ahead"
        "at": {"type": "string", "format": "observed-at", "description": "RFC 3339 time"},
        "unit": {
            "type": "string",
            "maxLength": MAX_NAME,
            "pattern": NO_NUL,
            "description": "UCUM, e.g. `Cel`",
        },
        "quality": {"type": "string", "enum": list(QUALITIES)},
        "message_id": {
            "type": "string",
            "maxLength": MAX_NAME,
            "pattern": NO_NUL,
            "description": "the sender's id of the message",
        },
    },
}
_BODY = {
    "description": "One observation object, a JSON array of them, or NDJSON (one object a "
    "line, any content type): "
    '`{"device": "t1", "metric": "temperature", "value": 21.5, "at": '
    '"2026-12-01T12:00:00Z", "unit": "Cel"}`; `at` defaults to the receipt time and may be '
    "at most 5 minutes ahead; `message_id` is part of the idempotency key.",
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [_OBSERVATION, {"type": "array", "items": _OBSERVATION, "minItems": 1}]
            }
        },
    },
}


async def _read_limited(request: Request, limit: int) -> tuple[bytes, int]:
    """The body up to ``limit`` + 1 bytes kept, and its full size (read to the end)."""
    kept = bytearray()
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if len(kept) <= limit:
            kept += chunk[: limit + 1 - len(kept)]
    return bytes(kept), size


#: reasons that mean the body could not be read at all (answered 400, not 422)
UNREADABLE = frozenset({"malformed_json", "malformed_protobuf"})


def _status(result: BatchResult) -> int:
    """200 when anything was stored or known already; else 400 for a body that is not
    JSON at all, 422 for readable JSON whose every observation was refused."""
    if result.accepted or result.duplicate:
        return 200
    unreadable = all(r.reason in UNREADABLE and r.index is None for r in result.rejected)
    return 400 if unreadable else 422


@router.post(
    "",
    summary="Send observations (integration tokens)",
    openapi_extra={"requestBody": _BODY},
    responses=problems(400, 401, 403, 413, 422, 429),
)
async def ingest(
    request: Request, user: CurrentUser, engine: EngineDep, settings: SettingsDep
) -> JSONResponse:
    check_ingest(user)
    await within_rate(request, engine, user, "http")
    body, received = await read_body(request, engine, settings, "http")
    items = await run_in_threadpool(_decode, body, received)
    await within_observation_rate(request, engine, user, "http", items, body)
    if user.device is not None:
        await _own_device_only(engine, user, items, body)
    writer: BatchWriter = request.app.state.ingest_writer
    result = await run_in_threadpool(writer.write, items, now=received)
    return answer(result)


def _limits(request: Request) -> RateLimits:
    limits: RateLimits = request.app.state.ingest_limits
    return limits


async def within_rate(request: Request, engine: Any, user: Principal, adapter: str) -> None:
    """Spend one request of the caller's rate, before the body is read (429 past it)."""
    try:
        _limits(request).take("requests", _key(user))
    except TooManyRequests:
        await run_in_threadpool(_count_limited, engine, adapter)
        raise


async def within_observation_rate(
    request: Request,
    engine: Any,
    user: Principal,
    adapter: str,
    items: list[Observation | Rejected],
    body: bytes,
) -> None:
    """Spend one observation of the caller's rate per decoded observation: 429 past it, 413
    (and a dead letter) for a body no window could ever take."""
    limits = _limits(request)
    n = sum(isinstance(i, Observation) for i in items)
    most = limits.largest("observations")
    if n > most:
        error = PayloadTooLarge(
            f"the body has {n} observations, more than the {most} one token may send per "
            f"window (TWIN_INGEST_OBSERVATIONS_PER_TOKEN): send smaller batches"
        )
        await run_in_threadpool(
            _dead_letters, engine, adapter, [Rejected("over_rate", str(error), body)]
        )
        raise error
    try:
        limits.take("observations", _key(user), n)
    except TooManyRequests:
        await run_in_threadpool(_count_limited, engine, adapter)
        raise


async def _own_device_only(
    engine: Any, user: Principal, items: list[Observation | Rejected], body: bytes
) -> None:
    """A device token's body must name its device only (403 and one dead letter if not)."""
    try:
        check_device_observations(user, (i.device for i in items if isinstance(i, Observation)))
    except Forbidden as exc:
        rejected = [Rejected("device_not_allowed", str(exc), body)]
        await run_in_threadpool(_dead_letters, engine, "http", rejected)
        raise


def _key(user: Principal) -> str:
    """Whose rate a request spends: the token's name (one active token per name)."""
    return f"token {user.name}" if user.name else "anonymous"


def _count_limited(engine: Any, adapter: str) -> None:
    with engine.begin() as conn:
        deadletters.count_rate_limited(conn, adapter)


async def read_body(
    request: Request, engine: Any, settings: Any, adapter: str
) -> tuple[bytes, datetime]:
    """The body and when it arrived; an oversize or empty body is a dead letter of
    ``adapter`` and refused (413, 400)."""
    received = datetime.now(UTC)
    body, size = await _read_limited(request, settings.max_body_bytes)
    if size > settings.max_body_bytes:
        error = PayloadTooLarge(
            f"the body has {size} bytes, over this server's limit of "
            f"{settings.max_body_bytes} (TWIN_MAX_BODY_BYTES): send smaller batches"
        )
        rejected = [Rejected("oversize", str(error), body)]
        await run_in_threadpool(_dead_letters, engine, adapter, rejected)
        raise error
    if not body.strip():
        rejected = [Rejected("empty", "the body is empty: send the message in it", body)]
        await run_in_threadpool(_dead_letters, engine, adapter, rejected)
        raise InputError(rejected[0].detail)
    return body, received


def answer(result: BatchResult) -> JSONResponse:
    """The counts, with 200, or a problem document when nothing was stored (400, 422)."""
    status = _status(result)
    doc: dict[str, Any] = result.as_dict()
    if status != 200:
        reasons = sorted({r.reason for r in result.rejected})
        doc = {
            "code": "Bad Request" if status == 400 else "Unprocessable Content",
            "status": status,
            "description": f"nothing was stored: every observation was refused "
            f"({', '.join(reasons)}); see `rejected` for each reason",
            **doc,
        }
    return JSONResponse(doc, status_code=status)


def _decode(body: bytes, received: datetime) -> list[Observation | Rejected]:
    """Decode off the event loop (a large body is CPU work too)."""
    return list(adapter_for("http").decode(body, received=received))


def _dead_letters(engine: Any, adapter: str, rejected: list[Rejected]) -> None:
    with engine.begin() as conn:
        deadletters.add(conn, adapter, rejected)


@router.get(
    "/stats",
    summary="Observations accepted, duplicate and rejected per adapter and reason",
    responses=problems(401, 403),
)
def ingest_stats(user: CurrentUser, engine: EngineDep) -> dict[str, Any]:
    check_role(user, "operator", "admin")
    with engine.connect() as conn:
        return deadletters.stats(conn)
