"""Engines, sessions and schema migrations (Alembic, driven from code: no alembic.ini needed)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from geodata.errors import DatabaseNotReady

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str, **kw: object) -> Engine:
    return create_engine(url, pool_pre_ping=True, **kw)  # type: ignore[arg-type]


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: committed on success, rolled back on any error."""
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as session, session.begin():
        yield session


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config("postgresql://")).get_current_head() or ""


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def check_migrated(engine: Engine) -> None:
    """Refuse to go on with a database that is unreachable or not at the head revision."""
    try:
        current = current_revision(engine)
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DatabaseNotReady(
            f"cannot reach the database ({reason}): start it with `twin db start` "
            "or check TWIN_DATABASE_URL"
        ) from None
    head = head_revision()
    if current != head:
        raise DatabaseNotReady(
            f"the database schema is at {current or 'nothing'}, the code needs {head}: "
            "run `twin db migrate`"
        )
