"""The attribute schemes the twin knows with no configuration: which source attributes feed
which column of each layer (OSM tags, French IGN BD TOPO, CityJSON and the twin's own names),
and OSM's (key, value) tags for kinds and networks.

Each import layer (:mod:`geodata.importers.layers`) takes its table of fields; a mapping file
(:mod:`geodata.importers.mapping`) overrides them.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from geodata.importers.coerce import (
    Field,
    as_text,
    flat,
    network,
    to_bool,
    to_float,
    to_text,
    to_year,
    usage,
)

# OSM (key, value) -> twin kind, for furniture and ground
OSM_FURNITURE = {
    ("highway", "street_lamp"): "lamp",
    ("amenity", "bench"): "bench",
    ("leisure", "picnic_table"): "bench",
    ("natural", "tree"): "tree",
    ("amenity", "waste_basket"): "bin",
    ("amenity", "waste_disposal"): "bin",
    ("amenity", "recycling"): "bin",
    ("barrier", "bollard"): "bollard",
    ("highway", "traffic_signals"): "traffic_light",
    ("highway", "bus_stop"): "bus_stop",
    ("public_transport", "platform"): "bus_stop",
    ("man_made", "surveillance"): "camera",
    ("amenity", "parking_space"): "parking_space",
    ("amenity", "charging_station"): "charging_station",
    ("amenity", "fountain"): "fountain",
    ("amenity", "drinking_water"): "fountain",
    ("amenity", "bicycle_parking"): "bicycle_parking",
    ("highway", "stop"): "sign",
    ("highway", "give_way"): "sign",
    ("man_made", "monitoring_station"): "gauge",
}
OSM_GROUND = {
    **{
        ("highway", v): "road"
        for v in (
            "motorway",
            "trunk",
            "primary",
            "secondary",
            "tertiary",
            "unclassified",
            "residential",
            "service",
            "living_street",
            "motorway_link",
            "primary_link",
            "secondary_link",
            "tertiary_link",
            "trunk_link",
        )
    },
    ("highway", "footway"): "footway",
    ("highway", "steps"): "footway",
    ("highway", "cycleway"): "cycleway",
    ("highway", "path"): "path",
    ("highway", "track"): "path",
    ("highway", "pedestrian"): "pedestrian",
    ("leisure", "park"): "park",
    ("leisure", "garden"): "park",
    ("landuse", "grass"): "grass",
    ("landuse", "recreation_ground"): "park",
    ("natural", "water"): "water",
    ("waterway", "riverbank"): "water",
    ("landuse", "railway"): "railway",
    ("railway", "rail"): "railway",
    ("railway", "tram"): "railway",
    ("amenity", "parking"): "parking",
}
#: OSM nodes of the ground: what a walk passes on its way (kerbs and crossings, read by the
#: walking network for kerb heights); only nodes (a kerb mapped as a way is not a ground area)
OSM_GROUND_POINTS = {
    ("highway", "crossing"): "crossing",
    ("railway", "crossing"): "crossing",
    ("barrier", "kerb"): "kerb",
    **{
        ("kerb", v): "kerb"
        for v in ("lowered", "raised", "flush", "rolled", "no", "yes", "regular")
    },
}
OSM_GROUND.update(OSM_GROUND_POINTS)


#: OSM tags of lines that say their network without a substance
OSM_NETWORK = {
    ("power", "cable"): "electricity",
    ("power", "line"): "electricity",
    ("telecom", "line"): "telecom",
    ("communication", "line"): "telecom",
}
#: OSM tags of network nodes
OSM_NODES = {
    ("emergency", "fire_hydrant"): "hydrant",
    ("pipeline", "valve"): "valve",
    ("manhole", "sewer"): "manhole",
    ("manhole", "drain"): "manhole",
    ("manhole", "telecom"): "manhole",
}
#: the network of an OSM manhole, by its manhole=* value
OSM_MANHOLE_NETWORK = {"sewer": "wastewater", "drain": "stormwater", "telecom": "telecom"}


def osm_kind(props: pa.Table, table: dict[tuple[str, str], str]) -> pa.Array:
    """Kind from OSM tags: the first (key, value) pair of ``table`` a feature carries."""
    out = pa.nulls(props.num_rows, pa.string())
    names = set(props.column_names)
    for (key, value), kind in table.items():
        if key in names:
            hit = pc.equal(as_text(flat(props.column(key))), value)
            out = pc.if_else(pc.and_(pc.is_null(out), pc.fill_null(hit, False)), kind, out)
    if "traffic_sign" in names:
        sign = pc.and_(pc.is_null(out), pc.is_valid(props.column("traffic_sign")))
        out = pc.if_else(sign, "sign", out)
    return flat(out)


# twin column -> converter and the source attribute names that feed it, first match wins; each
# import layer (geodata.importers.layers) takes its table
_SYNTHETIC = Field(to_bool, ("synthetic",), "true or false")
_REPLACES = Field(to_float, ("replaces_id",))
#: DT-DICT's location precision class (A, B or C; checked by the network layers)
_LOCATION_CLASS = Field(
    to_text, ("location_class", "classe_precision", "classe_localisation", "precision_class"), None
)
BUILDING_FIELDS: dict[str, Field] = {
    "height": Field(
        to_float, ("height", "hauteur", "measuredheight", "measured_height", "building:height")
    ),
    "levels": Field(
        to_float,
        (
            "levels",
            "building:levels",
            "nb_etages",
            "storeysaboveground",
            "storeys_above_ground",
        ),
    ),
    "base_z": Field(to_float, ("base_z", "z_min_sol", "ground_z", "altitude_sol")),
    "roof_type": Field(to_text, ("roof_type", "roof:shape", "rooftype", "roof_shape"), None),
    "usage": Field(usage, ("usage", "usage1", "building:use", "function", "building"), None),
    "name": Field(to_text, ("name", "nom"), None),
    "address": Field(to_text, ("address", "addr:full", "adresse"), None),
    "year_built": Field(
        to_year,
        (
            "year_built",
            "start_date",
            "yearofconstruction",
            "construction_year",
            "annee_construction",
        ),
        "a year",
    ),
    "replaces_id": _REPLACES,
}
NETWORK_FIELDS: dict[str, Field] = {
    "network": Field(
        network, ("network", "substance", "reseau", "type_reseau", "utility", "fluide"), None
    ),
    "depth_m": Field(to_float, ("depth_m", "depth", "profondeur", "cover_depth")),
    "diameter_mm": Field(to_float, ("diameter_mm", "diameter", "diametre", "dn")),
    "material": Field(to_text, ("material", "materiau", "matiere"), None),
    "install_year": Field(
        to_year, ("install_year", "start_date", "annee_pose", "year", "date_pose"), "a year"
    ),
    "status": Field(to_text, ("status", "etat"), None),
    "operator": Field(to_text, ("operator", "exploitant", "gestionnaire"), None),
    "synthetic": _SYNTHETIC,
    "replaces_id": _REPLACES,
    "location_class": _LOCATION_CLASS,
}
NODE_FIELDS: dict[str, Field] = {
    "network": NETWORK_FIELDS["network"],
    "kind": Field(to_text, ("kind", "type_noeud", "node_kind"), None),
    "depth_m": NETWORK_FIELDS["depth_m"],
    "synthetic": _SYNTHETIC,
    "location_class": _LOCATION_CLASS,
}
FURNITURE_FIELDS: dict[str, Field] = {
    "kind": Field(to_text, ("kind", "type_mobilier"), None),
    "heading": Field(to_float, ("heading", "direction", "orientation")),
    "height": Field(to_float, ("height", "hauteur")),
    "name": Field(to_text, ("name", "nom"), None),
}
POI_FIELDS: dict[str, Field] = {
    "name": Field(to_text, ("name", "nom"), None),
    "kind": Field(usage, ("kind", "tourism", "historic", "amenity", "leisure"), None),
    "description": Field(to_text, ("description", "descr"), None),
}
GROUND_FIELDS: dict[str, Field] = {
    "kind": Field(to_text, ("kind",), None),
    "name": Field(to_text, ("name", "nom"), None),
    "width_m": Field(to_float, ("width_m", "width", "largeur")),
}

#: attributes that identify a feature in its source, tried in order when no id is given
ID_CANDIDATES = ("source_id", "id", "osm_id", "cleabs", "gml_id", "uuid", "identifier")
