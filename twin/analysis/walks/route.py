"""``route``: the walk from one point to another on foot or in a wheelchair, and, when the
profile finds none, the steps, kerbs, slopes and widths that block it."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ConfigDict, Field

from geodata.access import strictest
from geodata.errors import NotFound
from geodata.walk_profiles import judge
from geodata.walk_routing import describe, route, why_blocked
from twin.analysis.base import Analysis, AnalysisContext, Result
from twin.analysis.place import working_epsg
from twin.analysis.walks.common import (
    NETWORK_TABLES,
    WalkParams,
    check_near,
    line_geojson,
    lonlat_geojson,
    network_for,
    seen_visibility,
    xy_validator,
)
from twin.analysis.walks.gpx import gpx_document

#: a point further than this from every way is refused (m)
SNAP_LIMIT_M = 300.0


class RouteParams(WalkParams):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    from_: tuple[float, float] = Field(
        alias="from", description="start: X,Y in the working CRS (m)"
    )
    to: tuple[float, float] = Field(description="end: X,Y in the working CRS (m)")

    _xy = xy_validator("from_", "to")


def blocked_message(profile: str, blockers: list[dict[str, Any]], foot_m: float) -> str:
    parts = []
    for b in blockers[:12]:
        why = "; ".join(b["why"])
        parts.append(f"{why} at {b['at'][0]:.1f},{b['at'][1]:.1f} ({b['source_id']})")
    more = f" and {len(blockers) - 12} more" if len(blockers) > 12 else ""
    return (
        f"no {profile} route: the foot route ({foot_m:.0f} m) uses {len(blockers)} way(s) "
        f"the {profile} profile forbids: " + ", ".join(parts) + more + ". Loosen a limit "
        "(--max-incline PERCENT, --min-width M, --max-kerb M, --unknown allow) or walk"
    )


class WalkRoute(Analysis[RouteParams]):
    """A walking route between two points of the working CRS: length, duration and line
    (GeoJSON, working CRS), what it meets (steps, steepest slope, narrowest width, highest
    kerb, unknown properties), and a GPX track (``route.gpx``). With no route under the
    profile, a 404 naming the steps, kerbs, slopes and widths that block the foot route;
    points not joined by any way or far from every way, a 404 too (saying so)."""

    name = "route"
    title = "A walking route (foot or wheelchair) with its length, duration and GPX track"
    Params = RouteParams
    layers: ClassVar[tuple[str, ...]] = ("ground",)
    tables: ClassVar[tuple[str, ...]] = NETWORK_TABLES
    get: ClassVar[bool] = True
    example: ClassVar[dict[str, Any]] = {
        "from": [385781.6, 6672235.7],
        "to": [386391.4, 6672027.2],
        "profile": "wheelchair",
    }

    def visibility(self, ctx: AnalysisContext, params: Any) -> str:
        """The layers' visibility, or stricter when the caller sees restricted datasets."""
        return strictest(
            super().visibility(ctx, params),
            seen_visibility(ctx.engine, ctx.principal, ("ground",)),
        )

    def run(self, ctx: AnalysisContext, params: RouteParams) -> Result:
        epsg = working_epsg(ctx.engine)
        net = network_for(ctx.engine, ctx.principal)
        a, b = params.from_, params.to
        check_near(net, a, "--from", SNAP_LIMIT_M)
        check_near(net, b, "--to", SNAP_LIMIT_M)
        profile = params.walking_profile()
        j = judge(net, profile)
        found = route(net, j, a, b)
        if found is None:
            blocked = why_blocked(net, profile, j, a, b)
            if blocked.foot_length_m is None:  # 404: no route; the request itself was fine
                raise NotFound(
                    f"{a[0]:.1f},{a[1]:.1f} and {b[0]:.1f},{b[1]:.1f} are not joined by any "
                    "footway or street of the twin (they are on separate parts of the "
                    "network): pick points on connected ways"
                )
            raise NotFound(blocked_message(profile.name, blocked.blockers, blocked.foot_length_m))
        walk = found.walk
        duration = walk.length_m / profile.speed_m_s
        doc: dict[str, Any] = {
            "length_m": round(walk.length_m, 2),
            "duration_s": round(duration, 1),
            "geometry": line_geojson(walk.coords),
            "crs": f"EPSG:{epsg}",
            "geometry_lonlat": lonlat_geojson(walk.coords, epsg),
            "profile": profile.name,
            "limits": profile.limits(),
            **describe(net, j, found.eids),
        }
        gpx = gpx_document(
            walk.coords,
            epsg,
            name=f"{profile.name} route",
            description=f"{walk.length_m:.0f} m, {duration / 60:.0f} min",
        )
        return Result(doc, {"route.gpx": gpx})
