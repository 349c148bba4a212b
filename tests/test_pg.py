"""geodata.pg: writing through psycopg under either kind of connection, in the caller's
transaction, and a transaction of its own over a database URL (what ``twin import`` uses)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from geodata.db import check_migrated, make_engine
from geodata.errors import DatabaseNotReady
from geodata.pg import conninfo, raw_connection, transaction, unreachable
from geodata.working_crs import get_working_crs, set_working_crs


def _meta(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT key, value FROM twin_meta WHERE key = 'probe'"))
        return [(str(k), str(v)) for k, v in rows]


def _probe(conn: object) -> None:
    raw_connection(conn).execute(  # type: ignore[arg-type]
        "INSERT INTO twin_meta (key, value) VALUES ('probe', 'x')"
    )


def test_a_write_through_psycopg_commits_with_the_sqlalchemy_connection(engine: Engine) -> None:
    """A SQLAlchemy connection that has run nothing yet has no transaction to commit: the
    psycopg write begins it, so the caller's commit keeps the write (and rollback drops it)."""
    with engine.connect() as conn:
        _probe(conn)
        conn.rollback()
    assert _meta(engine) == []
    with engine.connect() as conn:
        _probe(conn)
        conn.commit()
    assert _meta(engine) == [("probe", "x")]
    with engine.connect() as conn:  # the working CRS, as every SQLAlchemy caller fixes it
        set_working_crs(conn, 3067)
        conn.commit()
    with engine.connect() as conn:
        assert get_working_crs(conn) == 3067


@pytest.mark.parametrize("kind", ["url", "engine"])
def test_a_transaction_of_its_own_commits_or_rolls_back(engine: Engine, kind: str) -> None:
    db: Engine | str = engine if kind == "engine" else engine.url.render_as_string(False)
    with pytest.raises(RuntimeError), transaction(db) as conn:
        _probe(conn)
        raise RuntimeError("stop")
    assert _meta(engine) == []
    with transaction(db) as conn:
        _probe(conn)
        assert get_working_crs(conn) is None
    assert _meta(engine) == [("probe", "x")]


def test_urls_and_unreachable_databases_either_way() -> None:
    assert conninfo("postgresql+psycopg://twin@h:5/db?sslmode=require") == (
        "postgresql://twin@h:5/db?sslmode=require"
    )
    assert conninfo("postgresql://twin@h/db") == "postgresql://twin@h/db"
    url = "postgresql+psycopg://twin@127.0.0.1:9/twin"
    for db in (url, make_engine(url)):
        with pytest.raises(DatabaseNotReady, match=r"cannot reach the database .*twin db start"):
            check_migrated(db)
    assert unreachable(ValueError("no")) is None
