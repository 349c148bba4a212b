"""the buildings' scenario index holds scenario rows only

``ix_buildings_scenario`` served ``scenario_id = N`` (a scenario's rows, and the cascade when
a scenario is deleted), but it indexed every baseline row too, all under one NULL key: a
100,000-building import spent ~40 ms building it, and every baseline write kept it. Partial
on ``scenario_id IS NOT NULL`` it answers the same lookups (an equality on the column implies
it is not null) and costs a baseline row nothing.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 12:00:00
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_buildings_scenario", table_name="buildings")
    op.execute(
        "CREATE INDEX ix_buildings_scenario ON buildings (scenario_id) "
        "WHERE scenario_id IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index("ix_buildings_scenario", table_name="buildings")
    op.create_index("ix_buildings_scenario", "buildings", ["scenario_id"])
