"""Sun hours a scenario takes from its neighbours' facades: for the scenarios' compare.

The neighbours are the baseline buildings within :data:`NEIGHBOUR_M` of what the scenario
changes (its own buildings, and the baseline ones it replaces or removes), leaving out those
it replaces or removes. Their walls get facade points every :data:`FACADE_SPACING_M` metres
at mid-storey heights (:func:`twin.analysis.sunpoints.facades`), and the sun hours are
counted on them before and after (:class:`twin.analysis.sunhours.SunHours`), for one day.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import Engine

from geodata.working_crs import require_working_crs
from tiles.kinds.scenario import ScenarioKind, scenario_spec
from twin.analysis.base import AnalysisContext
from twin.analysis.scene import ScenarioRef
from twin.analysis.sunhours import SunHours, SunHoursParams

#: neighbours: baseline buildings this close to a change (m)
NEIGHBOUR_M = 100.0
#: facade points this far apart along each wall (m); vertically, one per storey
FACADE_SPACING_M = 3.0


def neighbours(engine: Engine, scenario: ScenarioRef, within: float = NEIGHBOUR_M) -> list[int]:
    """Baseline buildings within ``within`` metres of the scenario's changes, not changed."""
    spec = scenario_spec(scenario.id, scenario.slug)
    hidden = ScenarioKind().hidden_sql(spec)
    with engine.connect() as conn:
        require_working_crs(conn)
        cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cur.execute(
            f"WITH changed AS (SELECT footprint FROM buildings WHERE {spec.scenario_filter()} "
            f"UNION ALL SELECT footprint FROM buildings WHERE id IN ({hidden})), "
            "area AS (SELECT ST_Union(footprint) AS g FROM changed) "
            "SELECT b.id FROM buildings b, area WHERE b.scenario_id IS NULL "
            f"AND area.g IS NOT NULL AND ST_DWithin(b.footprint, area.g, %(within)s) "
            f"AND b.id NOT IN ({hidden}) ORDER BY b.id",
            {"scenario_id": scenario.id, "project_id": None, "within": within},
        )
        return [int(r[0]) for r in cur.fetchall()]


def sun_hours_lost(
    ctx: AnalysisContext, scenario: ScenarioRef, day: date, step_minutes: float = 10
) -> dict[str, Any]:
    """Per neighbouring building and in total: facade points, mean sun hours per point
    before and after, hours lost per point, and point-hours and m²-hours lost (a point
    stands for ``FACADE_SPACING_M`` x one storey of wall); hours gained (a removed
    building lets sun in) are counted apart, never netted against losses. ``day`` is a civil day in
    TWIN_TIMEZONE (refused, naming it, when unset)."""
    ids = neighbours(ctx.engine, scenario)
    doc: dict[str, Any] = {
        "scenario": scenario.slug,
        "date": day.isoformat(),
        "step_minutes": step_minutes,
        "neighbours_within_m": NEIGHBOUR_M,
        "facade_spacing_m": FACADE_SPACING_M,
        "storey_height_m": ctx.settings.storey_height,
        "buildings": [],
    }
    total = {"points": 0, "point_hours_lost": 0.0, "m2_hours_lost": 0.0}
    if not ids:
        doc["total"] = total
        return doc
    params = SunHoursParams.model_validate(
        {"facades": ids, "date": day, "step": step_minutes, "scenario": scenario.slug,
         "facade_spacing": FACADE_SPACING_M}
    )  # fmt: skip
    result = SunHours().run(ctx, params)
    cell = FACADE_SPACING_M * ctx.settings.storey_height
    per: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for p in result.data["points"]:
        if p["sun_hours"] is not None and p["sun_hours_scenario"] is not None:
            per[int(p["building_id"])].append(p)
    for bid in ids:
        pts = per.get(bid, [])
        if not pts:
            continue
        before = sum(p["sun_hours"] for p in pts)
        after = sum(p["sun_hours_scenario"] for p in pts)
        lost = sum(max(0.0, p["sun_hours"] - p["sun_hours_scenario"]) for p in pts)
        gained = sum(max(0.0, p["sun_hours_scenario"] - p["sun_hours"]) for p in pts)
        doc["buildings"].append({
            "building_id": bid, "points": len(pts),
            "mean_sun_hours_before": round(before / len(pts), 4),
            "mean_sun_hours_after": round(after / len(pts), 4),
            "mean_sun_hours_lost": round(lost / len(pts), 4),
            "point_hours_lost": round(lost, 3), "m2_hours_lost": round(lost * cell, 2),
            "point_hours_gained": round(gained, 3),
        })  # fmt: skip
        total["points"] += len(pts)
        total["point_hours_lost"] += lost
        total["m2_hours_lost"] += lost * cell
    total["point_hours_lost"] = round(float(total["point_hours_lost"]), 3)
    total["m2_hours_lost"] = round(float(total["m2_hours_lost"]), 2)
    doc["total"] = total
    return doc
