"""From a source's attribute scheme to the twin's columns, column by column (vectorised).

Common schemes work with no configuration: OSM tags, French IGN BD TOPO, CityJSON attributes
and the twin's own column names. A mapping file (JSON or TOML) covers any other scheme::

    [fields]              # twin column = source attribute
    height = "HAUT_M"
    [constants]           # the same value for every feature
    network = "water"
    [values.usage]        # translate source values
    "Résidentiel" = "residential"
    [id]
    field = "ID_BAT"      # the source's stable feature id (for idempotent re-import)
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, ValidationError

from geodata.errors import ImportFailed
from geodata.vocab import NETWORKS

if TYPE_CHECKING:
    from geodata.importers.layers import ImportLayer

_NUMBER = re.compile(r"([-+]?\d+(?:[.,]\d+)?)")
_YEAR = re.compile(r"(1[5-9]\d\d|20\d\d)")


# -- converters: a pandas Series of raw values -> a Series of clean values (NaN/None = unknown) --
def to_float(s: pd.Series) -> pd.Series:
    """Numbers, or strings such as '12', '12.5 m', '12,5' (OSM and French sources)."""
    if pd.api.types.is_numeric_dtype(s):
        return s.astype("float64")
    txt = s.astype("string").str.extract(_NUMBER, expand=False).str.replace(",", ".")
    return pd.to_numeric(txt, errors="coerce").astype("float64")


def to_int(s: pd.Series) -> pd.Series:
    return to_float(s).round().astype("Int64")


def to_year(s: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(s):
        v = to_float(s)
        return v.where((v >= 1500) & (v <= 2100)).round().astype("Int64")
    if pd.api.types.is_datetime64_any_dtype(s):
        return pd.Series(s.dt.year.astype("Int64"))
    return pd.to_numeric(
        s.astype("string").str.extract(_YEAR, expand=False), errors="coerce"
    ).astype("Int64")


def to_bool(s: pd.Series) -> pd.Series:
    """Booleans, numbers (0/1) or words (true/false, yes/no)."""
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
        return s.astype("boolean")
    words = s.astype("string").str.strip().str.lower()
    return words.map(
        {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
    ).astype("boolean")


def to_text(s: pd.Series) -> pd.Series:
    out = s.astype("string").str.strip()
    return out.where(out.str.len() > 0)


def _usage(s: pd.Series) -> pd.Series:
    """Text, except OSM's bare "yes" (building=yes, historic=yes), which says nothing."""
    out = to_text(s)
    return out.where(~out.str.lower().isin(["yes", "true", "1"]))


_NETWORK_SYNONYMS = {
    **{n: n for n in NETWORKS},
    "eau": "water",
    "aep": "water",
    "drinking_water": "water",
    "water_supply": "water",
    "gaz": "gas",
    "natural_gas": "gas",
    "heat": "district_heating",
    "hot_water": "district_heating",
    "chauffage": "district_heating",
    "heating": "district_heating",
    "steam": "district_heating",
    # district cooling pipes (OSM substance/type=cold) belong to the thermal network, as in
    # INSPIRE's ThermalNetwork: a digger must see them as much as the heating ones
    "cold": "district_heating",
    "cooling": "district_heating",
    "district_cooling": "district_heating",
    "sewage": "wastewater",
    "sewer": "wastewater",
    "eu": "wastewater",
    "eaux_usees": "wastewater",
    "assainissement": "wastewater",
    "rainwater": "stormwater",
    "storm": "stormwater",
    "ep": "stormwater",
    "eaux_pluviales": "stormwater",
    "power": "electricity",
    "electricite": "electricity",
    "electric": "electricity",
    "communication": "telecom",
    "telecommunication": "telecom",
    "fibre": "telecom",
    "eclairage": "lighting",
    "street_lighting": "lighting",
}


def _network(s: pd.Series) -> pd.Series:
    key = to_text(s).str.lower().str.replace(r"[\s-]+", "_", regex=True)
    return key.map(lambda v: _NETWORK_SYNONYMS.get(v, f"?{v}") if isinstance(v, str) else None)


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


