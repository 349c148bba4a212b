"""``/api/devices``: the device registry, each device's latest values and its history, and
``POST /api/devices/{id}/adopt?type=&visibility=`` (admins: the control tower's adopt button,
what ``twin devices adopt`` does; query parameters like the command's options, so no body).

Thin: who may know of a device is :func:`geodata.access.device_visible` (through
:mod:`sensors_bridge.registry`); a device the caller may not know of answers 404, as if it
did not exist (a quarantined one included, for all but admins).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from geodata.access import check_role
from geodata.errors import InputError
from geodata.vocab import DEVICE_STATUSES, VISIBILITIES
from sensors_bridge import history as hist
from sensors_bridge.registry import adopt, get_device, list_devices
from twin.api.deps import CurrentUser, EngineDep
from twin.api.openapi import problems
from twin.audit import record

router = APIRouter(prefix="/api/devices", tags=["live"])

NO_NUL = "^[^\\u0000]*$"  # PostgreSQL text cannot hold NUL
DeviceId = Annotated[str, Path(description="A device id (see `/api/devices`).")]


@router.get("", summary="The devices you may see", responses=problems(400))
def devices(
    user: CurrentUser,
    engine: EngineDep,
    status: Annotated[
        str | None,
        Query(
            description="active or quarantined (quarantined: admins only).",
            json_schema_extra={"enum": list(DEVICE_STATUSES)},
        ),
    ] = None,
) -> dict[str, Any]:
    if status is not None and status not in DEVICE_STATUSES:
        raise InputError(f"status {status!r}: choose one of {', '.join(DEVICE_STATUSES)}")
    return {"devices": list_devices(engine, user, status=status)}


@router.get("/{device_id}", summary="One device", responses=problems(404))
def device(device_id: DeviceId, user: CurrentUser, engine: EngineDep) -> dict[str, Any]:
    with engine.connect() as conn:
        return get_device(conn, user, device_id)


@router.get("/{device_id}/latest", summary="A device's latest values", responses=problems(404))
def latest(device_id: DeviceId, user: CurrentUser, engine: EngineDep) -> dict[str, Any]:
    with engine.connect() as conn:
        get_device(conn, user, device_id)
        return {"device": device_id, "latest": hist.latest(conn, device_id)}


@router.get(
    "/{device_id}/history",
    summary="A metric's history in buckets: min, avg, max, count (JSON or CSV)",
    responses={
        **problems(404),
        200: {"content": {"application/json": {}, "text/csv": {"schema": {"type": "string"}}}},
    },
)
def history(
    device_id: DeviceId,
    user: CurrentUser,
    engine: EngineDep,
    metric: Annotated[str, Query(min_length=1, max_length=200, description="The metric.")],
    from_: Annotated[
        datetime | None,
        Query(alias="from", description="RFC 3339 start (default: a day before `to`)."),
    ] = None,
    to: Annotated[datetime | None, Query(description="RFC 3339 end (default: now).")] = None,
    bucket: Annotated[
        str, Query(pattern=f"^{hist.BUCKET_PATTERN}$", description="Bucket size: 30s, 5m, 1h, 1d.")
    ] = "5m",
    format: Annotated[
        str, Query(description="json or csv.", json_schema_extra={"enum": ["json", "csv"]})
    ] = "json",
) -> Any:
    with engine.connect() as conn:
        get_device(conn, user, device_id)  # first: a hidden device is 404 whatever the span
        end = to or datetime.now(UTC)
        span = hist.Span(from_ or end - timedelta(days=1), end, hist.parse_bucket(bucket))
        rows = hist.history(conn, device_id, metric, span)
    if format == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, ["bucket", "min", "avg", "max", "count"])
        writer.writeheader()
        writer.writerows(rows)
        return Response(buf.getvalue(), media_type="text/csv")
    if format != "json":
        raise InputError(f"format {format!r}: choose json or csv")
    return {"device": device_id, "metric": metric, "bucket": bucket, "buckets": rows}


@router.post(
    "/{device_id}/adopt",
    summary="Adopt a quarantined device (admins): it becomes active, its observations kept",
    responses=problems(400, 401, 403, 404),
)
def adopt_device(
    device_id: DeviceId,
    user: CurrentUser,
    engine: EngineDep,
    type_: Annotated[
        str | None,
        Query(
            alias="type",
            min_length=1,
            max_length=200,
            pattern=NO_NUL,
            description="Its type from now on (lamp, gauge...).",
        ),
    ] = None,
    visibility: Annotated[
        str | None,
        Query(
            description="Who may know of it from now on (kept when not given: a quarantined "
            "device is confidential).",
            json_schema_extra={"enum": list(VISIBILITIES)},
        ),
    ] = None,
) -> dict[str, Any]:
    check_role(user, "admin")  # quarantined devices are known to admins only
    detail = {"change": "adopt", "type": type_, "visibility": visibility}
    adopt(
        engine,
        device_id,
        type_=type_,
        visibility=visibility,
        audit=lambda conn: record(conn, "device", user.name or "", device_id, detail),
    )
    with engine.connect() as conn:
        return get_device(conn, user, device_id)
