"""Next departures at a GTFS stop, as the GTFS-realtime specification defines them.

Thin: the stop's visibility (its furniture dataset's, through geodata.access) is checked
first, then :func:`sensors_bridge.gtfs.departures.next_departures` does the work. What the
realtime said that matched nothing in the timetable is counted in the ``Twin-Unmatched``
header (``reason=count; ...``) instead of failing the request.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from geodata.access import check_visibility
from sensors_bridge.gtfs.store import FEED_NAME
from twin.api.deps import CurrentUser, EngineDep, audit_access
from twin.api.openapi import problems

router = APIRouter(prefix="/api", tags=["transit"])


class DepartureOut(BaseModel):
    trip_id: str
    route_id: str | None
    time: int = Field(description="Departure time, epoch seconds")
    delay: int | None = Field(
        description="Seconds late (negative: early); null when scheduled or added"
    )
    status: str = Field(json_schema_extra={"enum": ["realtime", "scheduled", "added"]})


@router.get(
    "/stops/{stop_id}/next",
    summary="Next departures at a stop (timetable under the latest GTFS-realtime)",
    responses=problems(400, 401, 403, 404),
)
def next_at_stop(
    stop_id: str,
    request: Request,
    response: Response,
    engine: EngineDep,
    user: CurrentUser,
    feed: Annotated[
        str,
        Query(
            description="The GTFS feed's name (`twin gtfs import --feed NAME`)",
            pattern=FEED_NAME,
        ),
    ],
    at: Annotated[
        str | None,
        Query(
            description="From when: epoch seconds or ISO 8601 with a UTC offset, 1970 to "
            "9998 (default: now); a past time replays the realtime recorded then",
            json_schema_extra={"format": "instant"},
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> list[DepartureOut]:
    from geodata.pg import raw_connection
    from sensors_bridge.gtfs.departures import next_departures, stop_visibility
    from sensors_bridge.gtfs.times import parse_instant

    instant = parse_instant(at, int(time.time()))
    with engine.connect() as conn:
        raw = raw_connection(conn)
        visibility = stop_visibility(raw, feed, stop_id)
        check_visibility(user, visibility, f"stop {stop_id!r}")
        audit_access(request, user, "read", f"stop {feed}/{stop_id}", visibility)
        result = next_departures(raw, feed=feed, stop_id=stop_id, at=instant, limit=limit)
    if result.unmatched:
        response.headers["Twin-Unmatched"] = "; ".join(
            f"{why}={n}" for why, n in result.unmatched.items()
        )
    return [DepartureOut(**d.as_dict()) for d in result.departures]
