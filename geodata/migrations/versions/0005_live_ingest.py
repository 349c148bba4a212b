"""live ingest: idempotent, partitioned observations; devices fit for a registry; dead letters

``observations`` becomes a table partitioned by month on ``at`` (PostgreSQL declarative
partitioning: TimescaleDB has no Debian package), its primary key the idempotency key
(device, metric, time, and the network server's message id or ``''``), so a redelivered
message is stored once. A default partition catches months the writer has not created yet
(``sensors_bridge.partitions`` creates them ahead and moves such rows out). BRIN on ``at`` in
every partition. ``latest_state`` gains unit and quality. ``devices`` gains an external id
unique per protocol, ``last_seen``, a status and a GiST index. ``metrics`` declares units and
valid ranges. ``dead_letters`` keeps what could not be ingested, raw bytes and reason;
``ingest_counts`` what was stored or recognised as a duplicate, per adapter.
``users`` rows are accounts or integration tokens (which may only ingest).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 14:30:00
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE devices
            ADD COLUMN external_id text,
            ADD COLUMN last_seen timestamptz,
            ADD COLUMN status text NOT NULL DEFAULT 'active',
            ADD CONSTRAINT devices_status_known CHECK (status IN ('active', 'quarantined')),
            ADD CONSTRAINT devices_protocol_known
                CHECK (protocol IN ('mqtt', 'http', 'chirpstack', 'tts', 'gtfs')),
            ADD CONSTRAINT devices_feature_whole
                CHECK ((layer IS NULL) = (feature_id IS NULL));
        CREATE UNIQUE INDEX uq_devices_protocol_external_id ON devices (protocol, external_id)
            WHERE external_id IS NOT NULL;
        CREATE INDEX ix_devices_geom ON devices USING gist (geom);
        CREATE INDEX ix_devices_status ON devices (status);

        CREATE TABLE metrics (
            name text PRIMARY KEY,
            unit text,
            min_value double precision,
            max_value double precision,
            description text,
            CONSTRAINT metrics_range_ordered
                CHECK (min_value IS NULL OR max_value IS NULL OR min_value <= max_value)
        );

        ALTER TABLE observations RENAME TO observations_0003;
        DROP INDEX ix_observations_device_metric_at;
        ALTER TABLE observations_0003 DROP CONSTRAINT observations_device_id_fkey;
        CREATE TABLE observations (
            device_id text NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
            metric text NOT NULL,
            at timestamptz NOT NULL,
            message_id text NOT NULL DEFAULT '',
            value double precision,
            unit text,
            quality text NOT NULL DEFAULT 'good',
            received_at timestamptz NOT NULL DEFAULT now(),
            payload jsonb,
            CONSTRAINT observations_quality_known CHECK (quality IN ('good', 'uncertain', 'bad')),
            PRIMARY KEY (device_id, metric, at, message_id)
        ) PARTITION BY RANGE (at);
        CREATE TABLE observations_default PARTITION OF observations DEFAULT;
        CREATE INDEX ix_observations_at_brin ON observations USING brin (at);
        INSERT INTO observations (device_id, metric, at, value, payload)
            SELECT device_id, metric, at, value, payload FROM observations_0003
            ON CONFLICT DO NOTHING;
        DROP TABLE observations_0003;

        ALTER TABLE latest_state
            ADD COLUMN unit text,
            ADD COLUMN quality text NOT NULL DEFAULT 'good',
            ADD COLUMN received_at timestamptz NOT NULL DEFAULT now();

        CREATE TABLE dead_letters (
            id bigserial PRIMARY KEY,
            adapter text NOT NULL,
            reason text NOT NULL,
            raw bytea NOT NULL,
            received_at timestamptz NOT NULL DEFAULT now(),
            detail jsonb NOT NULL DEFAULT '{}'::jsonb
        );
        CREATE INDEX ix_dead_letters_adapter_reason ON dead_letters (adapter, reason);
        CREATE INDEX ix_dead_letters_received_at ON dead_letters USING brin (received_at);
        CREATE TABLE ingest_counts (
            adapter text NOT NULL,
            outcome text NOT NULL,
            n bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (adapter, outcome),
            CONSTRAINT ingest_outcome_known CHECK (outcome IN ('accepted', 'duplicate'))
        );

        ALTER TABLE users
            ADD COLUMN kind text NOT NULL DEFAULT 'account',
            ADD CONSTRAINT users_kind_known CHECK (kind IN ('account', 'integration'));
        """
    )


def downgrade() -> None:
    op.execute(
        """
        ALTER TABLE users DROP CONSTRAINT users_kind_known, DROP COLUMN kind;
        DROP TABLE ingest_counts;
        DROP TABLE dead_letters;
        ALTER TABLE latest_state DROP COLUMN received_at, DROP COLUMN quality, DROP COLUMN unit;
        CREATE TABLE observations_0004 (
            id bigserial PRIMARY KEY,
            device_id varchar NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
            metric varchar NOT NULL,
            at timestamptz NOT NULL,
            value double precision,
            payload jsonb
        );
        INSERT INTO observations_0004 (device_id, metric, at, value, payload)
            SELECT device_id, metric, at, value, payload FROM observations;
        DROP TABLE observations;
        ALTER TABLE observations_0004 RENAME TO observations;
        ALTER SEQUENCE observations_0004_id_seq RENAME TO observations_id_seq;
        ALTER INDEX observations_0004_pkey RENAME TO observations_pkey;
        ALTER TABLE observations
            RENAME CONSTRAINT observations_0004_device_id_fkey TO observations_device_id_fkey;
        CREATE INDEX ix_observations_device_metric_at ON observations (device_id, metric, at);
        DROP TABLE metrics;
        DROP INDEX ix_devices_status;
        DROP INDEX ix_devices_geom;
        DROP INDEX uq_devices_protocol_external_id;
        ALTER TABLE devices
            DROP CONSTRAINT devices_feature_whole,
            DROP CONSTRAINT devices_protocol_known,
            DROP CONSTRAINT devices_status_known,
            DROP COLUMN status,
            DROP COLUMN last_seen,
            DROP COLUMN external_id;
        """
    )
