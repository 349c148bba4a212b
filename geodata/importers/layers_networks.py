"""The buried layers: network segments and network nodes, 3D at their cover depth (the
mapped one, else the network's usual one, said so in ``attrs``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from numpy.typing import NDArray
from shapely import GeometryType

from geodata.errors import ImportFailed
from geodata.grounding import on_ground
from geodata.importers import schemes as m
from geodata.importers.coerce import as_text, flat, from_numpy, lookup
from geodata.importers.geometry import (
    ewkb,
    reproject,
)
from geodata.importers.import_layer import ImportLayer, Rows, Stored, flags, numbers, positive
from geodata.vocab import LOCATION_CLASSES, NETWORKS, NODE_KINDS

if TYPE_CHECKING:
    from geodata.importers.base import ImportOptions
    from geodata.importers.mapping import Columns, Mapper

_L, _ML = GeometryType.LINESTRING, GeometryType.MULTILINESTRING
_PT, _MPT = GeometryType.POINT, GeometryType.MULTIPOINT


#: assumed cover depth (m) when a network segment or node has none: usual French/Finnish
#: practice
DEFAULT_DEPTH = {
    "water": 1.2,
    "wastewater": 2.5,
    "stormwater": 2.0,
    "gas": 1.0,
    "district_heating": 1.0,
    "electricity": 0.8,
    "telecom": 0.6,
    "lighting": 0.6,
}


def _with_depth(cols: Columns, attrs: pa.Array) -> tuple[NDArray[Any], pa.Array]:
    """Cover depth: the mapped one, else the network's usual one (said so in ``attrs``)."""
    depth = numbers(cols["depth_m"])
    assumed = np.isnan(depth)
    if assumed.any():
        usual = numbers(lookup(cols["network"], DEFAULT_DEPTH, pa.float64()))
        depth[assumed] = np.nan_to_num(usual[assumed])
        said = pc.if_else(
            pc.equal(attrs, "{}"),
            pa.scalar("{", pa.string()),
            pc.binary_join_element_wise(pc.utf8_slice_codeunits(attrs, 0, -1), ",", ""),
        )
        said = pc.binary_join_element_wise(said, '"depth_source":"assumed"}', "")
        attrs = pc.if_else(pa.array(assumed), said, attrs)
    cols["depth_m"] = depth
    return depth, attrs


def _location_class(values: Any, ids: NDArray[Any]) -> pa.Array:
    """DT-DICT's class: A, B or C (case and spaces ignored, "classe B" too); none = C, the
    least precise; anything else is refused, naming the feature and the accepted values."""
    text = pc.utf8_upper(pc.utf8_trim_whitespace(as_text(flat(values))))
    text = pc.replace_substring_regex(text, r"^CLASSE?\s*", "")
    text = pc.fill_null(pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text), "C")
    bad = ~np.asarray(pc.is_in(text, pa.array(LOCATION_CLASSES)), dtype=bool)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ImportFailed(
            f"feature {ids[i]}: unknown location_class {text[i].as_py()!r} ({int(bad.sum())} "
            f"features); accepted: {', '.join(LOCATION_CLASSES)} (leave it empty for C)"
        )
    return text


def _buried(
    cols: Columns,
    geoms: NDArray[Any],
    depth: NDArray[Any],
    src: int,
    dst: int,
    options: ImportOptions,
) -> NDArray[Any]:
    """Reprojected, and 3D: a 3D geometry keeps its Z, a 2D one lies at the ground minus its
    depth (:func:`geodata.grounding.placed`); ``z_source`` says which."""
    return on_ground(cols, reproject(geoms, src, dst), depth, options.ground)


