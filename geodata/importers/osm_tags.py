"""Which OpenStreetMap objects feed each twin layer, decided from their tags alone.

One :class:`LayerRule` per layer (buildings, ground, furniture, pois, networks, network
nodes), registered in :data:`RULES`: the OSM keys worth looking at and a ``select(kind, tags)``
verdict. The reader (:mod:`geodata.importers.osm`) streams the file and assembles geometries;
these rules are pure functions of tags, testable without a file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from geodata.importers.coerce import NETWORK_SYNONYMS
from geodata.importers.schemes import (
    OSM_FURNITURE,
    OSM_GROUND,
    OSM_GROUND_POINTS,
    OSM_MANHOLE_NETWORK,
)

Tags = dict[str, str]
#: a rule's answer for one object: True keep, False not this layer's (silently), or a reason
#: for leaving out something that looks like it belongs (counted in the import summary)
Verdict = bool | str


@dataclass(frozen=True)
class LayerRule:
    """Which OSM objects feed a layer, and as what geometry.

    ``select(kind, tags)`` is asked with kind ``"node"`` (a point), ``"line"`` (a way as a
    line) or ``"area"`` (a closed way or multipolygon as a polygon). The same way can be asked
    twice (as a line and, when closed, as an area): a rule says yes to at most one of them.
    """

    #: OSM keys worth looking at; objects with none of them never reach Python
    keys: tuple[str, ...]
    select: Callable[[str, Tags], Verdict]
    nodes: bool = False
    lines: bool = False
    areas: bool = False
    #: store areas as a point inside them (points of interest mapped as buildings)
    area_points: bool = False
    #: last-moment tag clean-up for kept objects (legacy tagging, units)
    fix_tags: Callable[[Tags], Tags] | None = None


# -- buildings -------------------------------------------------------------------------------
def _building(kind: str, tags: Tags) -> Verdict:
    value = tags.get("building")
    if value is None or value == "no":
        return False
    if kind == "area":
        return True
    if kind == "node":
        return "building tagged on a point (no footprint)"
    return False


# -- ground: streets, footways, parks, water, parking ----------------------------------------
#: keys whose ways are lines (a street), unless tagged area=yes (a square)
_LINEAR_KEYS = frozenset({"highway", "railway"})
#: parking that is not a surface you could see or build on
_GROUND_POINT_PAIRS = frozenset(OSM_GROUND_POINTS)
_HIDDEN_PARKING = frozenset({"underground", "multi-storey", "rooftop"})


def _ground_key(tags: Tags) -> str | None:
    """The key of the first pair of ``OSM_GROUND`` the tags carry: the one the mapper uses."""
    for key, value in OSM_GROUND:
        if tags.get(key) == value:
            return key
    return None


def _ground(kind: str, tags: Tags) -> Verdict:
    if kind == "node":
        # kerbs and crossings: the walking network reads their kerb heights
        return any(p in _GROUND_POINT_PAIRS for p in tags.items())
    key = _ground_key(tags)
    if key is not None and (key, tags[key]) in _GROUND_POINT_PAIRS:
        return False  # a kerb or crossing mapped as a way: no street, no area
    if key is None:
        if kind == "line" and "highway" in tags and tags.get("area") != "yes":
            return f"highway={tags['highway']}: no ground kind for it"
        return False
    if key == "amenity" and tags.get("parking") in _HIDDEN_PARKING:
        return "parking underground or in a building (parking=...)" if kind == "area" else False
    linear = key in _LINEAR_KEYS and tags.get("area") != "yes"
    return linear if kind == "line" else not linear


# -- furniture: street objects mapped as points ----------------------------------------------
_FURNITURE_PAIRS = frozenset(OSM_FURNITURE)


def _furniture(kind: str, tags: Tags) -> Verdict:
    if not ("traffic_sign" in tags or any(p in _FURNITURE_PAIRS for p in tags.items())):
        return False
    if kind == "node":
        return True
    return (
        "street object mapped as a line or area (furniture are points)" if kind == "line" else False
    )


# -- points of interest ----------------------------------------------------------------------
_POI_TOURISM = frozenset(
    {
        "attraction",
        "museum",
        "gallery",
        "artwork",
        "viewpoint",
        "zoo",
        "aquarium",
        "theme_park",
        "hotel",
        "hostel",
        "guest_house",
        "information",
    }
)
_POI_AMENITY = frozenset(
    {
        "theatre",
        "cinema",
        "library",
        "arts_centre",
        "place_of_worship",
        "townhall",
        "courthouse",
        "marketplace",
        "planetarium",
        "community_centre",
        "conference_centre",
        "events_venue",
        "concert_hall",
        "exhibition_centre",
        "fountain",
        "clock",
    }
)


def _poi(kind: str, tags: Tags) -> Verdict:
    if kind == "line":
        return False
    tourism = tags.get("tourism")
    if tourism == "information" and tags.get("information") not in ("office", "visitor_centre"):
        return False  # guideposts and boards: too many, not places to visit
    return (
        tourism in _POI_TOURISM
        or tags.get("historic", "no") != "no"
        or tags.get("amenity") in _POI_AMENITY
    )


# -- networks: buried pipes and cables -------------------------------------------------------
#: location=* values that say a line is not buried
_ABOVE_GROUND = frozenset(
    {"overground", "overhead", "surface", "roof", "indoor", "outdoor", "platform", "bridge"}
)


def _substance_key(value: str) -> str:
    return re.sub(r"[\s-]+", "_", value.strip().lower())


def _network(kind: str, tags: Tags) -> Verdict:
    if kind != "line":
        return False
    pipe = tags.get("man_made") == "pipeline"
    cable = tags.get("power") == "cable"
    telecom = "line" in (tags.get("telecom"), tags.get("communication"))
    if not (pipe or cable or telecom):
        return False
    location = tags.get("location")
    if location in _ABOVE_GROUND:
        return f"above ground (location={location})"
    if pipe:
        substance = tags.get("substance") or tags.get("type")
        if not substance:
            return "pipeline with no substance=* (the network is unknown)"
        if _substance_key(substance) not in NETWORK_SYNONYMS:
            return f"pipeline of substance={substance}: not a network of the twin"
    return True


_INCHES = re.compile(r'^\s*(\d+(?:[.,]\d+)?)\s*(?:"|in|inch|inches)\s*$')


def _network_tags(tags: Tags) -> Tags:
    """Legacy ``type=water`` pipelines get ``substance``; diameters in inches become mm."""
    if tags.get("man_made") == "pipeline" and "substance" not in tags and "type" in tags:
        tags = {**tags, "substance": tags["type"]}
    diameter = tags.get("diameter")
    if diameter:
        inches = _INCHES.match(diameter)
        if inches:
            mm = float(inches.group(1).replace(",", ".")) * 25.4
            tags = {**tags, "diameter": f"{mm:.0f}"}
    return tags


def _node(kind: str, tags: Tags) -> Verdict:
    """Network nodes whose network OSM says: hydrants, manholes, valves with a substance."""
    if kind != "node":
        return False
    if tags.get("emergency") == "fire_hydrant":
        return True
    manhole = tags.get("manhole")
    if manhole:
        return manhole in OSM_MANHOLE_NETWORK or f"manhole={manhole}: not a network of the twin"
    if tags.get("pipeline") == "valve":
        substance = tags.get("substance", "")
        return _substance_key(substance) in NETWORK_SYNONYMS or "valve of unknown network"
    return False


RULES: dict[str, LayerRule] = {
    "buildings": LayerRule(("building",), _building, nodes=True, areas=True),
    "ground": LayerRule(
        tuple(sorted({k for k, _ in OSM_GROUND})), _ground, nodes=True, lines=True, areas=True
    ),
    "furniture": LayerRule(
        tuple(sorted({k for k, _ in OSM_FURNITURE} | {"traffic_sign"})),
        _furniture,
        nodes=True,
    ),
    "pois": LayerRule(
        ("tourism", "historic", "amenity"), _poi, nodes=True, areas=True, area_points=True
    ),
    "networks": LayerRule(
        ("man_made", "power", "telecom", "communication"),
        _network,
        lines=True,
        fix_tags=_network_tags,
    ),
    "network-nodes": LayerRule(("emergency", "manhole", "pipeline"), _node, nodes=True),
}
