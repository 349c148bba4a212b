"""EXT_structural_metadata: the twin's metadata schema and property-table encoding.

One schema (``id: "twin"``) describes every class the twin writes (buildings, network
segments and nodes, furniture), so a viewer can pick and style every tileset the same way.
Property tables are written uncompressed, each buffer view on an 8-byte boundary
(3d-tiles-renderer reads meshopt-compressed tables back empty; the specification wants
the alignment).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from geodata.errors import TileBuildError
from tiles.gltf import GltfBuilder

SCHEMA_ID = "twin"
#: feature ids are FLOAT above 65,535 (UNSIGNED_INT is not allowed): exact up to 2**24 - 1
MAX_TILE_FEATURES = (1 << 24) - 1
SCHEMA_VERSION = "1.0.0"

_NP = {
    "INT8": np.int8,
    "UINT8": np.uint8,
    "INT16": np.int16,
    "UINT16": np.uint16,
    "INT32": np.int32,
    "UINT32": np.uint32,
    "INT64": np.int64,
    "UINT64": np.uint64,
    "FLOAT32": np.float32,
    "FLOAT64": np.float64,
}


@dataclass(frozen=True)
class Prop:
    """One class property. ``no_data`` marks missing values of optional properties."""

    name: str
    type: str  # SCALAR, STRING or BOOLEAN
    component: str | None = None
    required: bool = False
    no_data: Any = None
    description: str = ""

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.component:
            out["componentType"] = self.component
        if self.required:
            out["required"] = True
        if self.no_data is not None:
            out["noData"] = self.no_data
        if self.description:
            out["description"] = self.description
        return out


def _s(name: str, desc: str = "", required: bool = False) -> Prop:
    return Prop(
        name, "STRING", required=required, no_data=None if required else "", description=desc
    )


def _num(name: str, comp: str, desc: str = "", no_data: Any = None, required: bool = False) -> Prop:
    return Prop(name, "SCALAR", comp, required=required, no_data=no_data, description=desc)


CLASSES: dict[str, tuple[Prop, ...]] = {
    "building": (
        _num("id", "INT64", "feature id in the twin database (buildings.id)", required=True),
        _s("layer", "layer of the twin", required=True),
        _num("height", "FLOAT32", "height above base in metres", required=True),
        _num("base_z", "FLOAT32", "ground height in metres", required=True),
        _num("levels", "INT16", "number of storeys", no_data=-1),
        _s("usage", "building use"),
        _s("roof_type", "roof shape"),
        _num("year_built", "INT16", "year of construction", no_data=-1),
        _s("name", "name"),
        _s("source_id", "identifier in the source dataset"),
        _num("scenario_id", "INT32", "scenario adding or replacing it", no_data=-1),
        _num("replaces_id", "INT64", "baseline building this one replaces", no_data=-1),
    ),
    "network_segment": (
        _num("id", "INT64", "network_segments.id", required=True),
        _s("layer", "layer of the twin", required=True),
        _s("network", "water, wastewater, stormwater, gas, district_heating, ...", required=True),
        _num("diameter_mm", "FLOAT32", "nominal diameter in millimetres", no_data=-1.0),
        _s("material", "pipe or cable material"),
        _num("depth_m", "FLOAT32", "cover depth in metres", required=True),
        _num("install_year", "INT16", "year of installation", no_data=-1),
        _s("operator", "operator"),
        _s("status", "in_service, abandoned, planned, ...", required=True),
        Prop(
            "synthetic",
            "BOOLEAN",
            required=True,
            description="true when generated (not surveyed): never dig on it",
        ),
        _s("source_id", "identifier in the source dataset"),
        _s("location_class", "DT-DICT location precision class: A, B or C"),
        _num(
            "renewal_score",
            "FLOAT32",
            "0-100 renewal priority from twin analyse ageing (failure risk)",
            no_data=-1.0,
        ),
    ),
    "network_node": (
        _num("id", "INT64", "network_nodes.id", required=True),
        _s("layer", "layer of the twin", required=True),
        _s("network", "network of the node", required=True),
        _s("kind", "valve, manhole, hydrant, junction, meter, ...", required=True),
        _num("depth_m", "FLOAT32", "depth in metres", required=True),
        Prop("synthetic", "BOOLEAN", required=True, description="true when generated"),
        _s("source_id", "identifier in the source dataset"),
        _s("location_class", "DT-DICT location precision class: A, B or C"),
    ),
    "furniture": (
        _num("id", "INT64", "furniture.id", required=True),
        _s("layer", "layer of the twin", required=True),
        _s("kind", "lamp, bench, tree, ...", required=True),
        _num("height", "FLOAT32", "height in metres", no_data=-1.0),
        _num("heading", "FLOAT32", "heading in degrees clockwise from north", no_data=-1.0),
        _s("name", "name"),
        _s("source_id", "identifier in the source dataset"),
    ),
}


def schema(classes: Sequence[str]) -> dict[str, Any]:
    """The schema object, restricted to the classes a file uses."""
    return {
        "id": SCHEMA_ID,
        "name": "Urban twin features",
        "version": SCHEMA_VERSION,
        "classes": {
            c: {
                "name": c.replace("_", " ").capitalize(),
                "properties": {p.name: p.schema() for p in CLASSES[c]},
            }
            for c in classes
        },
    }


def _scalar(values: Sequence[Any], prop: Prop) -> NDArray[Any]:
    dtype = _NP[prop.component or "FLOAT32"]
    if None not in values:  # a C-speed scan; then one C conversion
        return np.asarray(values, dtype=dtype)
    nd = prop.no_data if prop.no_data is not None else 0
    return np.fromiter((nd if v is None else v for v in values), dtype=dtype, count=len(values))


def _strings(values: Sequence[Any]) -> tuple[bytes, NDArray[np.uint32]]:
    """UTF-8 bytes and UINT32 offsets; one encode call for the whole column when it is ASCII."""
    strs = ["" if v is None else v for v in values]
    try:
        joined = "".join(strs)
    except TypeError:  # not all str (numbers given for a STRING property)
        strs = [str(v) for v in strs]
        joined = "".join(strs)
    data = joined.encode()
    offsets = np.zeros(len(strs) + 1, dtype=np.uint32)
    if len(data) == len(joined):  # ASCII: character counts are byte counts
        np.cumsum(np.fromiter(map(len, strs), dtype=np.uint32, count=len(strs)), out=offsets[1:])
    else:
        np.cumsum([len(s.encode()) for s in strs], out=offsets[1:])
    return data, offsets


@dataclass
class RawColumn:
    """One property column as it is stored: a numeric or boolean array, or for strings the
    UTF-8 bytes (uint8) and their UINT32 offsets. Incremental builds drop and append
    features of a tile in this form, with no per-value Python work."""

    values: NDArray[Any]
    offsets: NDArray[np.uint32] | None = None

    def select(self, keep: NDArray[np.bool_]) -> RawColumn:
        if self.offsets is None:
            return RawColumn(self.values[keep])
        lengths = np.diff(self.offsets)
        offsets = np.zeros(int(keep.sum()) + 1, dtype=np.uint32)
        np.cumsum(lengths[keep], out=offsets[1:])
        return RawColumn(self.values[np.repeat(keep, lengths)], offsets)

    def concat(self, other: RawColumn) -> RawColumn:
        if self.offsets is None or other.offsets is None:
            return RawColumn(np.concatenate([self.values, other.values]))
        tail = other.offsets[1:] + self.offsets[-1]
        return RawColumn(
            np.concatenate([self.values, other.values]), np.concatenate([self.offsets, tail])
        )


RawTable = dict[str, RawColumn]


def encode_columns(cls: str, columns: Mapping[str, Sequence[Any]], count: int) -> RawTable:
    """Per-property Python columns of ``count`` values -> stored form."""
    out: RawTable = {}
    for prop in CLASSES[cls]:
        col = columns[prop.name]
        if len(col) != count:
            raise TileBuildError(
                f"property {cls}.{prop.name} has {len(col)} values for {count} features: the "
                f"tileset kind writing class {cls!r} is inconsistent; report it to its authors"
            )
        if prop.type == "STRING":
            data, offsets = _strings(col)
            out[prop.name] = RawColumn(np.frombuffer(data, dtype=np.uint8), offsets)
        elif prop.type == "BOOLEAN":
            out[prop.name] = RawColumn(np.fromiter((bool(v) for v in col), dtype=bool, count=count))
        else:
            out[prop.name] = RawColumn(_scalar(col, prop))
    return out


def write_table(gb: GltfBuilder, cls: str, raw: RawTable, count: int) -> dict[str, Any]:
    """Write one property table of ``cls`` from its stored columns."""
    props: dict[str, Any] = {}
    for prop in CLASSES[cls]:
        col = raw[prop.name]
        if col.offsets is not None:
            props[prop.name] = {
                "values": gb.view(col.values),
                "stringOffsets": gb.view(col.offsets),
                "stringOffsetType": "UINT32",
            }
        elif prop.type == "BOOLEAN":
            bits = np.packbits(col.values, bitorder="little").tobytes()
            props[prop.name] = {"values": gb.view(bits)}
        else:
            props[prop.name] = {"values": gb.view(col.values)}
    return {"class": cls, "count": count, "properties": props}


def property_table(
    gb: GltfBuilder, cls: str, columns: Mapping[str, Sequence[Any]], count: int
) -> dict[str, Any]:
    """Encode one property table of ``cls`` from per-property columns of ``count`` values."""
    return write_table(gb, cls, encode_columns(cls, columns, count), count)


def read_table(doc: dict[str, Any], binary: bytes | memoryview, index: int) -> RawTable:
    """A property table of a GLB back in stored form (see :class:`RawColumn`)."""
    ext = doc["extensions"]["EXT_structural_metadata"]
    table = ext["propertyTables"][index]
    cls = ext["schema"]["classes"][table["class"]]["properties"]
    count = table["count"]
    views = doc["bufferViews"]

    def view(i: int) -> bytes | memoryview:
        bv = views[i]
        o = bv.get("byteOffset", 0)
        return binary[o : o + bv["byteLength"]]

    out: RawTable = {}
    for name, spec in table["properties"].items():
        ptype = cls[name]["type"]
        if ptype == "STRING":
            offs = np.frombuffer(view(spec["stringOffsets"]), dtype=np.uint32)[: count + 1]
            data = np.frombuffer(view(spec["values"]), dtype=np.uint8)[: int(offs[-1])]
            out[name] = RawColumn(data, offs.copy())
        elif ptype == "BOOLEAN":
            bits = np.unpackbits(np.frombuffer(view(spec["values"]), np.uint8), bitorder="little")
            out[name] = RawColumn(bits[:count].astype(bool))
        else:
            arr = np.frombuffer(view(spec["values"]), dtype=_NP[cls[name]["componentType"]])
            out[name] = RawColumn(arr[:count].copy())
    return out


def attach(gb: GltfBuilder, tables: list[dict[str, Any]], classes: Sequence[str]) -> None:
    """Put the schema and property tables on the glTF document."""
    gb.use_extension("EXT_structural_metadata")
    gb.doc.setdefault("extensions", {})["EXT_structural_metadata"] = {
        "schema": schema(classes),
        "propertyTables": tables,
    }


def feature_ids(n_features: int, per_vertex: NDArray[Any]) -> NDArray[Any]:
    """The ``_FEATURE_ID_0`` array: UNSIGNED_SHORT when it fits, else FLOAT (exact up to
    ``MAX_TILE_FEATURES``).

    UNSIGNED_INT is not allowed for feature ids, hence FLOAT for big tiles. Tiles are split
    long before that, except the deepest cells, which take whatever is left: so many
    features in one small cell are the same features imported again and again.
    """
    if n_features > MAX_TILE_FEATURES:
        raise TileBuildError(
            f"{n_features:,} features fall in one tile, more than glTF feature ids can number "
            f"({MAX_TILE_FEATURES:,}): the data holds that many at one place (the same features "
            "imported under several sources?); remove the duplicates and build again"
        )
    if n_features <= 65535:
        return per_vertex.astype(np.uint16, copy=False)
    return per_vertex.astype(np.float32)


def mesh_features(n_features: int, property_table_index: int, attribute: int = 0) -> dict[str, Any]:
    return {
        "featureIds": [
            {
                "featureCount": int(n_features),
                "attribute": attribute,
                "propertyTable": property_table_index,
            }
        ]
    }


def read_property_table(doc: dict[str, Any], binary: bytes, index: int) -> dict[str, list[Any]]:
    """Decode a property table back to Python columns (tests and tools)."""
    ext = doc["extensions"]["EXT_structural_metadata"]
    table = ext["propertyTables"][index]
    cls = ext["schema"]["classes"][table["class"]]["properties"]
    count = table["count"]
    out: dict[str, list[Any]] = {}
    views = doc["bufferViews"]

    def view(i: int) -> bytes:
        bv = views[i]
        o = bv.get("byteOffset", 0)
        return binary[o : o + bv["byteLength"]]

    for name, spec in table["properties"].items():
        ptype = cls[name]["type"]
        if ptype == "STRING":
            data = view(spec["values"])
            offs = np.frombuffer(view(spec["stringOffsets"]), dtype=np.uint32)
            out[name] = [data[offs[i] : offs[i + 1]].decode() for i in range(count)]
        elif ptype == "BOOLEAN":
            bits = np.unpackbits(np.frombuffer(view(spec["values"]), np.uint8), bitorder="little")
            out[name] = [bool(b) for b in bits[:count]]
        else:
            arr = np.frombuffer(view(spec["values"]), dtype=_NP[cls[name]["componentType"]])
            out[name] = arr[:count].tolist()
    return out
