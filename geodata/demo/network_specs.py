"""How each of the eight synthetic utility networks is laid out and what it is made of."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: OSM road classes of main streets (trunk mains run under them) and of all utility streets
MAIN_ROADS = frozenset(
    {
        "trunk",
        "primary",
        "secondary",
        "tertiary",
        "trunk_link",
        "primary_link",
        "secondary_link",
        "tertiary_link",
    }
)
UTILITY_ROADS = MAIN_ROADS | {"unclassified", "residential", "living_street", "pedestrian"}
_BIG_ROADS = frozenset({"trunk", "primary", "trunk_link", "primary_link"})


@dataclass(frozen=True)
class NetworkSpec:
    """How one network is laid out along a street, and what it is made of.

    ``materials`` is a list of (installed before year, main material, distribution material).
    """

    network: str
    #: lateral offset from the road centreline, metres (+ left of the way's direction)
    offset: float
    depth: tuple[float, float]
    main_depth: tuple[float, float]
    main_dn: tuple[int, ...]
    dist_dn: tuple[int, ...]
    materials: tuple[tuple[int, str, str], ...]
    operator: str
    first_year: int
    #: section length (manhole spacing) for gravity sewers; None: junction to junction
    section: float | None = None
    #: node kind at junctions (valves, chambers) and, for sewers, at every section end
    node_kind: str | None = None
    extra: tuple[tuple[str, Any, Any], ...] = ()  # (attr, main value, distribution value)


HSY = "Helsingin Seudun Ympäristöpalvelut (HSY)"
SPECS: tuple[NetworkSpec, ...] = (
    NetworkSpec(
        "water",
        3.0,
        (1.2, 1.5),
        (1.3, 1.5),
        (250, 300, 400, 500),
        (100, 150, 200),
        (
            (1960, "cast iron", "cast iron"),
            (1985, "ductile iron", "ductile iron"),
            (2000, "ductile iron", "PVC"),
            (9999, "ductile iron", "PE"),
        ),
        HSY,
        1890,
        node_kind="valve",
        extra=(("pressure_bar", 6.0, 5.0),),
    ),
    NetworkSpec(
        "wastewater",
        0.0,
        (2.0, 3.0),
        (2.8, 4.0),
        (400, 500, 600, 800),
        (225, 250, 300),
        ((1970, "concrete", "concrete"), (9999, "concrete", "PVC")),
        HSY,
        1890,
        section=50.0,
        node_kind="manhole",
        extra=(("flow", "gravity", "gravity"),),
    ),
    NetworkSpec(
        "stormwater",
        1.5,
        (1.5, 2.2),
        (2.0, 3.0),
        (500, 600, 800, 1000),
        (300, 400),
        ((1975, "concrete", "concrete"), (9999, "concrete", "PVC")),
        HSY,
        1900,
        section=60.0,
        node_kind="manhole",
        extra=(("flow", "gravity", "gravity"),),
    ),
    NetworkSpec(
        "gas",
        -3.5,
        (0.9, 1.1),
        (1.0, 1.2),
        (160, 200, 250),
        (63, 90, 110),
        ((1975, "steel", "steel"), (9999, "steel", "PE")),
        "Gasum",
        1900,
        node_kind="valve",
        extra=(("pressure", "medium (4 bar)", "low (0.1 bar)"),),
    ),
    NetworkSpec(
        "district_heating",
        -1.5,
        (0.8, 1.2),
        (0.9, 1.3),
        (250, 300, 400, 500),
        (65, 80, 100, 150),
        (
            (1975, "steel in concrete duct", "steel in concrete duct"),
            (9999, "pre-insulated steel", "pre-insulated steel"),
        ),
        "Helen",
        1957,
        node_kind="chamber",
        extra=(("pipes", "supply and return", "supply and return"),),
    ),
    NetworkSpec(
        "electricity",
        5.0,
        (0.7, 0.9),
        (0.8, 1.0),
        (110, 160),
        (50, 63, 75),
        ((1975, "copper", "copper"), (9999, "aluminium", "aluminium")),
        "Helen",
        1920,
        extra=(("voltage_kv", 20.0, 0.4),),
    ),
    NetworkSpec(
        "telecom",
        -5.0,
        (0.5, 0.7),
        (0.6, 0.8),
        (110,),
        (40, 50),
        ((1990, "copper", "copper"), (9999, "optical fibre", "optical fibre")),
        "Elisa",
        1930,
        extra=(("cable", "trunk duct", "access duct"),),
    ),
    NetworkSpec(
        "lighting",
        6.5,
        (0.6, 0.8),
        (0.6, 0.8),
        (40,),
        (32, 40),
        ((1980, "copper", "copper"), (9999, "aluminium", "aluminium")),
        "Helsingin kaupunki",
        1950,
        extra=(("voltage_kv", 0.4, 0.4),),
    ),
)