def osm_kind(props: pd.DataFrame, table: dict[tuple[str, str], str]) -> pd.Series:
    """Kind from OSM tags: the first (key, value) pair of ``table`` a feature carries."""
    out = pd.Series([None] * len(props), index=props.index, dtype="object")
    for (key, value), kind in table.items():
        if key in props.columns:
            hit = out.isna() & (props[key].astype("string") == value).fillna(False)
            out[hit.to_numpy(dtype=bool)] = kind
    if "traffic_sign" in props.columns:
        out[out.isna() & props["traffic_sign"].notna()] = "sign"
    return out


@dataclass(frozen=True)
class Field:
    convert: Callable[[pd.Series], pd.Series]
    candidates: tuple[str, ...]


# twin column -> converter and the source attribute names that feed it, first match wins; each
# import layer (geodata.importers.layers) takes its table
_SYNTHETIC = Field(to_bool, ("synthetic",))
_REPLACES = Field(to_int, ("replaces_id",))
BUILDING_FIELDS: dict[str, Field] = {
    "height": Field(
        to_float, ("height", "hauteur", "measuredheight", "measured_height", "building:height")
    ),
    "levels": Field(
        to_int,
        (
            "levels",
            "building:levels",
            "nb_etages",
            "storeysaboveground",
            "storeys_above_ground",
        ),
    ),
    "base_z": Field(to_float, ("base_z", "z_min_sol", "ground_z", "altitude_sol")),
    "roof_type": Field(to_text, ("roof_type", "roof:shape", "rooftype", "roof_shape")),
    "usage": Field(_usage, ("usage", "usage1", "building:use", "function", "building")),
    "name": Field(to_text, ("name", "nom")),
    "address": Field(to_text, ("address", "addr:full", "adresse")),
    "year_built": Field(
        to_year,
        (
            "year_built",
            "start_date",
            "yearofconstruction",
            "construction_year",
            "annee_construction",
        ),
    ),
    "replaces_id": _REPLACES,
}
NETWORK_FIELDS: dict[str, Field] = {
    "network": Field(
        _network, ("network", "substance", "reseau", "type_reseau", "utility", "fluide")
    ),
    "depth_m": Field(to_float, ("depth_m", "depth", "profondeur", "cover_depth")),
    "diameter_mm": Field(to_float, ("diameter_mm", "diameter", "diametre", "dn")),
    "material": Field(to_text, ("material", "materiau", "matiere")),
    "install_year": Field(
        to_year, ("install_year", "start_date", "annee_pose", "year", "date_pose")
    ),
    "status": Field(to_text, ("status", "etat")),
    "operator": Field(to_text, ("operator", "exploitant", "gestionnaire")),
    "synthetic": _SYNTHETIC,
    "replaces_id": _REPLACES,
}
NODE_FIELDS: dict[str, Field] = {
    "network": NETWORK_FIELDS["network"],
    "kind": Field(to_text, ("kind", "type_noeud", "node_kind")),
    "depth_m": NETWORK_FIELDS["depth_m"],
    "synthetic": _SYNTHETIC,
}
FURNITURE_FIELDS: dict[str, Field] = {
    "kind": Field(to_text, ("kind", "type_mobilier")),
    "heading": Field(to_float, ("heading", "direction", "orientation")),
    "height": Field(to_float, ("height", "hauteur")),
    "name": Field(to_text, ("name", "nom")),
}
POI_FIELDS: dict[str, Field] = {
    "name": Field(to_text, ("name", "nom")),
    "kind": Field(_usage, ("kind", "tourism", "historic", "amenity", "leisure")),
    "description": Field(to_text, ("description", "descr")),
}
GROUND_FIELDS: dict[str, Field] = {
    "kind": Field(to_text, ("kind",)),
    "name": Field(to_text, ("name", "nom")),
    "width_m": Field(to_float, ("width_m", "width", "largeur")),
}

#: attributes that identify a feature in its source, tried in order when no id is given
ID_CANDIDATES = ("source_id", "id", "osm_id", "cleabs", "gml_id", "uuid", "identifier")


