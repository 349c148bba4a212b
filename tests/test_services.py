"""The embedded services and the migration, against the real binaries."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import text

from geodata.db import check_migrated, make_engine, migrate
from geodata.errors import ConfigError, DatabaseNotReady
from twin.services.mosquitto import EmbeddedMosquitto
from twin.settings import get_settings


def test_migrate_empty_database_creates_postgis_and_schema(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    with pytest.raises(DatabaseNotReady, match="twin db migrate"):
        check_migrated(engine)
    migrate(empty_db_url)
    check_migrated(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT postgis_lib_version()")).scalar().startswith("3.")
        tables = set(
            conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            ).scalars()
        )
    assert {"buildings", "network_segments", "furniture", "users", "observations"} <= tables
    engine.dispose()


def test_unreachable_database_names_the_fix() -> None:
    engine = make_engine("postgresql+psycopg://twin@127.0.0.1:9/twin")
    with pytest.raises(DatabaseNotReady, match="twin db start"):
        check_migrated(engine)


def test_constraints_refuse_insane_rows(engine) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy.exc import IntegrityError

    bad = [
        "INSERT INTO buildings (source, source_id, footprint, height) VALUES "
        "('t', '1', 'MULTIPOLYGON(((0 0, 1 0, 1 1, 0 1, 0 0)))', -3)",
        "INSERT INTO buildings (source, source_id, footprint, height) VALUES "
        "('t', '2', 'MULTIPOLYGON(((0 0, 1 1, 1 0, 0 1, 0 0)))', 3)",
        "INSERT INTO network_segments (source, source_id, network, geom, depth_m) VALUES "
        "('t', '3', 'lava', 'LINESTRING Z (0 0 -1, 1 1 -1)', 1)",
        "INSERT INTO furniture (source, source_id, kind, geom) VALUES "
        "('t', '4', 'spaceship', 'POINT Z (0 0 0)')",
    ]
    for sql in bad:
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text(sql))


def test_settings_errors_are_named() -> None:
    with pytest.raises(ConfigError, match="TWIN_CRS"):
        get_settings(crs="EPSG:4326", _env_file=None)
    with pytest.raises(ConfigError, match="TWIN_DATABASE_URL"):
        get_settings(database_url="mysql://x", _env_file=None)
    s = get_settings(crs="2154", database_url="postgres://u@h/db", _env_file=None)
    assert s.crs == "EPSG:2154"
    assert s.sqlalchemy_url == "postgresql+psycopg://u@h/db"


def test_embedded_mosquitto_relays_messages(mqtt_broker: EmbeddedMosquitto) -> None:
    got: list[bytes] = []
    done = threading.Event()

    def on_message(_c, _u, msg) -> None:  # type: ignore[no-untyped-def]
        got.append(msg.payload)
        done.set()

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    sub.on_message = on_message
    sub.connect("127.0.0.1", mqtt_broker.port)
    sub.subscribe("twin/+/temperature", qos=1)
    sub.loop_start()
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    pub.connect("127.0.0.1", mqtt_broker.port)
    pub.loop_start()
    import time

    deadline = time.monotonic() + 5
    while not done.is_set() and time.monotonic() < deadline:
        pub.publish("twin/sensor-1/temperature", b"21.5", qos=1)
        done.wait(0.2)
    sub.loop_stop()
    pub.loop_stop()
    assert got and got[0] == b"21.5"


def test_geometry_columns_list_matches_the_models() -> None:
    """The working CRS is stamped on the columns in vocab.GEOMETRY_COLUMNS: it must list all."""
    from geoalchemy2 import Geometry

    from geodata.models import Base
    from geodata.vocab import GEOMETRY_COLUMNS

    in_models = {
        (table.name, col.name)
        for table in Base.metadata.tables.values()
        for col in table.columns
        if isinstance(col.type, Geometry)
    }
    assert {(t, c) for t, c, _ in GEOMETRY_COLUMNS} == in_models
