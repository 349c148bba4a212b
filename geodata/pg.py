"""psycopg under every connection: what the import path and the audit log write through.

Code that writes with psycopg takes either connection: a SQLAlchemy ``Connection`` (the
server, the demo, the tests), whose psycopg connection it uses inside the caller's
transaction, or a psycopg connection. ``twin import`` hands in the latter
(:func:`transaction` over the database URL), so the command never loads SQLAlchemy: its
import, dialects and engine are ~0.2 s and 15 MB of every import. Nothing here imports
SQLAlchemy.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeAlias

import psycopg

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

#: a SQLAlchemy connection or a psycopg one, as the functions taking ``conn`` accept
AnyConnection: TypeAlias = "Connection | psycopg.Connection[Any]"


def raw_connection(conn: AnyConnection) -> psycopg.Connection[Any]:
    """The psycopg connection of ``conn``: itself, or the one under a SQLAlchemy connection,
    in the same transaction.

    A SQLAlchemy connection that has not begun one yet begins it here, as its first statement
    would have (SQLAlchemy's autobegin): the caller's ``commit()`` then commits what was
    written through psycopg instead of finding no transaction to commit.
    """
    if isinstance(conn, psycopg.Connection):
        return conn
    if not conn.in_transaction():
        conn.begin()
    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    return raw


def conninfo(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://...``) as libpq reads it."""
    return re.sub(r"^postgresql\+\w+://", "postgresql://", url)


@contextmanager
def transaction(db: Engine | str) -> Iterator[AnyConnection]:
    """A transaction of its own on ``db`` (an engine, or a database URL for psycopg alone):
    committed when the block ends, rolled back when it raises."""
    if isinstance(db, str):
        with psycopg.connect(conninfo(db)) as conn:  # commits, or rolls back, then closes
            yield conn
    else:
        with db.begin() as sa_conn:
            yield sa_conn


@contextmanager
def connected(db: Engine | AnyConnection) -> Iterator[AnyConnection]:
    """``db`` itself when it is a connection (its transaction, as it stands), else a
    connection of the engine's for the block: for readers that take either."""
    if isinstance(db, psycopg.Connection):
        yield db
        return
    from sqlalchemy import Engine  # a SQLAlchemy object: SQLAlchemy is loaded already

    if isinstance(db, Engine):
        with db.connect() as conn:
            yield conn
    else:
        yield db


def unreachable(exc: BaseException) -> str | None:
    """Why the database could not be reached, when ``exc`` says so (psycopg's
    OperationalError, or SQLAlchemy's wrapping of it); None for any other error."""
    driver = getattr(exc, "orig", None) or exc  # SQLAlchemy keeps the driver's error in orig
    if not isinstance(driver, psycopg.OperationalError):
        return None
    text = str(driver).strip()
    return text.splitlines()[0] if text else type(driver).__name__
