"""The layers of the twin: one registry, one visibility each.

Everything that lists, serves, tiles or exports a layer reads it from here, so a layer's
visibility is decided in exactly one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from geodata.vocab import NETWORKS


@dataclass(frozen=True)
class Layer:
    """A collection of features stored in one table (optionally filtered)."""

    id: str
    title: str
    table: str
    geom_column: str
    visibility: str
    description: str = ""
    #: columns exposed as feature properties (besides ``attrs``)
    properties: tuple[str, ...] = ()
    #: SQL filter on the table (a fixed, trusted string)
    where: str | None = None
    #: SQL giving the 3D geometry to publish (defaults to the column)
    geom_sql: str | None = None
    has_attrs: bool = True
    scenario_aware: bool = True
    #: column holding each row's own visibility (projects), checked by the access rule
    row_visibility: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def output_geom(self) -> str:
        return self.geom_sql or self.geom_column


_SEGMENT_PROPS = (
    "network",
    "depth_m",
    "diameter_mm",
    "material",
    "install_year",
    "status",
    "operator",
    "synthetic",
    "source",
    "source_id",
    "location_class",
    "renewal_score",
    "z_source",
)

LAYERS: dict[str, Layer] = {
    layer.id: layer
    for layer in [
        Layer(
            "buildings",
            "Buildings",
            "buildings",
            "footprint",
            "public",
            "Building footprints at ground height with height, levels, usage and roof type.",
            (
                "base_z",
                "z_source",
                "height",
                "height_source",
                "levels",
                "roof_type",
                "usage",
                "name",
                "address",
                "year_built",
                "source",
                "source_id",
            ),
            geom_sql="ST_Force3DZ(footprint, base_z)",
        ),
        Layer(
            "networks",
            "Underground networks (all)",
            "network_segments",
            "geom",
            "agent",
            "Buried network centrelines at their real depth (z = ground - cover depth).",
            _SEGMENT_PROPS,
        ),
        *[
            Layer(
                f"network-{n}",
                f"{n.replace('_', ' ').capitalize()} network",
                "network_segments",
                "geom",
                "agent",
                f"Buried {n.replace('_', ' ')} network centrelines at their real depth.",
                _SEGMENT_PROPS,
                where=f"network = '{n}'",
            )
            for n in NETWORKS
        ],
        Layer(
            "network-nodes",
            "Network nodes",
            "network_nodes",
            "geom",
            "agent",
            "Valves, manholes, hydrants, junctions and meters of the buried networks.",
            (
                "network",
                "kind",
                "depth_m",
                "synthetic",
                "source",
                "source_id",
                "location_class",
                "z_source",
            ),
        ),
        Layer(
            "furniture",
            "Street furniture",
            "furniture",
            "geom",
            "public",
            "Lamps, benches, trees, bins, bus stops and other street objects.",
            ("kind", "heading", "height", "name", "source", "source_id", "z_source"),
            where="kind <> 'camera'",
        ),
        Layer(
            "cameras",
            "Cameras",
            "furniture",
            "geom",
            "agent",
            "Camera locations: agents only.",
            ("kind", "heading", "height", "name", "source", "source_id", "z_source"),
            where="kind = 'camera'",
        ),
        Layer(
            "ground",
            "Streets, footways, parks and water",
            "ground",
            "geom",
            "public",
            "Context for the 3D view: streets, footways, parks, water.",
            ("kind", "name", "width_m", "source", "source_id"),
        ),
        Layer(
            "pois",
            "Points of interest",
            "pois",
            "geom",
            "public",
            "Tourist points of interest.",
            ("name", "kind", "description", "source", "source_id", "z_source"),
        ),
        Layer(
            "routes",
            "Walking circuits",
            "routes",
            "geom",
            "public",
            "Walking circuits with ordered stops and accessibility.",
            ("slug", "name", "stops", "accessible"),
            scenario_aware=False,
        ),
        Layer(
            "projects",
            "Urban projects",
            "projects",
            "site",
            "public",
            "Urban projects open for preview.",
            ("slug", "name", "description", "status"),
            scenario_aware=False,
            row_visibility="visibility",
        ),
    ]
}

#: which ``twin import --layer`` names go to which table
IMPORT_LAYERS = ("buildings", "networks", "furniture", "pois", "ground")


def get_layer(layer_id: str) -> Layer:
    from geodata.errors import NotFound

    try:
        return LAYERS[layer_id]
    except KeyError:
        raise NotFound(
            f"no collection {layer_id!r}: GET /collections lists the ones you may see"
        ) from None
