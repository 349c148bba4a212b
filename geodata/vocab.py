"""Controlled vocabularies: the kinds the database accepts (enforced by CHECK constraints)."""

from __future__ import annotations

from collections.abc import Iterable

NETWORKS = (
    "water",
    "wastewater",
    "stormwater",
    "gas",
    "district_heating",
    "electricity",
    "telecom",
    "lighting",
)
NODE_KINDS = ("valve", "manhole", "hydrant", "junction", "meter", "chamber", "substation")
#: how precisely a buried segment or node is located (the French DT-DICT classes): A within
#: 0.40 m (rigid) or 0.50 m (flexible), B within 1.5 m, C worse or not known (the default)
LOCATION_CLASSES = ("A", "B", "C")
#: pipe and cable materials by how they bend: a rigid network's class-A band is 0.40 m, a
#: flexible one's 0.50 m; an unknown material counts as flexible, the wider (stricter) band
RIGID_MATERIALS = (
    "steel",
    "cast iron",
    "grey cast iron",
    "ductile iron",
    "concrete",
    "reinforced concrete",
    "asbestos cement",
    "fibre cement",
    "stoneware",
    "vitrified clay",
    "clay",
    "masonry",
    "brick",
    "stainless steel",
    "galvanised steel",
)
FLEXIBLE_MATERIALS = (
    "pe",
    "hdpe",
    "mdpe",
    "polyethylene",
    "pvc",
    "pp",
    "polypropylene",
    "grp",
    "copper",
    "copper cable",
    "aluminium cable",
    "fibre",
    "fibre optic",
    "optical fibre",
    "lead",
)
#: the networks DT-DICT calls sensitive: in class B or C they need complementary
#: investigations (locating them on site) before digging
SENSITIVE_NETWORKS = ("gas", "district_heating", "electricity", "lighting")
#: what ``network_events`` records about a segment
EVENT_KINDS = ("break", "repair")


def material_rigidity(material: str | None) -> str:
    """``rigid`` or ``flexible`` from a material's name: rigid when it names a rigid material
    ("cast-iron", "steel in concrete duct", "pre-insulated steel"; case, hyphens ignored),
    else flexible, which an unknown material also is (its class-A band is the wider)."""
    if not material:
        return "flexible"
    m = " ".join(material.lower().replace("-", " ").replace("_", " ").split())
    if any(r in m for r in (*RIGID_MATERIALS, "iron", "fonte", "acier", "beton", "béton")):
        return "rigid"
    return "flexible"


FURNITURE_KINDS = (
    "lamp",
    "bench",
    "tree",
    "bin",
    "bollard",
    "traffic_light",
    "sign",
    "parking_space",
    "charging_station",
    "bus_stop",
    "camera",
    "gauge",
    "fountain",
    "bicycle_parking",
)
GROUND_KINDS = (
    "road",
    "footway",
    "cycleway",
    "path",
    "pedestrian",
    "park",
    "grass",
    "water",
    "railway",
    "parking",
    "kerb",
    "crossing",
)
ROLES = ("citizen", "agent", "planner", "operator", "admin")
VISIBILITIES = ("public", "agent", "confidential")
HEIGHT_SOURCES = ("measured", "levels", "default", "lod")
#: where a feature's height (a building's base, a point's or a pipe's z) came from: its
#: file, the twin's DEM, or neither (the flat ground at 0); a DEM import re-bases the last two
Z_SOURCES = ("source", "dem", "default")
#: what the audit log records (twin.audit): a token accepted (once per cache period) or
#: refused, an account created, rotated or revoked, a data import, an export (a page of
#: features to a signed-in caller or of non-public data), a read of agent-only or
#: confidential data (a collection, an item, a tileset file), rules applied or deleted, an
#: alert acknowledged or resolved by someone
AUDIT_KINDS = (
    "sign-in",
    "sign-in-failed",
    "account",
    "import",
    "export",
    "read",
    "rule",
    "alert",
    "device",
    "scenario",
)


#: (table, column, geometry type) of every geometry column of geodata.models, typed with the
#: working SRID. Here, not in models.py, so fixing the CRS needs no ORM import (~0.6 s).
GEOMETRY_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("projects", "site", "MultiPolygon"),
    ("buildings", "footprint", "MultiPolygon"),
    ("buildings", "lod2", "MultiPolygonZ"),
    ("network_segments", "geom", "LineStringZ"),
    ("network_nodes", "geom", "PointZ"),
    ("furniture", "geom", "PointZ"),
    ("ground", "geom", "Geometry"),
    ("pois", "geom", "PointZ"),
    ("routes", "geom", "LineStringZ"),
    ("devices", "geom", "PointZ"),
    ("device_locations", "geom", "PointZ"),
)

#: tables whose rows carry ``(source, source_id)`` (geodata.models._Sourced): the rows a
#: ``datasets`` entry covers, and so the rows its visibility applies to
SOURCED_TABLES = frozenset(
    {"buildings", "network_segments", "network_nodes", "furniture", "ground", "pois"}
)


def sql_in(values: Iterable[str]) -> str:
    """SQL literal list of our own constants (kinds, layer ids, visibilities), never user
    input: for CHECK constraints and for filters built from the vocabulary."""
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


#: how a device speaks to the twin (sensors_bridge adapters are registered by these names)
PROTOCOLS = ("mqtt", "http", "chirpstack", "tts", "gtfs")
#: a device is active, or quarantined: heard from but not in the registry (its data kept,
#: listed for admins only, until ``twin devices adopt``)
DEVICE_STATUSES = ("active", "quarantined")
#: an observation's quality, as its adapter judged it (OPC UA's three classes)
QUALITIES = ("good", "uncertain", "bad")
#: what a bearer token stands for: a person's account, an integration that only ingests, or
#: one device that may only send its own observations (``twin tokens add --device``)
TOKEN_KINDS = ("account", "integration", "device")
#: ``datasets.layer`` of an open aggregate of live observations (``twin opendata add``): its
#: rows are computed from ``observations``, not imported into a layer's table
LIVE_LAYER = "live"
#: what ``ingest_counts`` counts besides network-server events (``event:<kind>``): requests
#: refused by the ingest rate limit before their body was read are ``rate_limited``
INGEST_OUTCOMES = ("accepted", "duplicate", "rate_limited")
#: how grave an alert is (``twin.rules``), from the least
SEVERITIES = ("info", "warning", "major", "critical")
#: a rule's state for one device: condition false, true but not yet for long enough, true
#: for long enough (actions fired), false again after firing
RULE_STATES = ("ok", "pending", "firing", "resolved")
#: an alert's life: opened by a rule, acknowledged by someone, resolved by its rule or someone
ALERT_STATES = ("open", "acknowledged", "resolved")
