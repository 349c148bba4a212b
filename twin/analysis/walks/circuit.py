"""``circuit``: a walk through points of interest, in the order given or the best order, with
its legs, distance and duration, the bus stops near it, and a GPX track."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import numpy as np
from pydantic import Field, field_validator
from sqlalchemy import text

from geodata.access import strictest
from geodata.datasets import hidden_rows_clause
from geodata.errors import InputError, NotFound
from geodata.walk_profiles import judge
from geodata.walk_routing import (
    best_order,
    describe,
    leg_costs,
    legs_between,
    walk_of,
    why_blocked,
)
from twin.analysis.base import Analysis, AnalysisContext, Result
from twin.analysis.place import working_epsg
from twin.analysis.walks.common import (
    NETWORK_TABLES,
    WalkParams,
    bus_stops_near,
    line_geojson,
    lonlat,
    lonlat_geojson,
    network_for,
    seen_visibility,
)
from twin.analysis.walks.gpx import gpx_document
from twin.analysis.walks.route import blocked_message

#: how many stops a circuit may have
MAX_STOPS = 30


class CircuitParams(WalkParams):
    pois: tuple[Annotated[int, Field(ge=1, le=2**53 - 1)], ...] = Field(
        min_length=2,
        max_length=MAX_STOPS,
        json_schema_extra={"uniqueItems": True},
        description="the points of interest's ids (the pois collection), in order",
    )
    optimise: bool = Field(False, description="visit them in the shortest order instead")
    loop: bool = Field(False, description="come back to the first stop (a closed line)")
    bus_stop_radius: float = Field(
        100.0, ge=0, le=1000, description="bus stops within this distance of the walk (m)"
    )

    @field_validator("pois", mode="before")
    @classmethod
    def _ids(cls, v: Any) -> Any:
        if isinstance(v, str):
            try:
                return [int(p) for p in v.split(",") if p.strip()]
            except ValueError:
                raise ValueError("--pois: give ids separated by commas, e.g. 12,15,31") from None
        return v


Poi = tuple[str | None, str, float, float]


def _pois(ctx: AnalysisContext, ids: tuple[int, ...]) -> dict[int, Poi]:
    """The points of interest asked for, of the datasets the caller may see."""
    clause = hidden_rows_clause("pois", ctx.principal)
    hidden = f" AND {clause}" if clause else ""
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, name, kind, ST_X(geom), ST_Y(geom) FROM pois "
                "WHERE id = ANY(:ids) AND scenario_id IS NULL" + hidden
            ),
            {"ids": list(ids)},
        ).all()
        found = {int(r[0]): (r[1], str(r[2]), float(r[3]), float(r[4])) for r in rows}
        missing = [i for i in ids if i not in found]
        if missing:
            known = conn.execute(
                text(
                    "SELECT id, name FROM pois WHERE scenario_id IS NULL"
                    + hidden
                    + " ORDER BY name IS NULL, id LIMIT 40"
                )
            ).all()
            total = conn.execute(
                text("SELECT count(*) FROM pois WHERE scenario_id IS NULL" + hidden)
            )
            n = int(total.scalar() or 0)
            listed = ", ".join(f"{r[0]} ({r[1] or 'unnamed'})" for r in known)
            raise NotFound(
                f"no point of interest {', '.join(map(str, missing))}; "
                + (f"the twin has {n}, e.g. {listed}" if n else "the twin has none: import "
                   "the pois layer (`twin import FILE --layer pois`, or `twin demo`)")
            )  # fmt: skip
    return found


class WalkCircuit(Analysis[CircuitParams]):
    """A walking circuit through points of interest (ids of the pois collection), in the order
    given or, with ``optimise``, the shortest order (exact up to 8 stops, Christofides beyond);
    ``loop`` comes back to the first stop. Gives the length, duration, line (GeoJSON, working
    CRS; closed for a loop), the stops in order with each leg, the bus stops near the walk
    (with next departures where a GTFS feed is imported) and a GPX track (``circuit.gpx``)."""

    name = "circuit"
    title = "A walking circuit through points of interest, ordered or optimised, with GPX"
    Params = CircuitParams
    layers: ClassVar[tuple[str, ...]] = ("ground", "pois", "furniture")
    tables: ClassVar[tuple[str, ...]] = (*NETWORK_TABLES, "pois", "furniture")
    #: next departures are live
    cacheable: ClassVar[bool] = False
    example: ClassVar[dict[str, Any]] = {"pois": [1, 2, 3], "optimise": True}

    def visibility(self, ctx: AnalysisContext, params: Any) -> str:
        """The layers' visibility, or stricter when the caller sees restricted datasets."""
        return strictest(
            super().visibility(ctx, params),
            seen_visibility(ctx.engine, ctx.principal, ("ground", "pois", "furniture")),
        )

    def run(self, ctx: AnalysisContext, params: CircuitParams) -> Result:
        ids = params.pois
        if len(ids) < 2:
            raise InputError("--pois: a circuit needs at least two points of interest")
        if len(ids) > MAX_STOPS:
            raise InputError(f"--pois: at most {MAX_STOPS} stops ({len(ids)} given)")
        if len(set(ids)) != len(ids):
            raise InputError("--pois: each point of interest once (use --loop to come back)")
        pois = _pois(ctx, ids)
        epsg = working_epsg(ctx.engine)
        net = network_for(ctx.engine, ctx.principal)
        profile = params.walking_profile()
        j = judge(net, profile)
        xy = np.array([pois[i][2:] for i in ids])
        legs = legs_between(net, j, xy)
        cost = leg_costs(legs)
        if np.isinf(cost).any():
            a, b = (int(k) for k in np.argwhere(np.isinf(cost))[0])
            blocked = why_blocked(net, profile, j, xy[a], xy[b])
            names = f"{ids[a]} ({pois[ids[a]][0]}) and {ids[b]} ({pois[ids[b]][0]})"
            if blocked.foot_length_m is None:
                raise NotFound(
                    f"points of interest {names} are not joined by any footway or street"
                )
            raise NotFound(
                f"between {names}: "
                + blocked_message(profile.name, blocked.blockers, blocked.foot_length_m)
            )
        if params.optimise:
            order, method = best_order(cost, loop=params.loop)
        else:
            order, method = list(range(len(ids))), "as given"
        visits = [*order, order[0]] if params.loop else order
        parts: list[Any] = []
        eids: list[int] = []
        stops: list[dict[str, Any]] = []
        along = 0.0
        for n, k in enumerate(visits):
            leg_m = 0.0
            if n:
                leg = walk_of(net, legs, visits[n - 1], k)
                assert leg is not None  # every cost is finite
                eids += leg.eids
                parts.append(leg.walk.coords if not parts else leg.walk.coords[1:])
                leg_m = leg.walk.length_m
                along += leg_m
            if n < len(order):
                name, kind, x, y = pois[ids[k]]
                stops.append(
                    {"id": ids[k], "name": name, "kind": kind, "x": round(x, 2),
                     "y": round(y, 2), "lonlat": lonlat(x, y, epsg), "leg_m": round(leg_m, 1),
                     "along_m": round(along, 1),
                     "arrival_s": round(along / profile.speed_m_s, 1)}
                )  # fmt: skip
        coords = np.vstack(parts)
        if params.loop:
            coords[-1] = coords[0]
        length = along
        duration = length / profile.speed_m_s
        doc: dict[str, Any] = {
            "length_m": round(length, 2),
            "duration_s": round(duration, 1),
            "geometry": line_geojson(coords),
            "crs": f"EPSG:{epsg}",
            "geometry_lonlat": lonlat_geojson(coords, epsg),
            "loop": params.loop,
            "order": method,
            "stops": stops,
            "bus_stops": bus_stops_near(
                ctx.engine, ctx.principal, coords, params.bus_stop_radius, epsg
            ),
            "profile": profile.name,
            "limits": profile.limits(),
            **describe(net, j, eids),
        }
        gpx = gpx_document(
            coords,
            epsg,
            name=f"{profile.name} circuit",
            description=f"{length:.0f} m, {duration / 60:.0f} min, {len(stops)} stops",
            waypoints=[{"x": s["x"], "y": s["y"], "name": s["name"] or s["id"]} for s in stops],
        )
        return Result(doc, {"circuit.gpx": gpx})
