"""The ``twin`` command: one entry point for every operation on a twin."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from geodata.errors import TwinError
from twin.runtime import Runtime
from twin.settings import Settings, get_settings

if TYPE_CHECKING:
    from geodata.importers import ImportReport

app = typer.Typer(
    help="Urban digital twin server: PostGIS model, OGC 3D Tiles, OGC API Features, live IoT.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The database: embedded PostGIS cluster or TWIN_DATABASE_URL.")
users_app = typer.Typer(help="Accounts and bearer tokens.")
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")

console = Console(stderr=True)
out = Console(soft_wrap=True)
F = TypeVar("F", bound=Callable[..., object])


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False, show_time=False)],
    )
    for noisy in ("alembic.runtime.migration", "alembic.runtime.plugins", "httpx", "pyogrio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Print a TwinError as one clear message and exit 1; Ctrl-C exits 130."""
    try:
        yield
    except TwinError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: nothing half-written was kept[/]")
        raise typer.Exit(130) from None


def _settings() -> Settings:
    return get_settings()


# -- database ---------------------------------------------------------------------------------
@db_app.command("start")
def db_start() -> None:
    """Start the embedded PostGIS cluster (creating it under $TWIN_DATA_DIR/pg) and leave it up."""
    with _user_errors():
        s = _settings()
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
    with _user_errors():
        s = _settings()
        rt = Runtime(s)
        console.print("PostgreSQL stopped" if rt.pg.stop() else "PostgreSQL was not running")


@db_app.command("status")
def db_status() -> None:
    """Say where the database is, whether it answers and whether it is migrated."""
    from geodata.db import current_revision, head_revision

    with _user_errors():
        s = _settings()
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
    with _user_errors(), Runtime(_settings(), keep_db=True) as rt:
        rt.migrate()
        console.print("database migrated")


@app.command()
def init(
    crs: Annotated[str, typer.Option(help="Working CRS: projected, metres (e.g. EPSG:2154).")],
) -> None:
    """Create and migrate the database and fix the twin's working CRS."""
    from geodata.crs import parse_crs
    from geodata.working_crs import set_working_crs

    with _user_errors(), Runtime(_settings(), keep_db=True) as rt:
        rt.migrate()
        epsg = parse_crs(crs, require_projected=True)
        with rt.engine.begin() as conn:
            set_working_crs(conn, epsg)
        console.print(f"twin ready, working CRS EPSG:{epsg}")


# -- users ------------------------------------------------------------------------------------
def _cli_actor() -> str:
    """Who runs a command, for the audit log: ``cli:`` and the system user."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "cli"


ExpiresIn = Annotated[
    float | None,
    typer.Option("--expires-in", metavar="DAYS", help="The token expires after DAYS days."),
]


@users_app.command("add")
def users_add(
    name: str,
    role: Annotated[str, typer.Option(help="citizen, agent, planner, operator or admin")],
    expires_in: ExpiresIn = None,
) -> None:
    """Create an account and print its bearer token (shown once, stored hashed).

    A revoked name may be added again."""
    from twin.auth import create_user

    with _user_errors(), Runtime(_settings()) as rt:
        rt.check()
        token = create_user(rt.engine, name, role, expires_in_days=expires_in, actor=_cli_actor())
        console.print(f"user {name!r} ({role}) created; its token, shown only now:")
        out.print(token, highlight=False)


@users_app.command("rotate")
def users_rotate(name: str, expires_in: ExpiresIn = None) -> None:
    """Give an account a new token and revoke its old one; prints the new token."""
    from twin.auth import rotate_user

    with _user_errors(), Runtime(_settings()) as rt:
        rt.check()
        token = rotate_user(rt.engine, name, expires_in_days=expires_in, actor=_cli_actor())
        console.print(f"user {name!r} has a new token, shown only now (the old one is revoked):")
        out.print(token, highlight=False)


_USER_DATES = ("created_at", "revoked_at", "expires_at")


@users_app.command("list")
def users_list() -> None:
    """List accounts (never their tokens)."""
    from twin.auth import list_users

    with _user_errors(), Runtime(_settings()) as rt:
        rt.check()
        table = Table("name", "role", "created", "revoked", "expires")
        for u in list_users(rt.engine):
            table.add_row(
                str(u["name"]),
                str(u["role"]),
                *(f"{u[c]:%Y-%m-%d %H:%M}" if u[c] else "" for c in _USER_DATES),
            )
        out.print(table)


@users_app.command("revoke")
def users_revoke(name: str) -> None:
    """Revoke an account's token at once."""
    from twin.auth import revoke_user

    with _user_errors(), Runtime(_settings()) as rt:
        rt.check()
        revoke_user(rt.engine, name, actor=_cli_actor())
        console.print(f"user {name!r} revoked")


