"""A scenario compared with the baseline: floor area, a dwellings estimate, sun hours lost by
the neighbouring facades and the view change at chosen balconies.

Floor area is counted on the buildings the scenario touches: "baseline" is the floor area of
the baseline buildings it replaces (raises) or removes, "scenario" that of its own rows (added
and replacing), "delta" the difference. A building's floor area is its footprint's area (in
the working CRS, m²) times its storeys: the stored ``levels`` when known, else its height
divided by the storey height (``TWIN_STOREY_HEIGHT``, or the ``storey_height`` parameter)
rounded to the nearest whole storey (halves up), at least one.

The dwellings estimate is the residential floor area (``residential_share`` of a residential
building's, ``mixed_use_share`` of a mixed one's, none of other uses) divided by
``dwelling_size``; every parameter is in the output (``dwellings_parameters``).

The sun and view parts are the sun-hours and balcony analyses' own measures
(:func:`twin.analysis.sunhours_lost.sun_hours_lost` on the neighbours' facades,
:func:`twin.analysis.balcony.view_change` at the chosen balconies), on the same scene.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any, ClassVar

from pydantic import Field
from sqlalchemy import text

from geodata.access import strictest
from geodata.errors import InputError
from geodata.layers import get_layer
from geodata.scenarios import get_scenario
from twin.analysis.balcony import view_change
from twin.analysis.base import Analysis, AnalysisContext, Params, Result
from twin.analysis.scene import ScenarioRef
from twin.analysis.sunhours_lost import sun_hours_lost

RESIDENTIAL = ("residential", "apartments", "house", "detached", "terrace", "dormitory")
MIXED = ("mixed", "mixed_use", "mixed-use")


class Balcony(Params):
    x: float = Field(description="working-CRS easting (m)")
    y: float = Field(description="working-CRS northing (m)")
    z: float = Field(description="eye height (m, the working CRS's heights)")
    heading: float = Field(ge=0, lt=360, description="view direction, degrees from true north")


class ScenarioParams(Params):
    scenario: str = Field(description="the scenario's slug (GET /api/scenarios)")
    storey_height: float | None = Field(
        None, gt=0, le=20, description="m per storey when levels are missing (TWIN_STOREY_HEIGHT)"
    )
    dwelling_size: float | None = Field(
        None, gt=0, le=1000, description="m² of gross floor area per dwelling (TWIN_DWELLING_SIZE)"
    )
    residential_share: float | None = Field(
        None, gt=0, le=1, description="share of residential floor area in dwellings"
    )
    mixed_use_share: float = Field(
        0.5, ge=0, le=1, description="share of a mixed-use building's floor area in dwellings"
    )
    date: str | None = Field(
        None, description="day of the sun-hours comparison, YYYY-MM-DD (default: 21 March)"
    )
    step_minutes: int = Field(10, ge=1, le=120, description="sun-hours time step (minutes)")
    balconies: tuple[Balcony, ...] = Field((), description="where to compare the view")


def levels_of(height: float, levels: int | None, storey: float) -> tuple[int, bool]:
    """(storeys, estimated?): the stored levels, else height / storey to the nearest whole
    storey (halves up), at least one."""
    if levels is not None and levels > 0:
        return int(levels), False
    return max(1, math.floor(height / storey + 0.5)), True


def dwelling_share(usage: str | None, residential: float, mixed: float) -> float:
    u = (usage or "").strip().lower()
    if u in RESIDENTIAL:
        return residential
    if u in MIXED:
        return mixed
    return 0.0


class ScenarioComparison(Analysis[ScenarioParams]):
    name = "scenario"
    title = "A scenario against the baseline: floor area, dwellings, sun hours lost, views"
    Params = ScenarioParams
    layers: ClassVar[tuple[str, ...]] = ("buildings",)
    tables: ClassVar[tuple[str, ...]] = ("buildings", "scenarios", "scenario_removals", "terrain")
    # the sun-hours comparison (once wired) casts millions of rays: a job
    slow: ClassVar[bool] = True
    example: ClassVar[dict[str, Any]] = {"scenario": "new-block"}

    def visibility(self, ctx: AnalysisContext, params: ScenarioParams) -> str:
        with ctx.engine.connect() as conn:
            row = get_scenario(conn, params.scenario)
        return strictest(get_layer("buildings").visibility, row.visibility)

    def run(self, ctx: AnalysisContext, params: ScenarioParams) -> Result:
        day = _day(params.date)
        storey = params.storey_height or ctx.settings.storey_height
        size = params.dwelling_size or ctx.settings.dwelling_size
        share = params.residential_share or ctx.settings.residential_share
        with ctx.engine.connect() as conn:
            sc = get_scenario(conn, params.scenario)
            rows = conn.execute(
                text(
                    "SELECT id, replaces_id, ST_Area(footprint), height, levels, usage, name, "
                    "'scenario' FROM buildings WHERE scenario_id = :s UNION ALL "
                    "SELECT b.id, NULL, ST_Area(b.footprint), b.height, b.levels, b.usage, "
                    "b.name, 'baseline' FROM buildings b WHERE b.scenario_id IS NULL AND b.id IN ("
                    "SELECT replaces_id FROM buildings WHERE scenario_id = :s "
                    "UNION SELECT feature_id FROM scenario_removals WHERE scenario_id = :s "
                    "AND layer = 'buildings') ORDER BY 8, 1"
                ),
                {"s": sc.id},
            ).all()
        replaced = {int(r[1]) for r in rows if r[1] is not None}
        totals = {"baseline": 0.0, "scenario": 0.0}
        residential = {"baseline": 0.0, "scenario": 0.0}
        items = []
        for bid, replaces, area, height, levels, usage, name, side in rows:
            n, estimated = levels_of(float(height), levels, storey)
            floor = float(area) * n
            totals[side] += floor
            residential[side] += floor * dwelling_share(usage, share, params.mixed_use_share)
            if side == "scenario":
                change = "raised" if replaces is not None else "added"
            else:
                change = "replaced" if bid in replaced else "removed"
            items.append(
                {
                    "id": int(bid),
                    "change": change,
                    "replaces": int(replaces) if replaces is not None else None,
                    "name": name,
                    "usage": usage,
                    "footprint_area": round(float(area), 2),
                    "height": float(height),
                    "levels": n,
                    "levels_estimated": estimated,
                    "floor_area": round(floor, 2),
                }
            )
        ctx.progress(0.2, "floor area")
        doc: dict[str, Any] = {
            "scenario": sc.slug,
            "floor_area_baseline": round(totals["baseline"], 2),
            "floor_area_scenario": round(totals["scenario"], 2),
            "floor_area_delta": round(totals["scenario"] - totals["baseline"], 2),
            "residential_floor_area_delta": round(
                residential["scenario"] - residential["baseline"], 2
            ),
            "dwellings_estimate": round((residential["scenario"] - residential["baseline"]) / size),
            "dwellings_parameters": {
                "dwelling_size_m2": size,
                "residential_share": share,
                "mixed_use_share": params.mixed_use_share,
                "residential_usages": list(RESIDENTIAL),
                "mixed_usages": list(MIXED),
            },
            "levels_rule": (
                f"stored levels, else height / {storey} m to the nearest whole storey "
                "(halves up), at least 1"
            ),
            "storey_height": storey,
            "buildings": items,
            "date": day.isoformat(),
            "step_minutes": params.step_minutes,
        }
        notes: list[str] = []
        ref = ScenarioRef(sc.id, sc.slug)
        if ctx.settings.timezone is None:  # a civil day needs its zone; the rest stands
            doc["sun_hours_lost"] = None
            notes.append("sun hours lost: set TWIN_TIMEZONE (e.g. Europe/Paris) to count them")
        else:
            doc["sun_hours_lost"] = sun_hours_lost(ctx, ref, day, params.step_minutes)
        ctx.progress(0.7, "sun hours")
        doc["view_change"] = view_change(
            ctx, ref, [(b.x, b.y, b.z, b.heading) for b in params.balconies]
        )
        doc["notes"] = notes
        ctx.progress(1.0, "done")
        return Result(doc)


def _day(value: str | None) -> date:
    if value is None:
        return date(date.today().year, 3, 21)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(
            f"date {value!r} is not a day: give YYYY-MM-DD (e.g. 2026-03-21)"
        ) from None