class MappingFile(BaseModel):
    """A user's mapping from their scheme to the twin's columns."""

    model_config = ConfigDict(extra="forbid")
    fields: dict[str, str] = {}
    constants: dict[str, Any] = {}
    values: dict[str, dict[str, Any]] = {}
    id: dict[str, str] = {}

    @classmethod
    def load(cls, path: Path, layer: ImportLayer) -> MappingFile:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ImportFailed(f"{path}: cannot read the mapping file ({exc.strerror})") from None
        try:
            data = tomllib.loads(raw.decode()) if path.suffix == ".toml" else json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ImportFailed(
                f"{path}: not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: {exc}"
            ) from None
        try:
            mapping = cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg']}" for e in exc.errors()
            )
            raise ImportFailed(
                f"{path}: bad mapping file ({problems}); expected sections "
                "[fields], [constants], [values.<column>], [id]"
            ) from None
        known = set(layer.fields)
        for section in ("fields", "constants", "values"):
            unknown = set(getattr(mapping, section)) - known
            if unknown:
                raise ImportFailed(
                    f"{path}: [{section}] names {', '.join(sorted(unknown))}, not columns of "
                    f"layer {layer.name}; its columns are {', '.join(sorted(known))}"
                )
        if set(mapping.id) - {"field"}:
            raise ImportFailed(f'{path}: [id] takes only field = "<attribute>"')
        return mapping


@dataclass
class Mapped:
    """Twin columns for a batch, plus the left-over attributes as JSON text per feature."""

    columns: pd.DataFrame
    attrs: NDArray[Any]


class Mapper:
    """Applies the automatic scheme, then the user's mapping file on top, to each batch."""

    def __init__(self, layer: ImportLayer, mapping: MappingFile | None, where_file: str) -> None:
        self.layer = layer
        self.fields = layer.fields
        self.mapping = mapping or MappingFile()
        self.where_file = where_file
        #: the batch being mapped: lower-case attribute name -> name, and the attributes used
        self.lookup: dict[str, str] = {}
        self.used: set[str] = set()

    def id_column(self, props: pd.DataFrame) -> str | None:
        """The attribute holding the source's stable id: the mapping's, else a known one."""
        if self.mapping.id.get("field"):
            col = self.mapping.id["field"]
            if col not in props.columns:
                raise ImportFailed(
                    f"{self.where_file}: the mapping's id field {col!r} is not an attribute "
                    f"of the file; it has {', '.join(map(str, props.columns[:30]))}"
                )
            return col
        lookup = {str(c).lower(): c for c in props.columns}
        return next((lookup[c] for c in ID_CANDIDATES if c in lookup), None)

    def source_ids(self, props: pd.DataFrame, fallback: NDArray[Any]) -> NDArray[Any]:
        """Stable ids: the mapping's id field, else a known id attribute, else the reader's."""
        col = self.id_column(props)
        if col is None:
            return fallback
        ids = props[col].astype("string")
        return np.where(ids.isna().to_numpy(), fallback, ids.fillna("").to_numpy(dtype=object))

    def apply(self, props: pd.DataFrame, attrs: NDArray[Any] | None = None) -> Mapped:
        """Map a batch; ``attrs`` (JSON object text per feature, from the reader) is kept
        under the left-over attributes."""
        self.lookup = lookup = {str(c).lower(): c for c in props.columns}
        self.used = used = set()
        cols: dict[str, pd.Series] = {}
        for target, spec in self.fields.items():
            if target in self.mapping.constants:
                cols[target] = pd.Series(
                    [self.mapping.constants[target]] * len(props), index=props.index
                )
                continue
            series = None
            if target in self.mapping.fields:
                src = self.mapping.fields[target]
                if src not in props.columns:
                    raise ImportFailed(
                        f"{self.where_file}: the mapping says {target} = {src!r} but the file "
                        f"has no such attribute; it has "
                        f"{', '.join(map(str, props.columns[:30])) or 'none'}"
                    )
                series = spec.convert(props[src])
                used.add(src)
            else:
                for cand in spec.candidates:
                    if cand in lookup:
                        conv = spec.convert(props[lookup[cand]])
                        series = conv if series is None else series.fillna(conv)
                        used.add(lookup[cand])
            if series is not None and target in self.mapping.values:
                table = self.mapping.values[target]
                series = series.map(lambda v, t=table: t.get(v, v) if isinstance(v, str) else v)
            cols[target] = (
                series
                if series is not None
                else pd.Series(np.full(len(props), None, dtype=object), index=props.index)
            )
        out = pd.DataFrame(cols, index=props.index)
        self.layer.derive(out, props, self)
        id_col = self.id_column(props)  # it becomes source_id: not repeated in attrs
        if id_col is not None:
            used.add(id_col)
        rest = [c for c in props.columns if c not in used]
        return Mapped(out.reset_index(drop=True), _merge_attrs(_attrs_json(props[rest]), attrs))

    def check_vocabulary(self, cols: pd.DataFrame, where: NDArray[Any]) -> None:
        """Refuse unknown kinds and networks, naming the feature and the accepted values."""
        for col, allowed in self.layer.vocabulary.items():
            self._check(col, allowed, cols[col], where)

    def _check(
        self, col: str, allowed: tuple[str, ...], values: pd.Series, where: NDArray[Any]
    ) -> None:
        missing = values.isna().to_numpy()
        if missing.any():
            i = int(np.flatnonzero(missing)[0])
            raise ImportFailed(
                f"{self.where_file}, {where[i]}: no {col} ({missing.sum()} features lack one). "
                f"Add a {col!r} attribute, or a mapping file with [constants] {col} = "
                f'"<one of {", ".join(allowed)}>" or [fields] {col} = "<attribute>"'
            )
        bad = ~values.isin(allowed).to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ImportFailed(
                f"{self.where_file}, {where[i]}: unknown {col} {str(values.iloc[i]).lstrip('?')!r}"
                f"; accepted: {', '.join(allowed)} (translate with [values.{col}] in a mapping "
                "file)"
            )


