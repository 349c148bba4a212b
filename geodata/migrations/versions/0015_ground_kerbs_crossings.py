"""ground kerbs and crossings: the ground layer keeps OSM kerb and crossing nodes as points

The walking network (geodata.walk_network) reads kerb heights (``kerb=*``, ``kerb:height``)
from the nodes where a footway meets a street; the ground rule used to drop every OSM node.
This adds the two kinds to the ground vocabulary (the geometry column already takes any
type). Downgrading deletes those points first.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 22:50:00
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_BEFORE = (
    "'road', 'footway', 'cycleway', 'path', 'pedestrian', 'park', 'grass', 'water', "
    "'railway', 'parking'"
)
_AFTER = _BEFORE + ", 'kerb', 'crossing'"


def upgrade() -> None:
    op.execute(
        f"ALTER TABLE ground DROP CONSTRAINT kind_known, "
        f"ADD CONSTRAINT kind_known CHECK (kind IN ({_AFTER}))"
    )


def downgrade() -> None:
    op.execute("DELETE FROM ground WHERE kind IN ('kerb', 'crossing')")
    op.execute(
        f"ALTER TABLE ground DROP CONSTRAINT kind_known, "
        f"ADD CONSTRAINT kind_known CHECK (kind IN ({_BEFORE}))"
    )
