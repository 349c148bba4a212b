"""open live aggregates: anonymised datasets computed from observations

A ``datasets`` row of layer ``live`` is an open aggregate (``twin opendata add``); its
``live_aggregates`` row says which device type and metric, the time window, the grid cell,
the minimum group size ``k``, an optional differential-privacy ``epsilon`` with the clamping
bounds it needs, and the FIWARE Smart Data Model of its JSON. One aggregate per device type
and metric, so two grids over the same devices cannot be differenced. ``live_releases`` holds
each published group (window, cell) once: a closed window is released on the first download
after it closed and never recomputed, so its noise cannot be averaged away by downloading
again and late observations cannot be isolated by differencing two downloads.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 16:05:00
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE live_aggregates (
            dataset_id integer PRIMARY KEY REFERENCES datasets (id) ON DELETE CASCADE,
            device_type text NOT NULL,
            metric text NOT NULL,
            window_s integer NOT NULL CONSTRAINT live_window_minute CHECK (window_s >= 60),
            cell_m double precision NOT NULL CONSTRAINT live_cell_positive CHECK (cell_m > 0),
            k integer NOT NULL CONSTRAINT live_k_group CHECK (k >= 2),
            epsilon double precision CONSTRAINT live_epsilon_positive CHECK (epsilon > 0),
            lower double precision,
            upper double precision,
            model text NOT NULL,
            attribute text NOT NULL,
            grace_s integer NOT NULL DEFAULT 300 CONSTRAINT live_grace CHECK (grace_s >= 0),
            released_until timestamptz,
            CONSTRAINT live_bounds_ordered CHECK (lower IS NULL OR upper IS NULL OR lower < upper),
            CONSTRAINT live_dp_bounded
                CHECK (epsilon IS NULL OR (lower IS NOT NULL AND upper IS NOT NULL)),
            CONSTRAINT uq_live_type_metric UNIQUE (device_type, metric)
        );
        CREATE TABLE live_releases (
            dataset_id integer NOT NULL REFERENCES live_aggregates (dataset_id)
                ON DELETE CASCADE,
            window_start timestamptz NOT NULL,
            cell_x bigint NOT NULL,
            cell_y bigint NOT NULL,
            devices integer NOT NULL,
            mean double precision NOT NULL,
            released_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (dataset_id, window_start, cell_x, cell_y)
        );
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE live_releases;
        DROP TABLE live_aggregates;
        DELETE FROM datasets WHERE layer = 'live';
        """
    )
