"""scenario edits are audited: the audit log's kinds gain 'scenario'

Creating, editing and deleting a planning scenario (``twin scenarios``, ``/api/scenarios``)
writes one audit row in the edit's own transaction, as imports and rule changes do.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 22:50:00
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

KINDS = (
    "'sign-in', 'sign-in-failed', 'account', 'import', 'export', 'read', 'rule', 'alert', 'device'"
)
NEW_KINDS = KINDS + ", 'scenario'"


def upgrade() -> None:
    op.execute(
        f"""
        ALTER TABLE audit_log DROP CONSTRAINT audit_kind_known,
            ADD CONSTRAINT audit_kind_known CHECK (kind IN ({NEW_KINDS}));
        """
    )


def downgrade() -> None:
    op.execute(
        f"""
        DELETE FROM audit_log WHERE kind = 'scenario';
        ALTER TABLE audit_log DROP CONSTRAINT audit_kind_known,
            ADD CONSTRAINT audit_kind_known CHECK (kind IN ({KINDS}));
        """
    )
