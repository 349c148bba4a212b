"""What a command needs running: the database (embedded or configured) and the broker.

``Runtime`` starts only what is missing and stops, on exit, only what it started itself, so
``make demo`` followed by Ctrl-C leaves no process behind and a second run reuses a running one.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from types import TracebackType
from typing import TYPE_CHECKING

from geodata.db import check_migrated, make_engine, migrate
from twin.services.mosquitto import EmbeddedMosquitto, broker_url
from twin.services.postgres import EmbeddedPostgres
from twin.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

LOGGER = logging.getLogger(__name__)


class Runtime(AbstractContextManager["Runtime"]):
    def __init__(
        self, settings: Settings, *, need_mqtt: bool = False, keep_db: bool = False
    ) -> None:
        self.settings = settings
        self.pg = EmbeddedPostgres(settings.pg_dir, settings.pg_port)
        self.mosquitto = EmbeddedMosquitto.of(settings)
        self.need_mqtt = need_mqtt
        self.keep_db = keep_db
        self.started_pg = False
        self.mqtt_url: str | None = None
        self._engine: Engine | None = None

    def __enter__(self) -> Runtime:
        if self.settings.embedded_db:
            self.started_pg = self.pg.start()
        if self.need_mqtt:
            self.mqtt_url, embedded = broker_url(self.settings.mqtt_url, self.mosquitto)
            if embedded:
                self.mosquitto.start()
        return self

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, made on first use: a command that writes through psycopg
        alone (``twin import``, see :mod:`geodata.pg`) never loads SQLAlchemy."""
        if self._engine is None:
            self._engine = make_engine(self.settings.sqlalchemy_url)
        return self._engine

    def migrate(self) -> None:
        migrate(self.settings.sqlalchemy_url)

    def check(self) -> None:
        """The database is reachable and at the head revision (asked through psycopg)."""
        check_migrated(self.settings.sqlalchemy_url)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._engine is not None:
            self._engine.dispose()
        self.mosquitto.stop()
        if self.started_pg and not self.keep_db:
            LOGGER.info("stopping the PostgreSQL cluster this command started")
            self.pg.stop()