@app.command("audit")
def audit_(
    kind: Annotated[
        str | None,
        typer.Option(help="sign-in, sign-in-failed, account, import, export or read."),
    ] = None,
    actor: Annotated[str | None, typer.Option(help="An account name, or cli:USER.")] = None,
    since: Annotated[
        str | None, typer.Option(help="A duration ago (30m, 12h, 7d) or an ISO 8601 time.")
    ] = None,
    limit: Annotated[int, typer.Option(help="Entries to show (newest first).")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object a line.")] = False,
) -> None:
    """Show the audit log: sign-ins, refusals, account changes, imports, exports, reads."""
    import json

    from twin import audit

    with _user_errors(), Runtime(_settings()) as rt:
        rt.check()
        at = audit.parse_since(since) if since else None
        with rt.engine.connect() as conn:
            entries = audit.query(conn, kind=kind, actor=actor, since=at, limit=limit)
        if as_json:
            for e in entries:
                out.print(json.dumps(e.public_dict()), highlight=False, soft_wrap=True)
            return
        table = Table("at", "kind", "actor", "target", "client", "n", "detail")
        for e in entries:
            detail = ", ".join(f"{k}={v}" for k, v in e.detail.items())
            table.add_row(
                f"{e.at:%Y-%m-%d %H:%M:%S}",
                e.kind,
                e.actor,
                e.target or "",
                e.client or "",
                str(e.count),
                detail,
            )
        out.print(table)


# -- data -------------------------------------------------------------------------------------
@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int | None], None]]:
    """A rich progress bar fed by ``advance(n, total)`` callbacks from long work."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task(label, total=None)

        def advance(n: int, total: int | None) -> None:
            if total is not None:
                bar.update(task, total=total)
            bar.advance(task, n)

        yield advance


def _layer_names() -> list[str]:
    """``--layer`` completes to the import layers' registry (a wrong name gets the list too)."""
    from geodata.importers.layers import IMPORT_LAYERS

    return list(IMPORT_LAYERS)


@app.command("import")
def import_(
    path: Annotated[
        Path,
        typer.Argument(
            help="GeoJSON, GeoPackage, Shapefile (.shp/.zip), "
            "CityJSON (.city.json/.jsonl) or OSM PBF file."
        ),
    ],
    layer: Annotated[
        str,
        typer.Option(
            help="Layer to import into (buildings, networks, network-nodes, furniture...); "
            "a wrong name lists them all.",
            autocompletion=_layer_names,
        ),
    ],
    crs: Annotated[
        str | None,
        typer.Option(help="Source CRS when the file has none or a wrong one, e.g. EPSG:2154."),
    ] = None,
    mapping: Annotated[
        Path | None,
        typer.Option(help="Mapping file (JSON/TOML) from your attribute names to the twin's."),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(help="Source name; re-importing the same source updates its features."),
    ] = None,
    visibility: Annotated[
        str | None,
        typer.Option(
            help="Who may see this dataset's features: public, agent or confidential "
            "(default: the layer's; kept on re-import unless given). Rebuild the tiles after."
        ),
    ] = None,
    licence: Annotated[
        str | None, typer.Option(help="Licence of the data, e.g. CC-BY-4.0 or ODbL-1.0.")
    ] = None,
    attribution: Annotated[
        str | None, typer.Option(help="Attribution the licence asks for, e.g. © City of X.")
    ] = None,
    reader: Annotated[
        str | None,
        typer.Option(
            help="Format reader: cityjson, osm, ogr, or a dotted path package.module:Class "
            "(default: chosen by the file name)."
        ),
    ] = None,
) -> None:
    """Import a file into a layer: streamed, reprojected, all-or-nothing, idempotent."""
    from geodata.importers import ImportOptions, run_import

    with _user_errors():
        s = _settings()
        with Runtime(s) as rt:
            rt.check()
            options = ImportOptions.from_settings(
                s, licence=licence, attribution=attribution, visibility=visibility
            )
            with progress_bar(f"importing {path.name}") as advance:
                report = run_import(
                    rt.engine,
                    path,
                    layer=layer,
                    crs=crs,
                    mapping=mapping,
                    source=source,
                    options=options,
                    progress=advance,
                    reader=reader,
                )
            _audit_import(rt, report)
        for line in report.lines():
            out.print(line, highlight=False)


def _audit_import(rt: Runtime, report: ImportReport) -> None:
    """Log a committed import; a failure to log is a warning, the import stands."""
    from twin.audit import record

    counts = ("read", "imported", "inserted", "updated", "unchanged", "deleted")
    detail = {"layer": report.layer, "source": report.source, "reader": report.reader}
    detail |= {c: getattr(report, c) for c in counts}
    try:
        with rt.engine.begin() as conn:
            record(conn, "import", _cli_actor(), Path(report.file).name, detail)
    except Exception as exc:
        logging.getLogger(__name__).warning("the import is not in the audit log: %s", exc)


