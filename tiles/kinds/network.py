"""One utility network: segments as tubes of their diameter, nodes as upright cylinders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np
import shapely

from geodata.layers import LAYERS
from geodata.vocab import NETWORKS
from tiles import metadata, shapes, style
from tiles.frames import Frame
from tiles.gltf import GltfBuilder
from tiles.kinds.base import (
    BYTES_PER_NODE,
    BYTES_PER_PIPE_POINT,
    Content,
    TilesetKind,
    TilesetSpec,
    bounds,
    changed_ids,
)
from tiles.mesh import Mesh
from tiles.tubes import tubes

SEGMENT, NODE = 0, 1


class NetworkRow(NamedTuple):
    """A segment (src 0, LineStringZ) or a node (src 1, PointZ); unused fields are None."""

    src: int
    id: int
    geom: bytes  # WKB, working CRS
    depth_m: float
    diameter_mm: float | None
    material: str | None
    install_year: int | None
    operator: str | None
    status: str | None
    synthetic: bool
    source_id: str | None
    node_kind: str | None
    location_class: str | None = None
    renewal_score: float | None = None


@dataclass(frozen=True)
class NetworkOptions:
    layer: str
    network: str
    #: pipes are never drawn thinner than this (metres)
    min_diameter_m: float = style.MIN_VISIBLE_DIAMETER_M
    sides: int = 8


class NetworkKind(TilesetKind[NetworkRow, NetworkOptions]):
    name = "network"
    Row = NetworkRow
    metadata_classes = ("network_segment", "network_node")
    tables: ClassVar[dict[int, str]] = {SEGMENT: "network_segments", NODE: "network_nodes"}

    def extent_sql(self, spec: TilesetSpec) -> str:
        f = spec.scenario_filter()
        return (
            "SELECT sum(n), ST_Extent(e), sum(b) FROM ("
            f"SELECT count(*) n, ST_Extent(geom)::geometry e, coalesce(sum(ST_NPoints(geom)"
            f" * {BYTES_PER_PIPE_POINT}), 0) b FROM network_segments "
            f"WHERE network = %(network)s AND {f} "
            f"UNION ALL SELECT count(*), ST_Extent(geom)::geometry, count(*) * "
            f"{BYTES_PER_NODE} FROM network_nodes WHERE network = %(network)s AND {f}) q"
        )

    def index_sql(self, spec: TilesetSpec, *, changed: bool = False) -> str:
        f = spec.scenario_filter()
        seg = f" AND {changed_ids(SEGMENT)}" if changed else ""
        node = f" AND {changed_ids(NODE)}" if changed else ""
        return (
            "SELECT 0 AS src, id, (ST_XMin(b) + ST_XMax(b)) / 2, (ST_YMin(b) + ST_YMax(b)) / 2,"
            " sqrt(power(ST_XMax(b) - ST_XMin(b), 2) + power(ST_YMax(b) - ST_YMin(b), 2))"
            f" + 0.1 AS size, ST_NPoints(geom) * {BYTES_PER_PIPE_POINT} "
            "FROM (SELECT id, geom::box3d AS b, geom FROM network_segments "
            f"WHERE network = %(network)s AND {f}{seg}) s "
            "UNION ALL SELECT 1, id, ST_X(geom), ST_Y(geom), 0.05, "
            f"{BYTES_PER_NODE} FROM network_nodes WHERE network = %(network)s "
            f"AND {f}{node} ORDER BY size DESC, src, id"
        )

    def rows_sql(self, spec: TilesetSpec) -> str:
        return (
            "SELECT a.tile, 0 AS src, s.id, ST_AsBinary(s.geom), s.depth_m, s.diameter_mm, "
            "s.material, s.install_year, s.operator, s.status, s.synthetic, s.source_id, "
            "NULL::text AS kind, s.location_class, s.renewal_score FROM tile_assign a "
            "JOIN network_segments s ON a.src = 0 AND s.id = a.id "
            "UNION ALL SELECT a.tile, 1, n.id, ST_AsBinary(n.geom), n.depth_m, NULL, NULL, "
            "NULL, NULL, NULL, n.synthetic, n.source_id, n.kind, n.location_class, NULL "
            "FROM tile_assign a "
            "JOIN network_nodes n ON a.src = 1 AND n.id = a.id ORDER BY 1, 2, 3"
        )

    def options(self, spec: TilesetSpec) -> NetworkOptions:
        return NetworkOptions(spec.layer, spec.params["network"])

    def build_content(
        self, frame: Frame, rows: Sequence[NetworkRow], options: NetworkOptions
    ) -> Content:
        segs = [r for r in rows if r.src == SEGMENT]
        nodes = [r for r in rows if r.src == NODE]
        net = options.network
        gb = GltfBuilder()
        colour = style.NETWORK_COLOURS.get(net, (0.5, 0.5, 0.5, 1.0))
        tables: list[dict[str, Any]] = []
        prims: list[dict[str, Any]] = []
        meshes: list[Mesh] = []
        classes: list[str] = []
        if segs:
            mesh = _segment_mesh(frame, segs, options)
            tables.append(_segment_table(gb, segs, options))
            mat = gb.material(f"{net}-pipe", colour, roughness=0.6)
            prims.append(mesh.primitive(gb, mat, len(segs), len(tables) - 1))
            meshes.append(mesh)
            classes.append("network_segment")
        if nodes:
            mesh = _node_mesh(frame, nodes)
            tables.append(_node_table(gb, nodes, options))
            mat = gb.material(f"{net}-node", style.darker(colour), roughness=0.7)
            prims.append(mesh.primitive(gb, mat, len(nodes), len(tables) - 1))
            meshes.append(mesh)
            classes.append("network_node")
        m = gb.mesh(prims, name=net)
        gb.z_up_root([gb.node({"mesh": m, "name": net})])
        metadata.attach(gb, tables, classes)
        boxes = [b for b in (mesh.bounds() for mesh in meshes) if b is not None]
        lo, hi = bounds([b[0] for b in boxes], [b[1] for b in boxes])
        return Content(gb.glb(), len(rows), lo, hi)


def _segment_mesh(frame: Frame, segs: list[NetworkRow], options: NetworkOptions) -> Mesh:
    """Tubes of the real diameter (never thinner than the option) along the 3D centreline."""
    geoms = shapely.from_wkb([r.geom for r in segs])
    xyz, line_of = shapely.get_coordinates(geoms, include_z=True, return_index=True)
    local = frame.local(xyz[:, 0], xyz[:, 1], xyz[:, 2])
    default = style.DEFAULT_DIAMETER_MM.get(options.network, 100.0)
    diam = np.array([default if r.diameter_mm is None else r.diameter_mm for r in segs]) / 1000
    radius = np.maximum(diam, options.min_diameter_m) / 2
    return tubes(local, line_of, radius, np.arange(len(segs)), sides=options.sides)


def _node_mesh(frame: Frame, nodes: list[NetworkRow]) -> Mesh:
    """Upright cylinders sized by node kind (tiles.shapes.NODE_SHAPES), up to the ground for
    the kinds that reach it (manholes, hydrants)."""
    pts = shapely.get_coordinates(shapely.from_wkb([r.geom for r in nodes]), include_z=True)
    lines, radii = [], []
    for (x, y, z), r in zip(pts, nodes, strict=True):
        radius, below, above = shapes.NODE_SHAPES.get(r.node_kind or "", (0.3, 0.3, 0.3))
        top = z + above + (r.depth_m if r.node_kind in shapes.REACHES_GROUND else 0.0)
        lines += [(x, y, z - below), (x, y, max(top, z - below + 0.1))]
        radii.append(radius)
    arr = np.array(lines, dtype=float)
    local = frame.local(arr[:, 0], arr[:, 1], arr[:, 2])
    n = len(nodes)
    return tubes(local, np.repeat(np.arange(n), 2), np.array(radii), np.arange(n), sides=12)


def _segment_table(
    gb: GltfBuilder, segs: list[NetworkRow], options: NetworkOptions
) -> dict[str, Any]:
    n = len(segs)
    return metadata.property_table(
        gb,
        "network_segment",
        {
            "id": [r.id for r in segs],
            "layer": [options.layer] * n,
            "network": [options.network] * n,
            "diameter_mm": [r.diameter_mm for r in segs],
            "material": [r.material for r in segs],
            "depth_m": [r.depth_m for r in segs],
            "install_year": [r.install_year for r in segs],
            "operator": [r.operator for r in segs],
            "status": [r.status for r in segs],
            "synthetic": [r.synthetic for r in segs],
            "source_id": [r.source_id for r in segs],
            "location_class": [r.location_class for r in segs],
            "renewal_score": [r.renewal_score for r in segs],
        },
        n,
    )


def _node_table(
    gb: GltfBuilder, nodes: list[NetworkRow], options: NetworkOptions
) -> dict[str, Any]:
    n = len(nodes)
    return metadata.property_table(
        gb,
        "network_node",
        {
            "id": [r.id for r in nodes],
            "layer": [options.layer] * n,
            "network": [options.network] * n,
            "kind": [r.node_kind for r in nodes],
            "depth_m": [r.depth_m for r in nodes],
            "synthetic": [r.synthetic for r in nodes],
            "source_id": [r.source_id for r in nodes],
            "location_class": [r.location_class for r in nodes],
        },
        n,
    )


def network_specs() -> list[TilesetSpec]:
    return [
        TilesetSpec(
            f"network-{n}",
            NetworkKind.name,
            f"network-{n}",
            {"network": n},
            title=LAYERS[f"network-{n}"].title,
        )
        for n in NETWORKS
    ]
