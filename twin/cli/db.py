"""``twin db start|stop|status|migrate`` and ``twin init``: the database and the working CRS."""

from __future__ import annotations

from typing import Annotated

import typer

from twin.cli.common import console, out, settings, user_errors

db_app = typer.Typer(help="The database: embedded PostGIS cluster or TWIN_DATABASE_URL.")


@db_app.command("start")
def db_start() -> None:
    """Start the embedded PostGIS cluster (creating it under $TWIN_DATA_DIR/pg) and leave it up."""
    from twin.runtime import Runtime

    with user_errors():
        s = settings()
        if not s.embedded_db:
            console.print("TWIN_DATABASE_URL is set: the database is managed elsewhere")
            return
        rt = Runtime(s, keep_db=True)
        started = rt.pg.start()
        console.print(
            f"PostgreSQL {'started' if started else 'already running'} on "
            f"127.0.0.1:{s.pg_port} ({s.pg_dir})"
        )


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded cluster."""
    from twin.runtime import Runtime

    with user_errors():
        rt = Runtime(settings())
        console.print("PostgreSQL stopped" if rt.pg.stop() else "PostgreSQL was not running")


@db_app.command("status")
def db_status() -> None:
    """Say where the database is, whether it answers and whether it is migrated."""
    from geodata.db import current_revision, head_revision
    from twin.runtime import Runtime

    with user_errors():
        s = settings()
        where = f"embedded cluster {s.pg_dir} port {s.pg_port}" if s.embedded_db else "external"
        rt = Runtime(s)
        try:
            rev = current_revision(rt.engine)
        except Exception as exc:
            out.print(f"database: {where}: not reachable ({type(exc).__name__})")
            raise typer.Exit(1) from None
        head = head_revision()
        state = "migrated" if rev == head else f"at {rev or 'nothing'}, needs {head}"
        out.print(f"database: {where}: up, schema {state}")


@db_app.command("migrate")
def db_migrate() -> None:
    """Bring the schema to the latest revision (creates the PostGIS extension if needed)."""
    from twin.runtime import Runtime

    with user_errors(), Runtime(settings(), keep_db=True) as rt:
        rt.migrate()
        console.print("database migrated")


def init(
    crs: Annotated[str, typer.Option(help="Working CRS: projected, metres (e.g. EPSG:2154).")],
) -> None:
    """Create and migrate the database and fix the twin's working CRS."""
    from geodata.crs import parse_crs
    from geodata.working_crs import set_working_crs
    from twin.runtime import Runtime

    with user_errors(), Runtime(settings(), keep_db=True) as rt:
        rt.migrate()
        epsg = parse_crs(crs, require_projected=True)
        with rt.engine.begin() as conn:
            set_working_crs(conn, epsg)
        console.print(f"twin ready, working CRS EPSG:{epsg}")
