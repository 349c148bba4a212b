"""The SensorThings data model over the twin's tables: one SQL view per entity set.

Each entity set is a subquery over the live tables whose columns are the STA property names
(plus the hidden keys navigation joins on), restricted to the devices the caller may know
of. Every navigation is an equi-join on those keys, so the same description serves a
navigation path (``/Things(1)/Datastreams``), ``$expand`` and a ``$filter`` path
(``Datastream/ObservedProperty/name``). PostgreSQL inlines the subqueries, so a filter on
``device_id`` and ``metric`` still reaches the observations' primary key index.

The mapping (the interface tests and clients rely on):

- Thing, Sensor: an active device; ``@iot.id`` is ``devices.sta_id``; a Thing's ``name`` is
  the device id. FeatureOfInterest: the device's location, same id (located devices only).
- Location, HistoricalLocation: a row of ``device_locations``, the place a device got to and
  when (kept by a trigger on ``devices``, migration 0011); both have the row's id. A Thing's
  Locations is its newest row while it has a location; a past Location has no Things.
- Datastream: a (device, metric) pair that has observations, i.e. a ``latest_state`` row
  (``latest_state.sta_id``); its unit is the pair's latest unit, else the metric's.
- ObservedProperty: a metric name (``observed_properties``), listed while some Datastream
  the caller may see observes it.
- Observation: an ``observations`` row (``observations.sta_id``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from geodata.access import Principal, hidden_from
from geodata.layers import LAYERS


class Kind(Enum):
    """What a property holds: decides which operators and functions apply to it."""

    NUM = "number"
    STR = "string"
    TIME = "time"
    DATE = "date"
    BOOL = "boolean"
    GEOM = "geometry"
    JSON = "object"
    INTERVAL = "time interval"
    NULL = "null"


@dataclass(frozen=True)
class Nav:
    """A navigation property: the target set and the key columns equal on both sides."""

    target: str
    keys: tuple[tuple[str, str], ...]  # (source column, target column)
    many: bool
    #: a collection that holds one entity at most (a Thing's Locations): filterable
    at_most_one: bool = False


@dataclass(frozen=True)
class EntitySet:
    name: str  # plural, as in the URL
    singular: str
    #: FROM body of the view; columns: "id", the properties, and the hidden keys
    view: str
    properties: dict[str, Kind]
    navs: dict[str, Nav]
    #: the default $orderby, as (column, descending)
    order: tuple[tuple[str, bool], ...] = (("id", False),)
    #: columns that are kept for joins and never shown
    hidden: tuple[str, ...] = ("device_id",)
    #: properties whose value is GeoJSON geometry (turned into JSON on output)
    geometry: tuple[str, ...] = field(default=())


#: devices the caller may know of; ``:sta_hv`` hidden visibilities, ``:sta_hl`` hidden layers
VISIBLE_DEVICES = (
    "(SELECT * FROM devices WHERE status = 'active' "
    "AND NOT (visibility = ANY(CAST(:sta_hv AS text[]))) "
    "AND (layer IS NULL OR NOT (layer = ANY(CAST(:sta_hl AS text[])))))"
)

_THING_PROPS = (
    "jsonb_strip_nulls(jsonb_build_object('type', d.type, 'protocol', d.protocol, "
    "'externalId', d.external_id, 'layer', d.layer, 'featureId', d.feature_id, "
    "'lastSeen', d.last_seen))"
)
_LOCATED = f"{VISIBLE_DEVICES} d WHERE d.geom IS NOT NULL"
_MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"
_UCUM = "https://ucum.org/ucum#"

_DS_UNIT = "coalesce(ls.unit, m.unit)"
#: the device's current Location: its newest history row, while it has a location
_CURRENT = (
    "(SELECT max(x.id) FROM device_locations x WHERE x.device_id = d.id AND d.geom IS NOT NULL)"
)
_VIEWS = {
    "Things": f"""SELECT d.sta_id AS id, d.id AS name, d.type AS description,
        {_THING_PROPS} AS properties, d.id AS device_id, {_CURRENT} AS location_id
        FROM {VISIBLE_DEVICES} d""",
    "Locations": f"""SELECT h.id, d.id AS name,
        'location of device ' || d.id AS description, 'application/geo+json' AS "encodingType",
        ST_Transform(h.geom, 4326) AS location, d.id AS device_id,
        CASE WHEN h.id = {_CURRENT} THEN d.id END AS current_device_id
        FROM device_locations h JOIN {VISIBLE_DEVICES} d ON d.id = h.device_id""",
    "HistoricalLocations": f"""SELECT h.id, h.at AS time, h.device_id, h.id AS location_id
        FROM device_locations h JOIN {VISIBLE_DEVICES} d ON d.id = h.device_id""",
    "FeaturesOfInterest": f"""SELECT d.sta_id AS id, d.id AS name,
        'where device ' || d.id || ' observes' AS description,
        'application/geo+json' AS "encodingType", ST_Transform(d.geom, 4326) AS feature,
        d.id AS device_id FROM {_LOCATED}""",
    "Sensors": f"""SELECT d.sta_id AS id, d.id AS name, d.type AS description,
        'text/plain' AS "encodingType", d.protocol || ' ' || d.type AS metadata,
        d.id AS device_id FROM {VISIBLE_DEVICES} d""",
    "Datastreams": f"""SELECT ls.sta_id AS id, ls.device_id || ' ' || ls.metric AS name,
        ls.metric || ' observed by ' || ls.device_id AS description,
        '{_MEASUREMENT}' AS "observationType",
        jsonb_build_object('name', {_DS_UNIT}, 'symbol', {_DS_UNIT},
            'definition', CASE WHEN {_DS_UNIT} IS NULL THEN NULL
                          ELSE '{_UCUM}' || {_DS_UNIT} END) AS "unitOfMeasurement",
        ST_Transform(d.geom, 4326) AS "observedArea",
        (SELECT min(o.at) FROM observations o WHERE o.device_id = ls.device_id
            AND o.metric = ls.metric) AS "phenomenonTimeStart",
        ls.at AS "phenomenonTimeEnd", ls.device_id, ls.metric
        FROM latest_state ls JOIN {VISIBLE_DEVICES} d ON d.id = ls.device_id
        LEFT JOIN metrics m ON m.name = ls.metric""",
    "ObservedProperties": f"""SELECT op.id, op.name,
        'urn:twin:metric:' || op.name AS definition,
        coalesce(m.description, op.name) AS description, op.name AS metric
        FROM observed_properties op LEFT JOIN metrics m ON m.name = op.name
        WHERE EXISTS (SELECT 1 FROM latest_state ls JOIN {VISIBLE_DEVICES} d
                      ON d.id = ls.device_id WHERE ls.metric = op.name)""",
    "Observations": f"""SELECT o.sta_id AS id, o.at AS "phenomenonTime",
        o.at AS "resultTime", o.value AS result, o.quality AS "resultQuality",
        jsonb_strip_nulls(jsonb_build_object('unit', o.unit, 'messageId',
            nullif(o.message_id, ''), 'receivedAt', o.received_at)) AS parameters,
        o.device_id, o.metric
        FROM observations o JOIN {VISIBLE_DEVICES} d ON d.id = o.device_id""",
}


def _nav(target: str, *keys: str, many: bool, at_most_one: bool = False) -> Nav:
    return Nav(target, tuple((k, k) for k in keys), many, at_most_one)


_DEV = ("device_id",)
_PAIR = ("device_id", "metric")
ENTITY_SETS: dict[str, EntitySet] = {
    s.name: s
    for s in [
        EntitySet(
            "Things",
            "Thing",
            _VIEWS["Things"],
            {"id": Kind.NUM, "name": Kind.STR, "description": Kind.STR, "properties": Kind.JSON},
            {
                "Locations": Nav("Locations", (("location_id", "id"),), True, at_most_one=True),
                "HistoricalLocations": _nav("HistoricalLocations", *_DEV, many=True),
                "Datastreams": _nav("Datastreams", *_DEV, many=True),
            },
            hidden=("device_id", "location_id"),
        ),
        EntitySet(
            "Locations",
            "Location",
            _VIEWS["Locations"],
            {
                "id": Kind.NUM,
                "name": Kind.STR,
                "description": Kind.STR,
                "encodingType": Kind.STR,
                "location": Kind.GEOM,
            },
            {
                "Things": Nav(
                    "Things", (("current_device_id", "device_id"),), True, at_most_one=True
                ),
                "HistoricalLocations": Nav(
                    "HistoricalLocations", (("id", "location_id"),), True, at_most_one=True
                ),
            },
            hidden=("device_id", "current_device_id"),
            geometry=("location",),
        ),
        EntitySet(
            "HistoricalLocations",
            "HistoricalLocation",
            _VIEWS["HistoricalLocations"],
            {"id": Kind.NUM, "time": Kind.TIME},
            {
                "Thing": _nav("Things", *_DEV, many=False),
                "Locations": Nav("Locations", (("location_id", "id"),), True, at_most_one=True),
            },
            hidden=("device_id", "location_id"),
        ),
        EntitySet(
            "Sensors",
            "Sensor",
            _VIEWS["Sensors"],
            {
                "id": Kind.NUM,
                "name": Kind.STR,
                "description": Kind.STR,
                "encodingType": Kind.STR,
                "metadata": Kind.STR,
            },
            {"Datastreams": _nav("Datastreams", *_DEV, many=True)},
        ),
        EntitySet(
            "ObservedProperties",
            "ObservedProperty",
            _VIEWS["ObservedProperties"],
            {"id": Kind.NUM, "name": Kind.STR, "definition": Kind.STR, "description": Kind.STR},
            {"Datastreams": Nav("Datastreams", (("metric", "metric"),), many=True)},
            hidden=("metric",),
        ),
        EntitySet(
            "Datastreams",
            "Datastream",
            _VIEWS["Datastreams"],
            {
                "id": Kind.NUM,
                "name": Kind.STR,
                "description": Kind.STR,
                "observationType": Kind.STR,
                "unitOfMeasurement": Kind.JSON,
                "observedArea": Kind.GEOM,
                "phenomenonTime": Kind.INTERVAL,
            },
            {
                "Thing": _nav("Things", *_DEV, many=False),
                "Sensor": _nav("Sensors", *_DEV, many=False),
                "ObservedProperty": Nav("ObservedProperties", (("metric", "metric"),), False),
                "Observations": _nav("Observations", *_PAIR, many=True),
            },
            hidden=("device_id", "metric", "phenomenonTimeStart", "phenomenonTimeEnd"),
            geometry=("observedArea",),
        ),
        EntitySet(
            "Observations",
            "Observation",
            _VIEWS["Observations"],
            {
                "id": Kind.NUM,
                "phenomenonTime": Kind.TIME,
                "resultTime": Kind.TIME,
                "result": Kind.NUM,
                "resultQuality": Kind.STR,
                "parameters": Kind.JSON,
            },
            {
                "Datastream": _nav("Datastreams", *_PAIR, many=False),
                "FeatureOfInterest": _nav("FeaturesOfInterest", *_DEV, many=False),
            },
            order=(("phenomenonTime", True), ("id", True)),
            hidden=("device_id", "metric"),
        ),
        EntitySet(
            "FeaturesOfInterest",
            "FeatureOfInterest",
            _VIEWS["FeaturesOfInterest"],
            {
                "id": Kind.NUM,
                "name": Kind.STR,
                "description": Kind.STR,
                "encodingType": Kind.STR,
                "feature": Kind.GEOM,
            },
            {"Observations": _nav("Observations", *_DEV, many=True)},
            geometry=("feature",),
        ),
    ]
}


def visibility_params(principal: Principal) -> dict[str, list[str]]:
    """The bind parameters of :data:`VISIBLE_DEVICES` for this caller.

    This is :func:`geodata.access.device_visible` written as SQL, for paging and filtering
    in the database: a device is known when it is active (SensorThings never shows a
    quarantined one, whoever asks), its own visibility is one the caller sees, and so is its
    bound layer's (the strictest of the two must be seen, and the roles' sets are nested).
    ``tests/test_sta_access.py`` checks the two agree for every role, visibility and layer.
    """
    return {
        "sta_hv": list(hidden_from(principal)),
        "sta_hl": [lid for lid, layer in LAYERS.items() if not principal.may_see(layer.visibility)],
    }
