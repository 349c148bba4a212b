"""network server events: ``ingest_counts`` also counts events that carry no observation

ChirpStack and The Things Stack post joins, status reports, downlink acknowledgements and
the like to the same integration as uplinks; they are answered and counted (outcome
``event:<kind>``, e.g. ``event:join``), never stored as observations.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 15:00:00
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE ingest_counts DROP CONSTRAINT ingest_outcome_known,
            ADD CONSTRAINT ingest_outcome_known
            CHECK (outcome IN ('accepted', 'duplicate') OR outcome ~ '^event:[a-z_]{1,40}$');
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DELETE FROM ingest_counts WHERE outcome LIKE 'event:%';
        ALTER TABLE ingest_counts DROP CONSTRAINT ingest_outcome_known,
            ADD CONSTRAINT ingest_outcome_known CHECK (outcome IN ('accepted', 'duplicate'));
        """
    )