@app.command()
def demo(
    serve_after: Annotated[bool, typer.Option("--serve", help="Serve afterwards.")] = False,
    host: Annotated[str | None, typer.Option(help="Address to bind with --serve.")] = None,
    port: Annotated[int | None, typer.Option(help="Port with --serve.")] = None,
    force: Annotated[bool, typer.Option(help="Rebuild even when nothing changed.")] = False,
    synthetic_city: Annotated[
        int | None,
        typer.Option(
            "--synthetic-city",
            min=0,
            metavar="N",
            help="Also generate N synthetic buildings around the district, to try the twin at "
            "city scale (flagged synthetic, not real; 0 removes them; default: as last run).",
        ),
    ] = None,
) -> None:
    """Load the demo district (Helsinki, OpenStreetMap) and build what exists on top of it."""
    from geodata.demo import load_demo
    from geodata.importers.base import ImportOptions

    with _user_errors():
        s = _settings()
        with Runtime(s) as rt:
            rt.migrate()
            with progress_bar("demo district") as advance:
                summary = load_demo(
                    rt.engine,
                    options=ImportOptions.from_settings(s),
                    progress=advance,
                    force=force,
                    synthetic_city=synthetic_city,
                )
            for line in summary:
                out.print(line, highlight=False)
            for hook in DEMO_HOOKS:
                hook(rt)
            if serve_after:
                _serve(rt, host or s.host, port or s.port)


#: later steps of `twin demo` (tiles build...), each given the running Runtime
DEMO_HOOKS: list[Callable[[Runtime], None]] = []


# -- serving ----------------------------------------------------------------------------------
def _serve(rt: Runtime, host: str, port: int) -> None:
    import uvicorn

    from twin.app import create_app

    rt.check()
    application = create_app(rt.settings, engine=rt.engine)
    console.print(f"serving the twin on http://{host}:{port} (Ctrl-C stops)")
    # forwarded headers are twin.forwarded's business (scheme, host, port and client, from
    # TWIN_FORWARDED_ALLOW_IPS): uvicorn's partial version is turned off
    uvicorn.run(application, host=host, port=port, log_level="warning", proxy_headers=False)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (TWIN_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (TWIN_PORT).")] = None,
) -> None:
    """Serve the API, the tiles and the viewer; stops what it started on Ctrl-C."""
    with _user_errors():
        s = _settings()
        with Runtime(s) as rt:
            _serve(rt, host or s.host, port or s.port)


def main() -> None:  # pragma: no cover
    sys.exit(app())


# -- 3D Tiles (tiles package) -----------------------------------------------------------------
tiles_app = typer.Typer(help="OGC 3D Tiles 1.1 of the twin, under $TWIN_DATA_DIR/tiles/{name}.")
app.add_typer(tiles_app, name="tiles")


def _build_tiles(
    rt: Runtime,
    *,
    layer: str | None = None,
    scenario: str | None = None,
    full: bool = False,
    workers: int | None = None,
) -> None:
    """Build tilesets with one progress bar per tileset, then print what was done."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
    )

    from tiles.build import build_all

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(name: str, phase: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=2 * total)
            # two passes: assigning features to tiles, then meshing them
            bar.update(
                tasks[name],
                completed=done if phase == "index" else total + done,
                description=f"{name} ({'tiling' if phase == 'index' else 'meshing'})",
            )

        reports = build_all(
            rt.engine,
            rt.settings.tiles_dir,
            layer=layer,
            scenario=scenario,
            full=full,
            progress=progress,
            workers=workers,
        )
    table = Table(
        "tileset", "features", "tiles", "written", "reused", "MB", "first view", "seconds"
    )
    for r in reports:
        if r.empty:
            table.add_row(r.name, "0", "-", "-", "-", "-", "-", f"{r.seconds:.1f}")
            continue
        table.add_row(
            r.name,
            f"{r.features:,}",
            str(r.tiles),
            str(r.written),
            str(r.reused),
            f"{r.bytes / 1e6:.1f}",
            f"{r.first_view_fraction:.1%}",
            f"{r.seconds:.1f}",
        )
    out.print(table)
    console.print(f"tilesets written under {rt.settings.tiles_dir}")


@tiles_app.command("build")
def tiles_build(
    layer: Annotated[
        str | None,
        typer.Option(
            help="Only this layer or tileset: buildings, networks, water, gas, ..., furniture, "
            "cameras, scenario-SLUG, project-SLUG."
        ),
    ] = None,
    scenario: Annotated[
        str | None, typer.Option(help="Only the tileset of this scenario (slug or id).")
    ] = None,
    full: Annotated[
        bool,
        typer.Option("--full", help="Rebuild every tile, even those whose content did not change."),
    ] = False,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (default: one per core).")
    ] = None,
) -> None:
    """Build the tilesets incrementally: only tiles whose content changed are rewritten.

    Ctrl-C or a crash leaves the previous tilesets intact.
    """
    with _user_errors(), Runtime(_settings()) as rt:
        rt.check()
        _build_tiles(rt, layer=layer, scenario=scenario, full=full, workers=workers)


@tiles_app.command("list")
def tiles_list() -> None:
    """List the built tilesets with their visibility, size and build time."""
    from tiles.catalog import list_tilesets

    with _user_errors():
        table = Table("tileset", "visibility", "features", "MB", "built at")
        for e in list_tilesets(_settings().tiles_dir):
            table.add_row(
                e.name, e.visibility, f"{e.features:,}", f"{e.bytes / 1e6:.1f}", e.built_at
            )
        out.print(table)


DEMO_HOOKS.append(lambda rt: _build_tiles(rt))
