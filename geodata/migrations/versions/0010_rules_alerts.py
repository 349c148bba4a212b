"""rules as data: per-device states, alerts with who and when, an outbox of actions

``rule_states`` holds each rule's state per device (ok, pending, firing, resolved), since
when its condition holds and the observation time it last saw, so that a ``for`` duration
survives a restart and two bridges agree (the row is locked while it is evaluated).
``alerts`` gains the rule's name (kept when the rule is deleted), a severity, the value that
raised it and who acknowledged or resolved it; a partial unique index allows one alert that
is not resolved per rule and device. ``rule_outbox`` holds each action (an MQTT message, a
webhook call) written in the transaction that decided it, sent after the commit and marked
sent, so a crash neither loses nor repeats one. A statement trigger counts changes to
``rules`` in ``twin_meta`` (``rules-version``): evaluators reload their rules only when it moves.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 19:00:00
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

KINDS = "'sign-in', 'sign-in-failed', 'account', 'import', 'export', 'read'"
NEW_KINDS = KINDS + ", 'rule', 'alert', 'device'"


def upgrade() -> None:
    op.execute(
        f"""
        ALTER TABLE audit_log DROP CONSTRAINT audit_kind_known,
            ADD CONSTRAINT audit_kind_known CHECK (kind IN ({NEW_KINDS}));

        CREATE TABLE rule_states (
            rule_id integer NOT NULL REFERENCES rules (id) ON DELETE CASCADE,
            device_id text NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
            state text NOT NULL DEFAULT 'ok'
                CONSTRAINT rule_state_known
                CHECK (state IN ('ok', 'pending', 'firing', 'resolved')),
            since timestamptz,
            last_at timestamptz,
            changed_at timestamptz,
            memory jsonb NOT NULL DEFAULT '{{}}'::jsonb,
            alert_id bigint,
            PRIMARY KEY (rule_id, device_id)
        );
        CREATE INDEX ix_rule_states_device ON rule_states (device_id);

        ALTER TABLE alerts
            ADD COLUMN rule text,
            ADD COLUMN severity text NOT NULL DEFAULT 'warning'
                CONSTRAINT alert_severity_known
                CHECK (severity IN ('info', 'warning', 'major', 'critical')),
            ADD COLUMN metric text,
            ADD COLUMN value double precision,
            ADD COLUMN acknowledged_by text,
            ADD COLUMN resolved_by text;
        UPDATE alerts a SET rule = r.name FROM rules r WHERE r.id = a.rule_id;
        CREATE UNIQUE INDEX uq_alerts_one_open ON alerts (rule, device_id)
            WHERE state <> 'resolved';
        CREATE INDEX ix_alerts_state_opened ON alerts (state, opened_at DESC);
        CREATE INDEX ix_alerts_device ON alerts (device_id);

        CREATE TABLE rule_outbox (
            id bigserial PRIMARY KEY,
            kind text NOT NULL CONSTRAINT outbox_kind_known CHECK (kind IN ('mqtt', 'webhook')),
            target text NOT NULL,
            payload jsonb NOT NULL,
            options jsonb NOT NULL DEFAULT '{{}}'::jsonb,
            rule text,
            device_id text,
            created_at timestamptz NOT NULL DEFAULT now(),
            next_at timestamptz NOT NULL DEFAULT now(),
            attempts integer NOT NULL DEFAULT 0,
            sent_at timestamptz,
            failed_at timestamptz,
            last_error text
        );
        CREATE INDEX ix_rule_outbox_due ON rule_outbox (next_at)
            WHERE sent_at IS NULL AND failed_at IS NULL;

        CREATE FUNCTION rules_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO twin_meta (key, value) VALUES ('rules-version', '1')
            ON CONFLICT (key) DO UPDATE SET value = (twin_meta.value::bigint + 1)::text;
            RETURN NULL;
        END $$;
        CREATE TRIGGER rules_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rules
            FOR EACH STATEMENT EXECUTE FUNCTION rules_version_bump();
        INSERT INTO twin_meta (key, value) VALUES ('rules-version', '0')
            ON CONFLICT (key) DO NOTHING;
        """
    )


def downgrade() -> None:
    op.execute(
        f"""
        DROP TRIGGER rules_version ON rules;
        DROP FUNCTION rules_version_bump();
        DELETE FROM twin_meta WHERE key = 'rules-version';
        DROP TABLE rule_outbox;
        DROP INDEX ix_alerts_device;
        DROP INDEX ix_alerts_state_opened;
        DROP INDEX uq_alerts_one_open;
        ALTER TABLE alerts DROP COLUMN resolved_by, DROP COLUMN acknowledged_by,
            DROP COLUMN value, DROP COLUMN metric, DROP COLUMN severity, DROP COLUMN rule;
        DROP TABLE rule_states;
        DELETE FROM audit_log WHERE kind IN ('rule', 'alert', 'device');
        ALTER TABLE audit_log DROP CONSTRAINT audit_kind_known,
            ADD CONSTRAINT audit_kind_known CHECK (kind IN ({KINDS}));
        """
    )
