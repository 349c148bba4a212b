"""device tokens and rate-limited ingest: a token may speak for one device only

``users`` rows of kind ``device`` name the one device they may send observations for
(``twin tokens add --device ID``); deleting the device deletes its tokens. ``ingest_counts``
also counts requests the ingest rate limit refused before reading their body
(``rate_limited``).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 16:00:00
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE users
            ADD COLUMN device_id text REFERENCES devices (id) ON DELETE CASCADE,
            DROP CONSTRAINT users_kind_known,
            ADD CONSTRAINT users_kind_known CHECK (kind IN ('account', 'integration', 'device')),
            ADD CONSTRAINT users_device_kind CHECK ((kind = 'device') = (device_id IS NOT NULL));
        ALTER TABLE ingest_counts DROP CONSTRAINT ingest_outcome_known,
            ADD CONSTRAINT ingest_outcome_known
            CHECK (outcome IN ('accepted', 'duplicate', 'rate_limited')
                   OR outcome ~ '^event:[a-z_]{1,40}$');
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DELETE FROM ingest_counts WHERE outcome = 'rate_limited';
        ALTER TABLE ingest_counts DROP CONSTRAINT ingest_outcome_known,
            ADD CONSTRAINT ingest_outcome_known
            CHECK (outcome IN ('accepted', 'duplicate') OR outcome ~ '^event:[a-z_]{1,40}$');
        DELETE FROM users WHERE kind = 'device';
        ALTER TABLE users
            DROP CONSTRAINT users_device_kind,
            DROP CONSTRAINT users_kind_known,
            ADD CONSTRAINT users_kind_known CHECK (kind IN ('account', 'integration')),
            DROP COLUMN device_id;
        """
    )
