"""What a way's OpenStreetMap tags say about walking it: steps, slope, width, kerbs, surface.

Why a module of its own: the walking graph (:mod:`geodata.walking`) stores these properties on
its edges and the profiles (:mod:`geodata.walk_profiles`) judge them; reading OSM's many
spellings (``incline=8%``, ``incline=up``, ``width=1,5 m``, ``kerb=lowered``,
``kerb:height=3 cm``) is one job, done here, as pure functions testable without a database.

A value that cannot be read is not guessed: it is ``None`` and the profile treats it as
unknown (allowed, avoided or forbidden, and always reported).
"""

from __future__ import annotations

import re
from typing import Any

#: ``kerb=*`` values and the height (m) taken when ``kerb:height`` is not given. A lowered
#: kerb ("bateau") is taken at 2 cm, the upstand the French rule of 15 January 2007 allows;
#: raised and regular kerbs at a usual 12 cm; rolled (sloped) ones at 5 cm.
KERB_HEIGHTS: dict[str, float] = {
    "flush": 0.0,
    "no": 0.0,
    "none": 0.0,
    "lowered": 0.02,
    "rolled": 0.05,
    "raised": 0.12,
    "regular": 0.12,
    "yes": 0.12,
}
#: surfaces a wheelchair rolls on (hard and even) and surfaces it should not take
SMOOTH_SURFACES = frozenset(
    {"asphalt", "concrete", "concrete:plates", "paved", "paving_stones", "metal", "wood",
     "rubber", "tartan", "concrete:lanes", "chipseal"}
)  # fmt: skip
ROUGH_SURFACES = frozenset(
    {"unpaved", "gravel", "fine_gravel", "pebblestone", "sand", "grass", "ground", "dirt",
     "earth", "mud", "compacted", "woodchips", "grass_paver", "rock", "stone",
     "unhewn_cobblestone", "cobblestone", "sett", "stepping_stones", "snow", "ice"}
)  # fmt: skip
#: ``incline=up|down|yes``: a notable slope of unknown size
_DIRECTION_ONLY = frozenset({"up", "down", "yes"})

_NUMBER = r"[-+]?\d+(?:[.,]\d+)?"
_PERCENT = re.compile(rf"^\s*({_NUMBER})\s*%\s*$")
_DEGREES = re.compile(rf"^\s*({_NUMBER})\s*°\s*$")
_PLAIN = re.compile(rf"^\s*({_NUMBER})\s*$")
_LENGTH = re.compile(rf"^\s*({_NUMBER})\s*(m|cm|mm|ft|')?\s*$")
_TO_M = {None: 1.0, "m": 1.0, "cm": 0.01, "mm": 0.001, "ft": 0.3048, "'": 0.3048}


def _num(text: str) -> float:
    return float(text.replace(",", "."))


def incline_percent(value: Any) -> float | None:
    """``incline`` as a gradient in percent (sign dropped: a wheelchair meets both ways), or
    None when it says nothing measurable (``up``, ``down``, missing, unreadable)."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if m := _PERCENT.match(text):
        return abs(_num(m.group(1)))
    if m := _DEGREES.match(text):
        import math

        return abs(100.0 * math.tan(math.radians(_num(m.group(1)))))
    if m := _PLAIN.match(text):  # a bare number is a percentage in practice (incline=5)
        return abs(_num(m.group(1)))
    return None


def incline_is_notable(value: Any) -> bool:
    """``incline=up|down|yes``: a slope is there, its size unknown."""
    return value is not None and str(value).strip().lower() in _DIRECTION_ONLY


def length_m(value: Any) -> float | None:
    """A length (``width``, ``kerb:height``) in metres: ``1.5``, ``1,5 m``, ``150 cm``, ``3'``.

    A bare number is metres, as OSM's ``width`` is; None when unreadable or not positive
    (zero is allowed: a flush kerb)."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value) if value >= 0 else None
    m = _LENGTH.match(str(value).strip().lower())
    if not m:
        return None
    v = _num(m.group(1)) * _TO_M[m.group(2)]
    return v if v >= 0 else None


def kerb_height_m(tags: dict[str, Any]) -> float | None:
    """A kerb's height: ``kerb:height`` when readable, else the usual height of its ``kerb=``
    value; None when neither says (a crossing with no kerb tag)."""
    height = length_m(tags.get("kerb:height"))
    if height is not None:
        return height
    kerb = tags.get("kerb")
    return KERB_HEIGHTS.get(str(kerb).strip().lower()) if kerb is not None else None


def surface_class(value: Any) -> str | None:
    """``smooth``, ``rough`` or None (missing or a value this table does not know)."""
    if value is None:
        return None
    parts = [p.strip().lower() for p in str(value).split(";") if p.strip()]
    if not parts or any(p not in SMOOTH_SURFACES | ROUGH_SURFACES for p in parts):
        return None
    return "rough" if any(p in ROUGH_SURFACES for p in parts) else "smooth"


def way_properties(tags: dict[str, Any], width_column: float | None = None) -> dict[str, Any]:
    """The walking properties of one way, for the graph's edges.

    ``highway``, ``steps`` (bool), ``incline_pct`` (None: not tagged), ``incline_notable``,
    ``width_m`` (the ground table's column, else ``width`` / ``est_width``), ``kerb_m`` (a way
    tagged as a kerb), ``surface`` (raw value) and ``surface_class``, ``wheelchair`` (raw
    ``wheelchair=*``), ``source_id`` (where the way came from, to name it in reports).
    """
    highway = tags.get("highway")
    width = width_column if width_column is not None and width_column > 0 else None
    if width is None:
        width = length_m(tags.get("width")) or length_m(tags.get("est_width"))
    kerb = kerb_height_m(tags) if ("kerb" in tags or "kerb:height" in tags) else None
    return {
        "highway": highway,
        "steps": highway == "steps",
        "incline_pct": incline_percent(tags.get("incline")),
        "incline_notable": incline_is_notable(tags.get("incline")),
        "width_m": width,
        "kerb_m": kerb,
        "surface": tags.get("surface"),
        "surface_class": surface_class(tags.get("surface")),
        "wheelchair": tags.get("wheelchair"),
    }
