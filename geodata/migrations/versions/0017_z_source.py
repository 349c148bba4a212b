"""where each feature's height came from: the twin follows its terrain

``z_source`` on buildings (their base), network segments and nodes (their centreline's z),
furniture and points of interest (their z): ``source`` when the file gave it, ``dem`` when
it was read from the twin's DEM (the ground, minus the cover depth for buried networks), and
``default`` when neither said (the flat ground at 0). A DEM import re-bases every ``dem``
and ``default`` row on the new ground and leaves ``source`` rows alone
(:mod:`geodata.grounding`).

Existing rows: a building with a non-zero base, a point with a non-zero z, or a segment
whose z is not minus its depth came from its file; the others are the flat default.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 06:15:00
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

TABLES = ("buildings", "network_segments", "network_nodes", "furniture", "pois")
KNOWN = "'source', 'dem', 'default'"


def upgrade() -> None:
    for table in TABLES:
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN z_source text NOT NULL DEFAULT 'default' "
            f"CONSTRAINT z_source_known CHECK (z_source IN ({KNOWN}))"
        )
    op.execute(
        """
        UPDATE buildings SET z_source = 'source' WHERE base_z <> 0;
        UPDATE furniture SET z_source = 'source' WHERE ST_Z(geom) <> 0;
        UPDATE pois SET z_source = 'source' WHERE ST_Z(geom) <> 0;
        UPDATE network_nodes SET z_source = 'source' WHERE abs(ST_Z(geom) + depth_m) > 0.001;
        UPDATE network_segments SET z_source = 'source' WHERE EXISTS (
            SELECT 1 FROM ST_DumpPoints(geom) p WHERE abs(ST_Z(p.geom) + depth_m) > 0.001);
        """
    )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} DROP COLUMN z_source")
