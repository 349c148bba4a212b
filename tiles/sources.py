"""What each tileset reads from PostGIS, as two SQL statements per kind of content.

Every source answers the same two questions, so the build driver needs no per-layer code:

- ``index_sql``: one light row per feature, ``(src, id, x, y, size, est_bytes)``, sorted
  by size (largest first) for the large-first quadtree; ``src`` tells tables apart when a
  tileset mixes two (network segments and nodes).
- ``rows_sql``: the full rows, joined with the ``tile_assign`` temporary table and ordered by
  tile, so the driver streams one tile after the other through a server-side cursor.

Table and column names are our own constants; user values (scenario ids, network names) are
always bound parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from geodata.layers import LAYERS
from geodata.vocab import NETWORKS

#: estimated output bytes per footprint point (walls + roof + floor, see tiles.extrude),
#: measured on synthetic blocks; only the ratios between tiles matter much
BYTES_PER_FOOTPRINT_POINT = 140
BYTES_PER_LOD2_POINT = 70
BYTES_PER_PIPE_POINT = 900
BYTES_PER_NODE = 1400
BYTES_PER_INSTANCE = 60


@dataclass(frozen=True)
class TilesetSpec:
    """One tileset to build: its name on disk, what it contains and who may see it."""

    name: str
    kind: str  # buildings | network | furniture
    layer: str  # a geodata.layers id: its visibility is the tileset's
    params: dict[str, Any] = field(default_factory=dict)
    scenario_id: int | None = None
    project_id: int | None = None
    #: visibility imposed on top of the layer's (a project that is not public)
    min_visibility: str | None = None
    title: str = ""

    def __post_init__(self) -> None:
        if self.layer not in LAYERS:
            raise ValueError(f"tileset {self.name!r}: unknown layer {self.layer!r}")

    def _scenario_filter(self, alias: str = "") -> str:
        col = f"{alias}scenario_id"
        if self.project_id is not None:
            return f"{col} IN (SELECT id FROM scenarios WHERE project_id = %(project_id)s)"
        if self.scenario_id is not None:
            return f"{col} = %(scenario_id)s"
        return f"{col} IS NULL"

    @property
    def sql_params(self) -> dict[str, Any]:
        return {"scenario_id": self.scenario_id, "project_id": self.project_id, **self.params}

    # -- SQL ------------------------------------------------------------------------------
    def extent_sql(self) -> str:
        if self.kind == "buildings":
            return (
                f"SELECT count(*), ST_Extent(footprint), "
                f"coalesce(sum(CASE WHEN lod2 IS NULL THEN ST_NPoints(footprint) * "
                f"{BYTES_PER_FOOTPRINT_POINT} ELSE ST_NPoints(lod2) * {BYTES_PER_LOD2_POINT}"
                f" END + 64), 0) FROM buildings WHERE {self._scenario_filter()}"
            )
        if self.kind == "network":
            return (
                "SELECT sum(n), ST_Extent(e), sum(b) FROM ("
                f"SELECT count(*) n, ST_Extent(geom)::geometry e, coalesce(sum(ST_NPoints(geom)"
                f" * {BYTES_PER_PIPE_POINT}), 0) b FROM network_segments "
                f"WHERE network = %(network)s AND {self._scenario_filter()} "
                f"UNION ALL SELECT count(*), ST_Extent(geom)::geometry, count(*) * "
                f"{BYTES_PER_NODE} FROM network_nodes WHERE network = %(network)s "
                f"AND {self._scenario_filter()}) q"
            )
        where = LAYERS[self.layer].where or "TRUE"
        return (
            f"SELECT count(*), ST_Extent(geom), count(*) * {BYTES_PER_INSTANCE} "
            f"FROM furniture WHERE ({where}) AND {self._scenario_filter()}"
        )

    def index_sql(self) -> str:
        if self.kind == "buildings":
            return (
                "SELECT 0, id, (ST_XMin(b) + ST_XMax(b)) / 2, (ST_YMin(b) + ST_YMax(b)) / 2, "
                "sqrt(power(ST_XMax(b) - ST_XMin(b), 2) + power(ST_YMax(b) - ST_YMin(b), 2) "
                "+ power(height, 2)) AS size, "
                f"CASE WHEN lod2 IS NULL THEN ST_NPoints(footprint) * {BYTES_PER_FOOTPRINT_POINT}"
                f" ELSE ST_NPoints(lod2) * {BYTES_PER_LOD2_POINT} END + 64 "
                "FROM (SELECT id, footprint::box2d AS b, height, footprint, lod2 FROM buildings "
                f"WHERE {self._scenario_filter()}) q ORDER BY size DESC, id"
            )
        if self.kind == "network":
            return (
                "SELECT 0 AS src, id, (ST_XMin(b) + ST_XMax(b)) / 2, (ST_YMin(b) + ST_YMax(b)) / 2,"
                " sqrt(power(ST_XMax(b) - ST_XMin(b), 2) + power(ST_YMax(b) - ST_YMin(b), 2))"
                f" + 0.1 AS size, ST_NPoints(geom) * {BYTES_PER_PIPE_POINT} "
                "FROM (SELECT id, geom::box3d AS b, geom FROM network_segments "
                f"WHERE network = %(network)s AND {self._scenario_filter()}) s "
                "UNION ALL SELECT 1, id, ST_X(geom), ST_Y(geom), 0.05, "
                f"{BYTES_PER_NODE} FROM network_nodes WHERE network = %(network)s "
                f"AND {self._scenario_filter()} ORDER BY size DESC, src, id"
            )
        where = LAYERS[self.layer].where or "TRUE"
        return (
            "SELECT 0, id, ST_X(geom), ST_Y(geom), coalesce(height, 1.0) AS size, "
            f"{BYTES_PER_INSTANCE} FROM furniture WHERE ({where}) "
            f"AND {self._scenario_filter()} ORDER BY size DESC, id"
        )

    def rows_sql(self) -> str:
        if self.kind == "buildings":
            return (
                "SELECT a.tile, b.id, ST_AsBinary(b.footprint), b.base_z, b.height, b.levels, "
                "b.usage, b.roof_type, b.year_built, b.name, b.source_id, b.scenario_id, "
                "b.replaces_id, ST_AsBinary(b.lod2) "
                "FROM tile_assign a JOIN buildings b ON b.id = a.id ORDER BY a.tile, b.id"
            )
        if self.kind == "network":
            return (
                "SELECT a.tile, 0 AS src, s.id, ST_AsBinary(s.geom), s.depth_m, s.diameter_mm, "
                "s.material, s.install_year, s.operator, s.status, s.synthetic, s.source_id, "
                "NULL::text AS kind FROM tile_assign a JOIN network_segments s "
                "ON a.src = 0 AND s.id = a.id "
                "UNION ALL SELECT a.tile, 1, n.id, ST_AsBinary(n.geom), n.depth_m, NULL, NULL, "
                "NULL, NULL, NULL, n.synthetic, n.source_id, n.kind FROM tile_assign a "
                "JOIN network_nodes n ON a.src = 1 AND n.id = a.id ORDER BY 1, 2, 3"
            )
        return (
            "SELECT a.tile, f.id, f.kind, ST_X(f.geom), ST_Y(f.geom), ST_Z(f.geom), f.heading, "
            "f.height, f.name, f.source_id FROM tile_assign a JOIN furniture f ON f.id = a.id "
            "ORDER BY a.tile, f.kind, f.id"
        )

    def hidden_sql(self) -> str | None:
        """Baseline features a scenario tileset hides (replaced or removed), if any."""
        if self.kind != "buildings" or (self.scenario_id is None and self.project_id is None):
            return None
        table = {"buildings": "buildings"}[self.kind]
        return (
            f"SELECT replaces_id FROM {table} WHERE {self._scenario_filter()} "
            "AND replaces_id IS NOT NULL UNION SELECT feature_id FROM scenario_removals "
            "WHERE layer = 'buildings' AND scenario_id IN ("
            + (
                "SELECT id FROM scenarios WHERE project_id = %(project_id)s)"
                if self.project_id is not None
                else "%(scenario_id)s)"
            )
            + " ORDER BY 1"
        )


def baseline_specs() -> list[TilesetSpec]:
    """The tilesets every twin has: buildings, one per network, furniture."""
    specs = [TilesetSpec("buildings", "buildings", "buildings", title="Buildings")]
    specs += [
        TilesetSpec(
            f"network-{n}",
            "network",
            f"network-{n}",
            {"network": n},
            title=LAYERS[f"network-{n}"].title,
        )
        for n in NETWORKS
    ]
    specs.append(TilesetSpec("furniture", "furniture", "furniture", title="Street furniture"))
    specs.append(TilesetSpec("cameras", "furniture", "cameras", title="Cameras"))
    return specs


def scenario_spec(scenario_id: int, slug: str, name: str = "") -> TilesetSpec:
    return TilesetSpec(
        f"scenario-{slug}", "buildings", "buildings", scenario_id=scenario_id, title=name or slug
    )


def project_spec(project_id: int, slug: str, visibility: str, name: str = "") -> TilesetSpec:
    return TilesetSpec(
        f"project-{slug}",
        "buildings",
        "buildings",
        project_id=project_id,
        min_visibility=visibility,
        title=name or slug,
    )
