"""The flood a gauge rule triggers, as a live message: run when the rule's ``flood`` action
is sent (after the commit that decided it), published on ``twin/live/flood/{device}``, and
streamed by the live hub to the sessions watching that gauge (``{"type": "flood", ...}``).

The run is a citizen's (the extent, buildings and roads; never the network assets: the
topic reaches everyone who may see the gauge) through the ordinary runner, so the full
result is also kept and its address (``result``) lets an agent ask for the assets.
Bad input (no terrain, a gauge without zero altitude) is published as ``error`` rather than
retried: repeating it would not fix it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from twin.settings import Settings

#: where a gauge's flood extent is published (under the live hub's ``twin/live/#``)
FLOOD_TOPIC = "twin/live/flood/{device_id}"


def flood_message(settings: Settings, engine: Engine, payload: dict[str, Any]) -> dict[str, Any]:
    """The message for a fired gauge: the flood's extent and counts, or the error."""
    from geodata.access import ANONYMOUS
    from geodata.errors import InputError, NotFound
    from twin.analysis.base import AnalysisContext
    from twin.analysis.registry import get_analysis
    from twin.analysis.runner import parse_params, run_analysis

    gauge = str(payload["gauge"])
    doc: dict[str, Any] = {
        "device_id": gauge,
        "rule": payload.get("rule"),
        "at": payload.get("at"),
        "value": payload.get("value"),
    }
    flood = get_analysis("flood")
    params = parse_params(flood, {"gauge": gauge, "connectivity": payload.get("connectivity", 8)})
    ctx = AnalysisContext(engine, settings, ANONYMOUS)
    try:
        stored = run_analysis(flood, ctx, params).stored
    except (InputError, NotFound) as exc:
        return doc | {"error": str(exc)}
    data = stored.data
    return doc | {
        "result": stored.key,
        "level_m": data["level_m"],
        "flooded_area_m2": data["flooded_area_m2"],
        "max_depth_m": data["max_depth_m"],
        "buildings": len(data["buildings"]),
        "roads_cut": len(data["roads_cut"]),
        "extent": data["extent"],
    }
