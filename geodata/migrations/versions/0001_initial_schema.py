"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 04:32:08.363111
"""

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=True),
        sa.Column(
            "detail",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "datasets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("layer", sa.String(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("licence", sa.String(), nullable=True),
        sa.Column("attribution", sa.String(), nullable=True),
        sa.Column("visibility", sa.String(), server_default="public", nullable=False),
        sa.Column("features", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "imported_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "visibility IN ('public', 'agent', 'confidential')", name="visibility_known"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("uq_datasets_source_layer", "datasets", ["source", "layer"], unique=True)
    op.create_table(
        "devices",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("protocol", sa.String(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("unit", sa.String(), nullable=True),
        sa.Column("layer", sa.String(), nullable=True),
        sa.Column("feature_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POINTZ",
                dimension=3,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column("visibility", sa.String(), server_default="public", nullable=False),
        sa.Column(
            "attrs",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "visibility IN ('public', 'agent', 'confidential')", name="visibility_known"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("status", sa.String(), server_default="proposed", nullable=False),
        sa.Column(
            "site",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column("visibility", sa.String(), server_default="public", nullable=False),
        sa.Column(
            "attrs",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "visibility IN ('public', 'agent', 'confidential')", name="visibility_known"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slug"),
    )
    op.create_table(
        "routes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="LINESTRINGZ",
                dimension=3,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column(
            "stops", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False
        ),
        sa.Column("accessible", sa.Boolean(), server_default="false", nullable=False),
        sa.Column(
            "attrs",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("ST_IsValid(geom) AND NOT ST_IsEmpty(geom)", name="geom_valid"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slug"),
    )
    op.create_index("ix_routes_geom", "routes", ["geom"], unique=False, postgresql_using="gist")
    op.create_table(
        "rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("definition", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default="true", nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "twin_meta",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("token_id", sa.String(), nullable=False),
        sa.Column("token_hash", sa.String(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "role IN ('citizen', 'agent', 'planner', 'operator', 'admin')", name="role_known"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("token_id"),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column("device_id", sa.String(), nullable=True),
        sa.Column("state", sa.String(), server_default="open", nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column(
            "opened_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('open', 'acknowledged', 'resolved')", name="state_known"),
        sa.ForeignKeyConstraint(["rule_id"], ["rules.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "latest_state",
        sa.Column("device_id", sa.String(), nullable=False),
        sa.Column("metric", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("device_id", "metric"),
    )
    op.create_table(
        "observations",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("device_id", sa.String(), nullable=False),
        sa.Column("metric", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_observations_device_metric_at",
        "observations",
        ["device_id", "metric", "at"],
        unique=False,
    )
    op.create_table(
        "scenarios",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column(
            "attrs",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slug"),
    )
    op.create_table(
        "buildings",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column(
            "footprint",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("base_z", sa.Double(), server_default="0", nullable=False),
        sa.Column("height", sa.Double(), nullable=False),
        sa.Column("height_source", sa.String(), server_default="default", nullable=False),
        sa.Column("levels", sa.Integer(), nullable=True),
        sa.Column("roof_type", sa.String(), nullable=True),
        sa.Column("usage", sa.String(), nullable=True),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("address", sa.String(), nullable=True),
        sa.Column("year_built", sa.Integer(), nullable=True),
        sa.Column(
            "lod2",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGONZ",
                dimension=3,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column("scenario_id", sa.Integer(), nullable=True),
        sa.Column("replaces_id", sa.BigInteger(), nullable=True),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("source_id", sa.String(), nullable=False),
        sa.Column(
            "attrs",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "height_source IN ('measured', 'levels', 'default', 'lod')", name="height_source_known"
        ),
        sa.CheckConstraint(
            "ST_IsValid(footprint) AND NOT ST_IsEmpty(footprint)", name="footprint_valid"
        ),
        sa.CheckConstraint("base_z > -500 AND base_z < 9000", name="base_z_sane"),
        sa.CheckConstraint("height > 0 AND height < 1000", name="height_positive"),
        sa.CheckConstraint("levels IS NULL OR levels >= 0", name="levels_positive"),
        sa.ForeignKeyConstraint(["scenario_id"], ["scenarios.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_buildings_footprint", "buildings", ["footprint"], unique=False, postgresql_using="gist"
    )
    op.create_index("ix_buildings_scenario", "buildings", ["scenario_id"], unique=False)
    op.create_index(
        "uq_buildings_source",
        "buildings",
        ["source", "source_id"],
        unique=True,
        postgresql_where=sa.text("scenario_id IS NULL"),
    )
    op.create_table(
        "furniture",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POINTZ",
                dimension=3,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("heading", sa.Double(), nullable=True),
        sa.Column("height", sa.Double(), nullable=True),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("scenario_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("source_id", sa.String(), nullable=False),
        sa.Column(
            "attrs",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('lamp', 'bench', 'tree', 'bin', 'bollard', 'traffic_light', 'sign', 'parking_space', 'charging_station', 'bus_stop', 'camera', 'gauge', 'fountain', 'bicycle_parking')",
            name="kind_known",
        ),
        sa.CheckConstraint("NOT ST_IsEmpty(geom)", name="geom_not_empty"),
        sa.CheckConstraint("height IS NULL OR height > 0", name="height_positive"),
        sa.ForeignKeyConstraint(["scenario_id"], ["scenarios.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_furniture_geom", "furniture", ["geom"], unique=False, postgresql_using="gist"
    )
    op.create_index(
        "uq_furniture_source",
        "furniture",
        ["source", "source_id"],
        unique=True,
        postgresql_where=sa.text("scenario_id IS NULL"),
    )
    op.create_table(
        "ground",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("width_m", sa.Double(), nullable=True),
        sa.Column("scenario_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("source_id", sa.String(), nullable=False),
        sa.Column(
            "attrs",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('road', 'footway', 'cycleway', 'path', 'pedestrian', 'park', 'grass', 'water', 'railway', 'parking')",
            name="kind_known",
        ),
        sa.CheckConstraint("ST_IsValid(geom) AND NOT ST_IsEmpty(geom)", name="geom_valid"),
        sa.ForeignKeyConstraint(["scenario_id"], ["scenarios.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ground_geom", "ground", ["geom"], unique=False, postgresql_using="gist")
    op.create_index(
        "uq_ground_source",
        "ground",
        ["source", "source_id"],
        unique=True,
        postgresql_where=sa.text("scenario_id IS NULL"),
    )
    op.create_table(
        "network_nodes",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("network", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POINTZ",
                dimension=3,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("depth_m", sa.Double(), server_default="0", nullable=False),
        sa.Column("synthetic", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("scenario_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("source_id", sa.String(), nullable=False),
        sa.Column(
            "attrs",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('valve', 'manhole', 'hydrant', 'junction', 'meter', 'chamber', 'substation')",
            name="kind_known",
        ),
        sa.CheckConstraint(
            "network IN ('water', 'wastewater', 'stormwater', 'gas', 'district_heating', 'electricity', 'telecom', 'lighting')",
            name="network_known",
        ),
        sa.CheckConstraint("NOT ST_IsEmpty(geom)", name="geom_not_empty"),
        sa.ForeignKeyConstraint(["scenario_id"], ["scenarios.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_network_nodes_geom", "network_nodes", ["geom"], unique=False, postgresql_using="gist"
    )
    op.create_index(
        "uq_network_nodes_source",
        "network_nodes",
        ["source", "source_id"],
        unique=True,
        postgresql_where=sa.text("scenario_id IS NULL"),
    )
    op.create_table(
        "network_segments",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("network", sa.String(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="LINESTRINGZ",
                dimension=3,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("depth_m", sa.Double(), nullable=False),
        sa.Column("diameter_mm", sa.Double(), nullable=True),
        sa.Column("material", sa.String(), nullable=True),
        sa.Column("install_year", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(), server_default="in_service", nullable=False),
        sa.Column("operator", sa.String(), nullable=True),
        sa.Column("synthetic", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("scenario_id", sa.Integer(), nullable=True),
        sa.Column("replaces_id", sa.BigInteger(), nullable=True),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("source_id", sa.String(), nullable=False),
        sa.Column(
            "attrs",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "network IN ('water', 'wastewater', 'stormwater', 'gas', 'district_heating', 'electricity', 'telecom', 'lighting')",
            name="network_known",
        ),
        sa.CheckConstraint("ST_IsValid(geom) AND NOT ST_IsEmpty(geom)", name="geom_valid"),
        sa.CheckConstraint("depth_m >= 0 AND depth_m < 100", name="depth_sane"),
        sa.CheckConstraint("diameter_mm IS NULL OR diameter_mm > 0", name="diameter_positive"),
        sa.CheckConstraint(
            "install_year IS NULL OR install_year BETWEEN 1700 AND 2100", name="year_sane"
        ),
        sa.ForeignKeyConstraint(["scenario_id"], ["scenarios.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_network_segments_geom",
        "network_segments",
        ["geom"],
        unique=False,
        postgresql_using="gist",
    )
    op.create_index("ix_network_segments_network", "network_segments", ["network"], unique=False)
    op.create_index(
        "uq_network_segments_source",
        "network_segments",
        ["source", "source_id"],
        unique=True,
        postgresql_where=sa.text("scenario_id IS NULL"),
    )
    op.create_table(
        "pois",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("kind", sa.String(), server_default="poi", nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POINTZ",
                dimension=3,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("scenario_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("source_id", sa.String(), nullable=False),
        sa.Column(
            "attrs",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("NOT ST_IsEmpty(geom)", name="geom_not_empty"),
        sa.ForeignKeyConstraint(["scenario_id"], ["scenarios.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_pois_geom", "pois", ["geom"], unique=False, postgresql_using="gist")
    op.create_index(
        "uq_pois_source",
        "pois",
        ["source", "source_id"],
        unique=True,
        postgresql_where=sa.text("scenario_id IS NULL"),
    )
    op.create_table(
        "scenario_removals",
        sa.Column("scenario_id", sa.Integer(), nullable=False),
        sa.Column("layer", sa.String(), nullable=False),
        sa.Column("feature_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["scenario_id"], ["scenarios.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("scenario_id", "layer", "feature_id"),
    )


def downgrade() -> None:
    op.drop_table("scenario_removals")
    op.drop_index(
        "uq_pois_source", table_name="pois", postgresql_where=sa.text("scenario_id IS NULL")
    )
    op.drop_index("ix_pois_geom", table_name="pois", postgresql_using="gist")
    op.drop_table("pois")
    op.drop_index(
        "uq_network_segments_source",
        table_name="network_segments",
        postgresql_where=sa.text("scenario_id IS NULL"),
    )
    op.drop_index("ix_network_segments_network", table_name="network_segments")
    op.drop_index(
        "ix_network_segments_geom", table_name="network_segments", postgresql_using="gist"
    )
    op.drop_table("network_segments")
    op.drop_index(
        "uq_network_nodes_source",
        table_name="network_nodes",
        postgresql_where=sa.text("scenario_id IS NULL"),
    )
    op.drop_index("ix_network_nodes_geom", table_name="network_nodes", postgresql_using="gist")
    op.drop_table("network_nodes")
    op.drop_index(
        "uq_ground_source", table_name="ground", postgresql_where=sa.text("scenario_id IS NULL")
    )
    op.drop_index("ix_ground_geom", table_name="ground", postgresql_using="gist")
    op.drop_table("ground")
    op.drop_index(
        "uq_furniture_source",
        table_name="furniture",
        postgresql_where=sa.text("scenario_id IS NULL"),
    )
    op.drop_index("ix_furniture_geom", table_name="furniture", postgresql_using="gist")
    op.drop_table("furniture")
    op.drop_index(
        "uq_buildings_source",
        table_name="buildings",
        postgresql_where=sa.text("scenario_id IS NULL"),
    )
    op.drop_index("ix_buildings_scenario", table_name="buildings")
    op.drop_index("ix_buildings_footprint", table_name="buildings", postgresql_using="gist")
    op.drop_table("buildings")
    op.drop_table("scenarios")
    op.drop_index("ix_observations_device_metric_at", table_name="observations")
    op.drop_table("observations")
    op.drop_table("latest_state")
    op.drop_table("alerts")
    op.drop_table("users")
    op.drop_table("twin_meta")
    op.drop_table("rules")
    op.drop_index("ix_routes_geom", table_name="routes", postgresql_using="gist")
    op.drop_table("routes")
    op.drop_table("projects")
    op.drop_table("devices")
    op.drop_index("uq_datasets_source_layer", table_name="datasets")
    op.drop_table("datasets")
    op.drop_table("audit_log")
