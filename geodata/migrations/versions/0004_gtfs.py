"""GTFS: static timetables and the realtime state of each feed

Self-contained on purpose (no foreign key to the live tables): a feed's stops are ``bus_stop``
furniture of the source ``gtfs:NAME``; its routes, trips, stop times and calendars are kept
here, keyed by feed. Times of day are seconds after "noon minus 12 h" of the service day, as
GTFS defines them (past 24:00 allowed). Realtime FeedMessages are kept whole, one row per fetch
(so ``at`` can replay a recorded feed); the latest trip updates and vehicle positions (PostGIS
points, EPSG:4326) are kept as state beside them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 14:30:00
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLES = (
    "gtfs_vehicle_positions",
    "gtfs_trip_updates",
    "gtfs_rt_snapshots",
    "gtfs_calendar_dates",
    "gtfs_calendars",
    "gtfs_stop_times",
    "gtfs_trips",
    "gtfs_routes",
    "gtfs_feeds",
)


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE gtfs_feeds (
            name text PRIMARY KEY,
            timezone text NOT NULL,
            agency text,
            imported_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE gtfs_routes (
            feed text NOT NULL REFERENCES gtfs_feeds (name) ON DELETE CASCADE,
            route_id text NOT NULL,
            short_name text,
            long_name text,
            route_type integer,
            PRIMARY KEY (feed, route_id)
        );
        CREATE TABLE gtfs_trips (
            feed text NOT NULL REFERENCES gtfs_feeds (name) ON DELETE CASCADE,
            trip_id text NOT NULL,
            route_id text NOT NULL,
            service_id text NOT NULL,
            headsign text,
            direction_id smallint,
            PRIMARY KEY (feed, trip_id),
            FOREIGN KEY (feed, route_id) REFERENCES gtfs_routes (feed, route_id)
                ON DELETE CASCADE
        );
        CREATE TABLE gtfs_stop_times (
            feed text NOT NULL,
            trip_id text NOT NULL,
            stop_sequence integer NOT NULL CHECK (stop_sequence >= 0),
            stop_id text NOT NULL,
            arrival integer CHECK (arrival >= 0),
            departure integer CHECK (departure >= 0),
            PRIMARY KEY (feed, trip_id, stop_sequence),
            FOREIGN KEY (feed, trip_id) REFERENCES gtfs_trips (feed, trip_id) ON DELETE CASCADE
        );
        CREATE INDEX ix_gtfs_stop_times_stop ON gtfs_stop_times (feed, stop_id);
        CREATE TABLE gtfs_calendars (
            feed text NOT NULL REFERENCES gtfs_feeds (name) ON DELETE CASCADE,
            service_id text NOT NULL,
            weekdays boolean[] NOT NULL CHECK (cardinality(weekdays) = 7),
            start_date date NOT NULL,
            end_date date NOT NULL,
            PRIMARY KEY (feed, service_id)
        );
        CREATE TABLE gtfs_calendar_dates (
            feed text NOT NULL REFERENCES gtfs_feeds (name) ON DELETE CASCADE,
            service_id text NOT NULL,
            date date NOT NULL,
            added boolean NOT NULL,
            PRIMARY KEY (feed, service_id, date)
        );
        CREATE TABLE gtfs_rt_snapshots (
            id bigserial PRIMARY KEY,
            feed text NOT NULL REFERENCES gtfs_feeds (name) ON DELETE CASCADE,
            source text NOT NULL,
            feed_time bigint NOT NULL,
            fetched_at timestamptz NOT NULL DEFAULT now(),
            message bytea NOT NULL
        );
        CREATE INDEX ix_gtfs_rt_snapshots_time ON gtfs_rt_snapshots (feed, source, feed_time);
        CREATE TABLE gtfs_trip_updates (
            feed text NOT NULL REFERENCES gtfs_feeds (name) ON DELETE CASCADE,
            entity_id text NOT NULL,
            trip_id text,
            route_id text,
            start_date text,
            relationship text NOT NULL,
            stop_time_updates integer NOT NULL,
            feed_time bigint NOT NULL,
            PRIMARY KEY (feed, entity_id)
        );
        CREATE TABLE gtfs_vehicle_positions (
            feed text NOT NULL REFERENCES gtfs_feeds (name) ON DELETE CASCADE,
            vehicle_id text NOT NULL,
            trip_id text,
            route_id text,
            geom geometry(Point, 4326) NOT NULL,
            bearing real,
            speed real,
            observed_at bigint NOT NULL,
            PRIMARY KEY (feed, vehicle_id)
        );
        CREATE INDEX ix_gtfs_vehicle_positions_geom ON gtfs_vehicle_positions USING gist (geom);
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE " + ", ".join(TABLES))