def _merge_attrs(rest: NDArray[Any], given: NDArray[Any] | None) -> NDArray[Any]:
    """The reader's JSON documents, with the left-over attributes added (they win)."""
    if given is None:
        return rest
    out = np.empty(len(rest), dtype=object)
    for i, (r, g) in enumerate(zip(rest, given, strict=True)):
        if not g or g == "{}":
            out[i] = r
        elif r == "{}":
            out[i] = g
        else:
            doc = {**json.loads(g), **json.loads(r)}
            out[i] = json.dumps(_strip_nulls(doc), ensure_ascii=False, separators=(",", ":"))
    return out


def _attrs_json(rest: pd.DataFrame) -> NDArray[Any]:
    """Unmapped attributes, one JSON object per feature, nulls dropped (kept in ``attrs``)."""
    if rest.shape[1] == 0:
        return np.full(len(rest), "{}", dtype=object)
    rest = rest.copy()
    rest.columns = [str(c) for c in rest.columns]
    for c in rest.columns:
        if not (pd.api.types.is_numeric_dtype(rest[c]) or pd.api.types.is_bool_dtype(rest[c])):
            rest[c] = rest[c].map(_jsonable)
    lines = rest.to_json(orient="records", lines=True, date_format="iso", force_ascii=False)
    out = pd.Series(lines.splitlines() if lines else [], index=rest.index, dtype="object")
    # nulls are dropped here, as jsonb_strip_nulls would: only lines with a null are re-parsed
    nulls = out.str.contains(":null", regex=False).to_numpy(dtype=bool)
    if nulls.any():
        out[nulls] = [  # type: ignore[call-overload]  # pandas-stubs: a list is fine here
            json.dumps(_strip_nulls(json.loads(line)), ensure_ascii=False, separators=(",", ":"))
            for line in out[nulls]
        ]
    return out.to_numpy(dtype=object)


def _strip_nulls(value: Any) -> Any:
    """Drop null-valued object members, at every depth (PostgreSQL's jsonb_strip_nulls)."""
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_nulls(v) for v in value]
    return value


def _jsonable(v: object) -> object:
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, (np.ndarray, list, tuple)):
        return [_jsonable(x) for x in v]
    return v