class Networks(ImportLayer):
    """Network segments: a MultiLineString becomes one row per part (``id#1``, ``id#2``)."""

    name = "networks"
    table = "network_segments"
    accepted = (_L, _ML)
    columns: ClassVar[dict[str, str]] = {
        "network": "text",
        "depth_m": "float8",
        "diameter_mm": "float8",
        "material": "text",
        "install_year": "int",
        "status": "text",
        "operator": "text",
        "synthetic": "bool",
        "replaces_id": "int8",
        "location_class": "text",
        "z_source": "text",
    }
    fields = m.NETWORK_FIELDS
    vocabulary: ClassVar[dict[str, tuple[str, ...]]] = {"network": NETWORKS}

    def derive(self, out: Columns, props: pa.Table, mapper: Mapper) -> None:
        if out["network"].null_count:
            out["network"] = pc.coalesce(out["network"], m.osm_kind(props, m.OSM_NETWORK))

    def to_stored(self, rows: Rows, src: int, dst: int, options: ImportOptions) -> Stored:
        parts, index = shapely.get_parts(rows.geoms, return_index=True)
        ids, attrs = rows.ids, rows.attrs
        cols = rows.columns
        if len(parts) != len(rows.geoms):
            first = np.searchsorted(index, index)  # index is sorted: a feature's first part
            many = np.bincount(index, minlength=len(rows.geoms))[index] > 1
            ids = ids[index].astype(object)
            ids[many] = [
                f"{i}#{k}"
                for i, k in zip(ids[many], (np.arange(len(index)) - first + 1)[many], strict=True)
            ]
            attrs = attrs.take(index)
            cols = {c: _take(v, index) for c, v in cols.items()}
        depth, attrs = _with_depth(cols, attrs)
        geom = ewkb(_buried(cols, parts, depth, src, dst, options), dst)
        cols["diameter_mm"] = positive(cols["diameter_mm"])
        year = numbers(cols["install_year"])
        cols["install_year"] = np.where((year >= 1700) & (year <= 2100), year, np.nan)
        cols["status"] = pc.fill_null(cols["status"], "in_service")
        cols["synthetic"] = flags(cols["synthetic"])
        cols["location_class"] = _location_class(cols["location_class"], ids)
        return Stored(ids, geom, cols, attrs)


class NetworkNodes(ImportLayer):
    """Valves, manholes, hydrants...: points at their depth, like the segments."""

    name = "network-nodes"
    table = "network_nodes"
    accepted = (_PT, _MPT)
    single_points = True
    columns: ClassVar[dict[str, str]] = {
        "network": "text",
        "kind": "text",
        "depth_m": "float8",
        "synthetic": "bool",
        "location_class": "text",
        "z_source": "text",
    }
    fields = m.NODE_FIELDS
    vocabulary: ClassVar[dict[str, tuple[str, ...]]] = {"network": NETWORKS, "kind": NODE_KINDS}

    def derive(self, out: Columns, props: pa.Table, mapper: Mapper) -> None:
        if "kind" not in mapper.mapping.constants:
            out["kind"] = pc.coalesce(out["kind"], m.osm_kind(props, m.OSM_NODES))
        hydrant = pc.fill_null(pc.equal(out["kind"], "hydrant"), False)
        water = pc.if_else(hydrant, pa.scalar("water"), pa.scalar(None, pa.string()))
        out["network"] = pc.coalesce(out["network"], water)
        names = props.column_names
        if "manhole" in names:
            manhole = as_text(flat(props.column("manhole")))
            out["network"] = pc.coalesce(
                out["network"], lookup(manhole, m.OSM_MANHOLE_NETWORK, pa.string())
            )
        if "fire_hydrant:type" in names:
            # an underground hydrant's outlet sits under a cover; a pillar stands on the street
            kind = as_text(flat(props.column("fire_hydrant:type")))
            pillar = np.asarray(pc.fill_null(pc.equal(kind, "pillar"), False), dtype=bool)
            depth = numbers(out["depth_m"])
            missing = np.asarray(hydrant, dtype=bool) & np.isnan(depth)
            depth[missing] = np.where(pillar[missing], 0.0, 0.3)
            out["depth_m"] = from_numpy(depth)

    def to_stored(self, rows: Rows, src: int, dst: int, options: ImportOptions) -> Stored:
        depth, attrs = _with_depth(rows.columns, rows.attrs)
        geom = ewkb(_buried(rows.columns, rows.geoms, depth, src, dst, options), dst)
        rows.columns["synthetic"] = flags(rows.columns["synthetic"])
        rows.columns["location_class"] = _location_class(rows.columns["location_class"], rows.ids)
        return Stored(rows.ids, geom, rows.columns, attrs)


def _take(values: Any, index: NDArray[Any]) -> Any:
    """Rows ``index`` of a column (Arrow or numpy)."""
    return values[index] if isinstance(values, np.ndarray) else flat(values).take(index)
