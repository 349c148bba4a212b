"""data versions: the change log also covers the tables the analyses read

An analysis result is cached by its inputs: its parameters and the version of the data it
read. The tile change log (0002) already records every statement that writes a tracked
table; this extends it to the other tables analyses read (ground, pois, routes, projects,
scenarios, scenario_removals), so one query tells whether anything changed since a result
was computed (``twin.analysis.cache.data_version``). Tables without an ``id`` column log one
row per statement (``tile_log_stmt``): a version needs no ids. Tilesets read only the tables
they name, so the extra entries change no build.

``tile_log_track(table)`` adds the four triggers to a table: later migrations call it for a
new table an analysis reads.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 22:40:00
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

WITH_IDS = ("ground", "pois", "routes", "projects", "scenarios")
WITHOUT_IDS = ("scenario_removals",)
_TRIGGERS = ("tile_log_ins", "tile_log_upd", "tile_log_del", "tile_log_trunc")


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION tile_log_stmt() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO tile_changes (tbl, id) VALUES (TG_TABLE_NAME, NULL);
            RETURN NULL;
        END $$;
        -- the change log's four triggers on a table: with ids when it has an id column
        CREATE FUNCTION tile_log_track(rel regclass) RETURNS void LANGUAGE plpgsql AS $$
        DECLARE
            has_id boolean := EXISTS (SELECT 1 FROM pg_attribute
                WHERE attrelid = rel AND attname = 'id' AND NOT attisdropped);
        BEGIN
            IF has_id THEN
                EXECUTE format('CREATE TRIGGER tile_log_ins AFTER INSERT ON %s '
                    'REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT '
                    'EXECUTE FUNCTION tile_log_new()', rel);
                EXECUTE format('CREATE TRIGGER tile_log_upd AFTER UPDATE ON %s '
                    'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows '
                    'FOR EACH STATEMENT EXECUTE FUNCTION tile_log_update()', rel);
                EXECUTE format('CREATE TRIGGER tile_log_del AFTER DELETE ON %s '
                    'REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT '
                    'EXECUTE FUNCTION tile_log_old()', rel);
            ELSE
                EXECUTE format('CREATE TRIGGER tile_log_ins AFTER INSERT ON %s '
                    'FOR EACH STATEMENT EXECUTE FUNCTION tile_log_stmt()', rel);
                EXECUTE format('CREATE TRIGGER tile_log_upd AFTER UPDATE ON %s '
                    'FOR EACH STATEMENT EXECUTE FUNCTION tile_log_stmt()', rel);
                EXECUTE format('CREATE TRIGGER tile_log_del AFTER DELETE ON %s '
                    'FOR EACH STATEMENT EXECUTE FUNCTION tile_log_stmt()', rel);
            END IF;
            EXECUTE format('CREATE TRIGGER tile_log_trunc AFTER TRUNCATE ON %s '
                'FOR EACH STATEMENT EXECUTE FUNCTION tile_log_truncate()', rel);
        END $$;
        """
    )
    for t in WITH_IDS + WITHOUT_IDS:
        op.execute(f"SELECT tile_log_track('{t}')")


def downgrade() -> None:
    for t in WITH_IDS + WITHOUT_IDS:
        for trig in _TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {trig} ON {t}")
    op.execute("DROP FUNCTION IF EXISTS tile_log_track, tile_log_stmt")
