"""``/api/alerts``: alerts opened by rules, listed for who may see their device, and
acknowledged or resolved by agents, operators and admins (audited, announced live).

Thin: who sees an alert is its device's visibility through the one access rule
(:func:`geodata.access.device_visible`, in :mod:`twin.rules.alerts`); an alert the caller
may not see answers 404, as if it did not exist.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from geodata import feature_params
from geodata.errors import InputError
from geodata.layers import LAYERS
from geodata.vocab import ALERT_STATES, SEVERITIES
from twin.api.deps import CurrentUser, EngineDep
from twin.api.openapi import problems
from twin.rules import alerts as store

router = APIRouter(prefix="/api/alerts", tags=["live"])

AlertId = Annotated[int, Path(ge=1, le=2**63 - 1, description="An alert id (GET /api/alerts).")]


def parse_bbox(value: str) -> tuple[float, float, float, float]:
    """``w,s,e,n`` in WGS 84 degrees, read as the Features API reads its ``bbox``."""
    box = feature_params.parse_bbox(value)
    assert box is not None
    return box.minx, box.miny, box.maxx, box.maxy


def _choice(name: str, value: str | None, allowed: tuple[str, ...] | list[str]) -> str | None:
    if value is not None and value not in allowed:
        raise InputError(f"{name}={value!r}: choose one of {', '.join(allowed)}")
    return value


@router.get("", summary="Alerts you may see, newest first", responses=problems(400))
def list_alerts(
    user: CurrentUser,
    engine: EngineDep,
    state: Annotated[
        str | None,
        Query(
            description="open, acknowledged or resolved.",
            json_schema_extra={"enum": list(ALERT_STATES)},
        ),
    ] = None,
    severity: Annotated[
        str | None, Query(description="Severity.", json_schema_extra={"enum": list(SEVERITIES)})
    ] = None,
    layer: Annotated[
        str | None,
        Query(description="The device's layer.", json_schema_extra={"enum": list(LAYERS)}),
    ] = None,
    bbox: Annotated[
        str | None,
        Query(
            description="west,south,east,north (WGS 84) around the device (format `bbox`).",
            json_schema_extra={"pattern": feature_params.BBOX_PATTERN, "format": "bbox"},
        ),
    ] = None,
    device: Annotated[str | None, Query(max_length=200, description="A device id.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many.")] = 100,
) -> list[dict[str, Any]]:
    filters = store.Filters(
        state=_choice("state", state, ALERT_STATES),
        severity=_choice("severity", severity, SEVERITIES),
        layer=_choice("layer", layer, list(LAYERS)),
        device=device,
        bbox=parse_bbox(bbox) if bbox is not None else None,
        limit=limit,
    )
    with engine.connect() as conn:
        return store.list_alerts(conn, user, filters)


@router.get("/{alert_id}", summary="One alert", responses=problems(404))
def one_alert(alert_id: AlertId, user: CurrentUser, engine: EngineDep) -> dict[str, Any]:
    with engine.connect() as conn:
        return store.public(user, store.get_alert(conn, user, alert_id))


def _handle(request: Request, alert_id: int, user: Any, change: str) -> dict[str, Any]:
    engine = request.app.state.engine
    with engine.begin() as conn:
        doc = store.handle(conn, user, alert_id, change)
    for listener in getattr(request.app.state, "listeners", ()):
        wake = getattr(listener, "wake", None)
        if callable(wake):  # the rules listener sends the announcement now
            wake()
    return doc


@router.post(
    "/{alert_id}/ack",
    summary="Acknowledge an open alert (agents, operators, admins)",
    responses=problems(401, 403, 404, 409),
)
def ack(request: Request, alert_id: AlertId, user: CurrentUser) -> dict[str, Any]:
    return _handle(request, alert_id, user, "ack")


@router.post(
    "/{alert_id}/resolve",
    summary="Resolve an alert (agents, operators, admins)",
    responses=problems(401, 403, 404, 409),
)
def resolve(request: Request, alert_id: AlertId, user: CurrentUser) -> dict[str, Any]:
    return _handle(request, alert_id, user, "resolve")
