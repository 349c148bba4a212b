"""``WS /ws/live``: the latest state of what a client subscribes to, then coalesced deltas and
alerts, from this worker's hub (:mod:`twin.live.hub`).

The caller is anonymous unless a token comes as ``?token=`` or in a message
``{"token": "..."}`` (checked by :class:`twin.auth.TokenVerifier`, as the HTTP routes' bearer
tokens are); a wrong token ends the connection (close code 1008) after an ``error`` message
saying why. A refused subscription is answered ``{"type": "error", "reason": ...}`` and the
previous one stays in effect: the connection lives on.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from geodata.access import ANONYMOUS, Principal
from geodata.errors import TwinError
from twin.audit import AuditWriter
from twin.auth import TokenVerifier
from twin.live.hub import Hub
from twin.live.session import Session
from twin.live.subscription import parse

router = APIRouter()
#: a client message is a token or a subscription: small
MAX_MESSAGE_BYTES = 1 << 20
_HELP = 'send {"subscribe": {...}} or {"token": "..."}'


async def _principal(websocket: WebSocket, token: object) -> Principal:
    if not isinstance(token, str):
        raise _BadMessage('"token" must be a string (a token printed by `twin users add`)')
    verifier: TokenVerifier = websocket.app.state.verifier
    client = websocket.client.host if websocket.client else None
    return await run_in_threadpool(verifier.principal, token.strip() or None, client)


class _BadMessage(Exception):
    pass


def _error(reason: str) -> dict[str, Any]:
    return {"type": "error", "reason": reason}


@router.websocket("/ws/live")
async def live(websocket: WebSocket) -> None:
    await websocket.accept()
    hub: Hub | None = getattr(websocket.app.state, "hub", None)
    if hub is None:
        await websocket.send_json(_error("the live hub is off on this twin (TWIN_LIVE=false)"))
        await websocket.close(1011)
        return
    principal = ANONYMOUS
    token = websocket.query_params.get("token")
    if token:
        try:
            principal = await _principal(websocket, token)
        except TwinError as exc:
            await websocket.send_json(_error(f"token refused: {exc}"))
            await websocket.close(1008)
            return
    session = hub.open(principal)

    async def send(message: bytes) -> None:
        await websocket.send_text(message.decode())

    pump = asyncio.create_task(_pump(session, send, hub))
    ending: str | None = None
    try:
        while ending is None:
            raw = await websocket.receive()
            if raw["type"] == "websocket.disconnect":
                break
            body = raw.get("text") or raw.get("bytes") or ""
            ending = await _handle(websocket, hub, session, body)
    except WebSocketDisconnect:
        pass
    finally:
        hub.close(session)
        pump.cancel()
        with suppress(asyncio.CancelledError, Exception):
            await pump
    if ending is not None:
        with suppress(WebSocketDisconnect, RuntimeError, OSError):
            await send(orjson.dumps(_error(ending)))
            await websocket.close(1008)


async def _pump(session: Session, send: Any, hub: Hub) -> None:
    with suppress(WebSocketDisconnect, RuntimeError, OSError):
        await session.pump(send, hub)


async def _handle(
    websocket: WebSocket, hub: Hub, session: Session, body: str | bytes
) -> str | None:
    """One client message; why the connection must end (a refused token), or None."""
    try:
        if len(body) > MAX_MESSAGE_BYTES:
            raise _BadMessage(f"a message of {len(body)} bytes: at most {MAX_MESSAGE_BYTES}")
        try:
            msg = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise _BadMessage(f"not JSON: {_HELP}") from None
        if not isinstance(msg, dict) or not ({"token", "subscribe"} & msg.keys()):
            raise _BadMessage(f"a message must be a JSON object: {_HELP}")
        unknown = sorted(msg.keys() - {"token", "subscribe"})
        if unknown:
            raise _BadMessage(f"unknown fields {', '.join(unknown)}: {_HELP}")
    except _BadMessage as exc:
        session.tell(_error(str(exc)))
        return None
    if "token" in msg:
        try:
            principal = await _principal(websocket, msg["token"])
        except _BadMessage as exc:
            session.tell(_error(str(exc)))
            return None
        except TwinError as exc:
            return f"token refused: {exc}"
        try:
            hub.sign_in(session, principal)
        except TwinError as exc:
            session.tell(_error(f"subscription dropped: {exc}"))
    if "subscribe" in msg:
        try:
            visibility = hub.subscribe(session, parse(msg["subscribe"]))
        except TwinError as exc:
            session.tell(_error(f"subscription refused: {exc}"))
            return None
        _audit(websocket, session, visibility, msg["subscribe"])
    return None


def _audit(websocket: WebSocket, session: Session, visibility: str, sub: object) -> None:
    """A subscription that shows non-public devices is a read of them, logged as the HTTP
    routes log theirs (batched; never fails the connection)."""
    if visibility == "public":
        return
    writer: AuditWriter = websocket.app.state.audit
    actor = session.principal.name or "anonymous"
    client = websocket.client.host if websocket.client else None
    detail = {"visibility": visibility, "devices": len(session.devices)}
    if isinstance(sub, dict) and sub.get("layers"):
        detail["layers"] = sub["layers"]
    writer.add("read", actor, "live /ws/live", detail, client)
