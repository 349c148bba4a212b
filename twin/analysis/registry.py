"""The analyses the twin offers, by name: one line each, a dotted path to the class.

Analyses load on first use (:func:`get_analysis`), so that ``twin --help`` does not import
Embree, rasterio or networkx; the app loads them all once when it builds its routes.
A third party's analysis is one more line (or :func:`register` from a plug-in).
"""

from __future__ import annotations

from functools import cache
from importlib import import_module
from typing import Any

from geodata.errors import NotFound
from twin.analysis.base import Analysis

_DOTTED: dict[str, str] = {
    "sun": "twin.analysis.sun:SunPosition",
    "shadows": "twin.analysis.shadows:Shadows",
    "sunhours": "twin.analysis.sunhours:SunHours",
    "balcony": "twin.analysis.balcony:BalconyView",
    "flood": "twin.analysis.flood:Flood",
    "dig": "twin.analysis.dig:DigSafety",
    "ageing": "twin.analysis.ageing:NetworkAgeing",
    "route": "twin.analysis.walks.route:WalkRoute",
    "circuit": "twin.analysis.walks.circuit:WalkCircuit",
    "scenario": "twin.analysis.scenario:ScenarioComparison",
}


def register(name: str, dotted: str) -> None:
    """Add (or replace) an analysis: ``module.path:ClassName``."""
    _DOTTED[name] = dotted
    get_analysis.cache_clear()


def unregister(name: str) -> None:
    _DOTTED.pop(name, None)
    get_analysis.cache_clear()


def names() -> list[str]:
    return list(_DOTTED)


@cache
def get_analysis(name: str) -> Analysis[Any]:
    """The analysis called ``name``; :class:`NotFound` names the known ones."""
    try:
        dotted = _DOTTED[name]
    except KeyError:
        raise NotFound(f"no analysis {name!r}; the twin has: {', '.join(_DOTTED)}") from None
    module, _, cls = dotted.partition(":")
    analysis: Analysis[Any] = getattr(import_module(module), cls)()
    if analysis.name != name:
        raise RuntimeError(f"{dotted} is registered as {name!r} but calls itself {analysis.name!r}")
    return analysis
