"""``GET /api/audit``: the audit log, newest first, for admins only (filters and pages)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from geodata.access import check_role
from twin import audit
from twin.api.deps import CurrentUser, EngineDep
from twin.api.openapi import problems

router = APIRouter(prefix="/api", tags=["application"])


@router.get("/audit", summary="The audit log (admins only)", responses=problems(403))
def audit_log(
    request: Request,
    user: CurrentUser,
    engine: EngineDep,
    kind: Annotated[
        str | None,
        Query(
            description=f"One of {', '.join(audit.AUDIT_KINDS)}.",
            json_schema_extra={"enum": list(audit.AUDIT_KINDS)},
        ),
    ] = None,
    actor: Annotated[str | None, Query(description="An account name, or `cli:USER`.")] = None,
    since: Annotated[
        str | None,
        Query(
            description="A duration ago (30m, 12h, 7d) or an ISO 8601 time.",
            json_schema_extra={"format": "since"},
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Entries per page.")] = 100,
    offset: Annotated[
        int, Query(ge=0, le=2**31 - 1, description="Entries to skip (see `next`).")
    ] = 0,
) -> dict[str, Any]:
    check_role(user, "admin")
    with engine.connect() as conn:
        entries = audit.query(
            conn,
            kind=kind,
            actor=actor,
            since=audit.parse_since(since) if since else None,
            limit=limit,
            offset=offset,
        )
    page: dict[str, Any] = {"entries": [e.public_dict() for e in entries]}
    if len(entries) == limit:
        page["next"] = str(request.url.include_query_params(offset=offset + limit))
    return page
