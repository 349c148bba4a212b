"""Engines and schema migrations (Alembic, driven from code: no alembic.ini needed).

Alembic and the ORM are imported only by the functions that need them: commands such as
``twin import`` only check that the schema is at the head revision, which
:func:`check_migrated` does with one query and a scan of the migration files' ``revision``
lines, sparing every such command the cost of importing Alembic. Given the database URL
rather than an engine, it asks through psycopg alone (:mod:`geodata.pg`), so that
``twin import`` does not load SQLAlchemy either.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from geodata.errors import DatabaseNotReady
from geodata.pg import raw_connection, transaction, unreachable

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import Connection, Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str, **kw: object) -> Engine:
    from sqlalchemy import create_engine

    return create_engine(url, pool_pre_ping=True, **kw)


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


#: key of the PostgreSQL advisory lock that serialises migrations (any constant works; this
#: one is the ASCII of "twinmigr", so it is recognisable in pg_locks)
MIGRATION_LOCK = 0x7477696E6D696772


def lock_migrations(conn: Connection) -> None:
    """Wait until no other process migrates this database, for the rest of ``conn``'s
    transaction.

    Several app replicas starting at once would otherwise all see an empty schema and all
    run ``CREATE EXTENSION`` and the first revision, failing with UniqueViolation; behind the
    lock, the first migrates and the others find the schema at the head and do nothing
    (Alembic reads the current revision only after this, inside the same transaction).
    """
    from sqlalchemy import text

    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})


def migrate(url: str, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe to run from several processes at once."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("postgresql://")).get_current_head() or ""


def current_revision(db: Engine | str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(db) if isinstance(db, str) else db
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        if engine is not db:
            engine.dispose()


_REVISION = re.compile(r"^(down_revision|revision)\s*(?::[^=]*)?=\s*(.+?)\s*$", re.MULTILINE)


@lru_cache(maxsize=1)
def _quick_head() -> str | None:
    """The head revision from the ``revision`` / ``down_revision`` lines of the migration
    files, without importing Alembic; None when the files are not that simple (then ask
    Alembic)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        found = dict(_REVISION.findall(path.read_text(encoding="utf-8")))
        rev, down = found.get("revision", ""), found.get("down_revision", "")
        if not re.fullmatch(r"""(['"])[\w-]+\1""", rev):
            return None
        revisions.add(rev[1:-1])
        if re.fullmatch(r"""(['"])[\w-]+\1""", down):
            parents.add(down[1:-1])
        elif down != "None":
            return None  # a merge (tuple) or something computed
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _quick_current(db: Engine | str) -> tuple[bool, str | None]:
    """(answered, revision) from the ``alembic_version`` table, without Alembic."""
    with transaction(db) as conn:
        raw = raw_connection(conn)
        found = raw.execute("SELECT to_regclass('alembic_version')").fetchone()
        if found is None or found[0] is None:
            return True, None
        rows = [str(r[0]) for r in raw.execute("SELECT version_num FROM alembic_version")]
    if len(rows) > 1:
        return False, None  # several heads: let Alembic say
    return True, (rows[0] if rows else None)


def check_migrated(db: Engine | str) -> None:
    """Refuse to go on with a database that is unreachable or not at the head revision.

    :param db: an engine, or the database URL (then only psycopg is loaded, see above)
    """
    try:
        answered, current = _quick_current(db)
        if not answered:
            current = current_revision(db)
    except Exception as exc:
        reason = unreachable(exc)
        if reason is None:
            raise
        raise DatabaseNotReady(
            f"cannot reach the database ({reason}): start it with `twin db start` "
            "or check TWIN_DATABASE_URL"
        ) from None
    head = _quick_head() if current is not None else None
    if head is None or current != head:
        head = head_revision()
    if current != head:
        raise DatabaseNotReady(
            f"the database schema is at {current or 'nothing'}, the code needs {head}: "
            "run `twin db migrate`"
        )
