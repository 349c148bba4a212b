"""Fixtures: a real PostGIS cluster and a real Mosquitto, both started by the project itself.

The cluster is the project's own embedded one (twin.services.postgres) in a temporary folder on
a free port, never the machine's services on standard ports. A template database is migrated
once; each test gets a fresh copy (CREATE DATABASE ... TEMPLATE), so tests never see each
other's rows and can fix their own working CRS.
"""

from __future__ import annotations

import itertools
import os
import socket
from collections.abc import Iterator
from pathlib import Path

# rich fixes a console's width when it is made if COLUMNS is set (pytest-xdist's workers start
# with COLUMNS=80), and the CLI's consoles are made when a test module imports the CLI: without
# it they read COLUMNS as each table is drawn, so `runner`'s wide output holds on every worker
os.environ.pop("COLUMNS", None)

import psycopg
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from geodata.db import make_engine, migrate
from twin.services.mosquitto import EmbeddedMosquitto
from twin.services.postgres import EmbeddedPostgres
from twin.settings import Settings

TEMPLATE = "twin_template"
_counter = itertools.count()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    root = Path(os.environ.get("TWIN_TEST_PG_DIR") or tmp_path_factory.mktemp("pg"))
    pg = EmbeddedPostgres(root, free_port())
    pg.start()
    yield pg
    pg.stop()


def _admin(pg: EmbeddedPostgres) -> psycopg.Connection:
    return psycopg.connect(f"postgresql://twin@127.0.0.1:{pg.port}/postgres", autocommit=True)


@pytest.fixture(scope="session")
def template_db(pg_cluster: EmbeddedPostgres) -> str:
    with _admin(pg_cluster) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
        conn.execute(f"CREATE DATABASE {TEMPLATE}")
    migrate(f"postgresql+psycopg://twin@127.0.0.1:{pg_cluster.port}/{TEMPLATE}")
    return TEMPLATE


def _fresh_db(pg: EmbeddedPostgres, template: str) -> str:
    name = f"t_{os.getpid()}_{next(_counter)}"
    with _admin(pg) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    return name


def _drop_db(pg: EmbeddedPostgres, name: str) -> None:
    with _admin(pg) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def db_url(pg_cluster: EmbeddedPostgres, template_db: str) -> Iterator[str]:
    """A migrated, empty database of its own for one test."""
    name = _fresh_db(pg_cluster, template_db)
    yield f"postgresql+psycopg://twin@127.0.0.1:{pg_cluster.port}/{name}"
    _drop_db(pg_cluster, name)


@pytest.fixture
def runner(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The ``twin`` command on a fresh database (``db_url``), run from a folder of its own,
    with no time zone or CRS set and wide output (messages are matched whole)."""
    monkeypatch.setenv("TWIN_DATABASE_URL", db_url)
    monkeypatch.setenv("TWIN_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("TWIN_TIMEZONE", raising=False)
    monkeypatch.delenv("TWIN_CRS", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env from the working copy
    monkeypatch.setenv("COLUMNS", "500")
    return CliRunner()


@pytest.fixture
def empty_db_url(pg_cluster: EmbeddedPostgres) -> Iterator[str]:
    """A database with nothing in it, not even PostGIS: what a user points the twin at."""
    name = _fresh_db(pg_cluster, "template0")
    yield f"postgresql+psycopg://twin@127.0.0.1:{pg_cluster.port}/{name}"
    _drop_db(pg_cluster, name)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=db_url, data_dir=tmp_path / "var", _env_file=None)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    eng = make_engine(settings.sqlalchemy_url)
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def module_engine(pg_cluster: EmbeddedPostgres, template_db: str) -> Iterator[Engine]:
    """A migrated database shared by one module's tests, for data loaded once (the demo)."""
    name = _fresh_db(pg_cluster, template_db)
    eng = make_engine(f"postgresql+psycopg://twin@127.0.0.1:{pg_cluster.port}/{name}")
    yield eng
    eng.dispose()
    _drop_db(pg_cluster, name)


@pytest.fixture(scope="session")
def mqtt_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedMosquitto]:
    """A project-managed Mosquitto on a free port (never the machine's 1883)."""
    broker = EmbeddedMosquitto(tmp_path_factory.mktemp("mqtt"), free_port())
    broker.start()
    yield broker
    broker.stop()
