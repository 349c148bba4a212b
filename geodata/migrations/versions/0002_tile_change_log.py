"""tile change log: which rows changed since a tileset was built

Statement-level AFTER triggers (with transition tables, so a bulk COPY costs one INSERT
... SELECT, not one trigger call per row) log the ids written or deleted in the tables
tilesets read. A build reads the ids logged by transactions its previous snapshot did not
see, and only those rows; see tiles/changes.py.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 10:40:00
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TRACKED = ("buildings", "network_segments", "network_nodes", "furniture")


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE tile_changes (
            tbl text NOT NULL,
            id bigint,  -- NULL: truncated or bulk-written (tilesets reading it rebuild in full)
            txid xid8 NOT NULL DEFAULT pg_current_xact_id()
        );
        CREATE INDEX ix_tile_changes_txid ON tile_changes (txid);
        -- one row: the log's identity (a manifest from another database rebuilds in full)
        -- and the oldest transaction whose changes are still all in the log
        CREATE TABLE tile_log (
            log_id uuid NOT NULL DEFAULT gen_random_uuid(),
            pruned_below xid8 NOT NULL DEFAULT '0'
        );
        INSERT INTO tile_log DEFAULT VALUES;
        -- per tileset: the snapshot xmin of its last build (entries older than every
        -- cursor are pruned)
        CREATE TABLE tile_cursors (
            tileset text PRIMARY KEY,
            seen_xmin xid8 NOT NULL,
            built_at timestamptz NOT NULL DEFAULT now()
        );
        -- a statement writing more rows than this logs one NULL id instead of its ids
        -- (the next build is a full one anyway): a first import pays nothing per row
        CREATE FUNCTION tile_log_bulk(rel oid) RETURNS bigint LANGUAGE sql STABLE AS $$
            SELECT 10000 + (0.3 * greatest(reltuples, 0))::bigint FROM pg_class WHERE oid = rel
        $$;
        CREATE FUNCTION tile_log_new() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF (SELECT count(*) FROM new_rows) > tile_log_bulk(TG_RELID) THEN
                INSERT INTO tile_changes (tbl, id) VALUES (TG_TABLE_NAME, NULL);
            ELSE
                INSERT INTO tile_changes (tbl, id) SELECT TG_TABLE_NAME, id FROM new_rows;
            END IF;
            RETURN NULL;
        END $$;
        CREATE FUNCTION tile_log_old() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF (SELECT count(*) FROM old_rows) > tile_log_bulk(TG_RELID) THEN
                INSERT INTO tile_changes (tbl, id) VALUES (TG_TABLE_NAME, NULL);
            ELSE
                INSERT INTO tile_changes (tbl, id) SELECT TG_TABLE_NAME, id FROM old_rows;
            END IF;
            RETURN NULL;
        END $$;
        CREATE FUNCTION tile_log_update() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF (SELECT count(*) FROM new_rows) > tile_log_bulk(TG_RELID) THEN
                INSERT INTO tile_changes (tbl, id) VALUES (TG_TABLE_NAME, NULL);
            ELSE
                INSERT INTO tile_changes (tbl, id)
                SELECT TG_TABLE_NAME, id FROM new_rows
                UNION SELECT TG_TABLE_NAME, id FROM old_rows;
            END IF;
            RETURN NULL;
        END $$;
        CREATE FUNCTION tile_log_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO tile_changes (tbl, id) VALUES (TG_TABLE_NAME, NULL);
            RETURN NULL;
        END $$;
        """
    )
    for t in TRACKED:
        op.execute(
            f"""
            CREATE TRIGGER tile_log_ins AFTER INSERT ON {t} REFERENCING NEW TABLE AS new_rows
                FOR EACH STATEMENT EXECUTE FUNCTION tile_log_new();
            CREATE TRIGGER tile_log_upd AFTER UPDATE ON {t}
                REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
                FOR EACH STATEMENT EXECUTE FUNCTION tile_log_update();
            CREATE TRIGGER tile_log_del AFTER DELETE ON {t} REFERENCING OLD TABLE AS old_rows
                FOR EACH STATEMENT EXECUTE FUNCTION tile_log_old();
            CREATE TRIGGER tile_log_trunc AFTER TRUNCATE ON {t}
                FOR EACH STATEMENT EXECUTE FUNCTION tile_log_truncate();
            """
        )


def downgrade() -> None:
    for t in TRACKED:
        for trig in ("tile_log_ins", "tile_log_upd", "tile_log_del", "tile_log_trunc"):
            op.execute(f"DROP TRIGGER IF EXISTS {trig} ON {t}")
    op.execute(
        "DROP FUNCTION IF EXISTS tile_log_new, tile_log_old, tile_log_update, tile_log_truncate, "
        "tile_log_bulk;"
        "DROP TABLE IF EXISTS tile_cursors, tile_log, tile_changes"
    )
