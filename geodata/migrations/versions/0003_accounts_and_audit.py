"""accounts that can be rotated and expire; an audit log that can be searched

A name may come back after its account was revoked (one *active* account per name), and a
rotation is a new row whose predecessor is revoked, so the log of tokens stays whole. A
token may expire. The audit log gets a controlled ``kind`` (``action`` before, always an
account change), the client address, a count (reads are coalesced per batch) and the
indexes its filters use.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 13:20:00
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

KINDS = "'sign-in', 'sign-in-failed', 'account', 'import', 'export', 'read'"


def upgrade() -> None:
    op.execute(
        f"""
        ALTER TABLE users DROP CONSTRAINT users_name_key;
        CREATE UNIQUE INDEX ix_users_active_name ON users (name) WHERE revoked_at IS NULL;
        ALTER TABLE users ADD COLUMN expires_at timestamptz;

        ALTER TABLE audit_log RENAME COLUMN action TO kind;
        UPDATE audit_log SET
            detail = detail || jsonb_build_object('change', split_part(kind, '.', 2)),
            kind = 'account'
        WHERE kind LIKE 'users.%';
        ALTER TABLE audit_log
            ADD COLUMN client text,
            ADD COLUMN count integer NOT NULL DEFAULT 1,
            ADD CONSTRAINT audit_kind_known CHECK (kind IN ({KINDS})),
            ADD CONSTRAINT audit_count_positive CHECK (count > 0);
        CREATE INDEX ix_audit_log_at ON audit_log (at);
        CREATE INDEX ix_audit_log_kind_at ON audit_log (kind, at);
        CREATE INDEX ix_audit_log_actor_at ON audit_log (actor, at);
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP INDEX ix_audit_log_actor_at;
        DROP INDEX ix_audit_log_kind_at;
        DROP INDEX ix_audit_log_at;
        ALTER TABLE audit_log
            DROP CONSTRAINT audit_count_positive,
            DROP CONSTRAINT audit_kind_known,
            DROP COLUMN count,
            DROP COLUMN client;
        UPDATE audit_log SET kind = 'users.' || coalesce(detail->>'change', kind)
        WHERE kind = 'account';
        ALTER TABLE audit_log RENAME COLUMN kind TO action;
        ALTER TABLE users DROP COLUMN expires_at;
        DROP INDEX ix_users_active_name;
        ALTER TABLE users ADD CONSTRAINT users_name_key UNIQUE (name);
        """
    )
