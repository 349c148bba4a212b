"""The batch writer against the real embedded PostGIS: idempotency, latest_state only moved
forward, quarantine of unknown devices, dead letters, monthly partitions."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from geodata.db import make_engine
from sensors_bridge.model import Observation
from sensors_bridge.store import BatchWriter

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def obs(device: str, value: object, minutes: float = 0, **kw: object) -> Observation:
    return Observation(device, "temperature", value, NOW - timedelta(minutes=minutes), **kw)  # type: ignore[arg-type]


@pytest.fixture
def writer(engine: Engine) -> BatchWriter:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO devices (id, protocol, type, external_id) VALUES "
                "('t1', 'http', 'thermometer', NULL), ('lora1', 'chirpstack', 'gauge', "
                "'0102030405060708')"
            )
        )
        conn.execute(
            text("INSERT INTO metrics (name, min_value, max_value) VALUES ('temperature', -60, 70)")
        )
    return BatchWriter(engine, "http")


def test_a_redelivered_batch_is_stored_once(writer: BatchWriter, engine: Engine) -> None:
    batch = [obs("t1", 20.5, 2), obs("t1", 21.0, 1), obs("t1", 21.0, 1)]
    first = writer.write(batch, now=NOW)
    assert (first.accepted, first.duplicate, first.rejected) == (2, 1, [])
    again = writer.write(batch, now=NOW)
    assert (again.accepted, again.duplicate) == (0, 3)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM observations")).scalar_one() == 2
        counts = dict(conn.execute(text("SELECT outcome, n FROM ingest_counts")).all())
    assert counts == {"accepted": 2, "duplicate": 4}


def test_the_message_id_is_part_of_the_key(writer: BatchWriter) -> None:
    got = writer.write([obs("t1", 1, message_id="a"), obs("t1", 1, message_id="b")], now=NOW)
    assert got.accepted == 2


def test_latest_state_only_moves_forward(writer: BatchWriter, engine: Engine) -> None:
    writer.write([obs("t1", 22.0, 1)], now=NOW)
    writer.write([obs("t1", 5.0, 30)], now=NOW)  # late and older: kept, not latest
    with engine.connect() as conn:
        value, at = conn.execute(text("SELECT value, at FROM latest_state")).one()
        last_seen = conn.execute(text("SELECT last_seen FROM devices WHERE id = 't1'")).scalar()
        stored = conn.execute(text("SELECT count(*) FROM observations")).scalar_one()
    assert (value, at, stored) == (22.0, NOW - timedelta(minutes=1), 2)
    assert last_seen == NOW


def test_unknown_devices_are_quarantined_with_their_data(
    writer: BatchWriter, engine: Engine
) -> None:
    got = writer.write(
        [
            obs("nobody", 3.0),
            obs("AABBCCDDEEFF0011", 4.0, protocol="chirpstack", external=True),
            obs("0102030405060708", 5.0, protocol="chirpstack", external=True),
        ],
        now=NOW,
    )
    assert got.accepted == 3
    assert sorted(got.quarantined) == ["chirpstack-AABBCCDDEEFF0011", "nobody"]
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, status, external_id FROM devices ORDER BY id")).all()
        per_device = dict(
            conn.execute(text("SELECT device_id, count(*) FROM observations GROUP BY 1")).all()
        )
    assert ("chirpstack-AABBCCDDEEFF0011", "quarantined", "AABBCCDDEEFF0011") in rows
    assert ("nobody", "quarantined", None) in rows
    assert per_device == {"nobody": 1, "chirpstack-AABBCCDDEEFF0011": 1, "lora1": 1}


@pytest.mark.parametrize(
    ("value", "minutes", "reason"),
    [
        (math.nan, 0, "nan"),
        (math.inf, 0, "nan"),
        ("warm", 0, "non_numeric"),
        (True, 0, "non_numeric"),
        (20.0, -6, "future"),
        (99.0, 0, "out_of_range"),
    ],
)
def test_invalid_observations_become_dead_letters(
    writer: BatchWriter, engine: Engine, value: object, minutes: float, reason: str
) -> None:
    got = writer.write([obs("t1", 20.0, 10), obs("t1", value, minutes)], now=NOW)
    assert got.accepted == 1
    assert [(r.reason, r.index) for r in got.rejected] == [(reason, 1)]
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT adapter, reason, raw FROM dead_letters")).all()
    assert [(a, r) for a, r, _ in rows] == [("http", reason)]
    assert b"t1" in bytes(rows[0][2])


def test_a_batch_after_a_failed_one_on_the_same_connection_is_stored(
    writer: BatchWriter, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stage table is made once per pooled connection; a transaction that fails after
    making it rolls it back, so the writer must make it again on that connection."""
    from sensors_bridge import store

    url = engine.url.render_as_string(hide_password=False)
    one = make_engine(url, pool_size=1, max_overflow=0)  # every batch on the same connection
    single = BatchWriter(one, "http")
    single._ensure_partitions([obs("t1", 20.0, 3)], NOW)  # no second connection needed later

    def refused(*_a: object) -> int:
        raise RuntimeError("the merge failed")

    with monkeypatch.context() as m:
        m.setattr(store, "_merge", refused)
        with pytest.raises(RuntimeError):
            single.write([obs("t1", 20.0, 3)], now=NOW)
    got = single.write([obs("t1", 20.0, 3), obs("t1", 21.0, 2)], now=NOW)
    assert (got.accepted, got.duplicate) == (2, 0)
    one.dispose()


def test_ranges_are_read_with_each_batch(writer: BatchWriter, engine: Engine) -> None:
    """A range an operator narrows applies from the next batch (read in its transaction)."""
    assert writer.write([obs("t1", 30.0, 5)], now=NOW).accepted == 1
    with engine.begin() as conn:
        conn.execute(text("UPDATE metrics SET max_value = 25 WHERE name = 'temperature'"))
    got = writer.write([obs("t1", 30.0, 4)], now=NOW)
    assert (got.accepted, [r.reason for r in got.rejected]) == (0, ["out_of_range"])


def test_four_minutes_ahead_is_accepted(writer: BatchWriter) -> None:
    assert writer.write([obs("t1", 20.0, -4)], now=NOW).accepted == 1


def test_months_get_partitions_and_default_rows_move_out(
    writer: BatchWriter, engine: Engine
) -> None:
    old = datetime(2024, 3, 15, tzinfo=UTC)
    with engine.begin() as conn:  # a row the default partition caught before its month existed
        conn.execute(
            text(
                "INSERT INTO observations (device_id, metric, at, value) VALUES ('t1', 'x', :a, 1)"
            ),
            {"a": old},
        )
    writer.write([Observation("t1", "temperature", 2.0, old + timedelta(days=1))], now=NOW)
    with engine.connect() as conn:
        where = dict(
            conn.execute(
                text("SELECT tableoid::regclass::text, count(*) FROM observations GROUP BY 1")
            ).all()
        )
        parts = {
            r[0]
            for r in conn.execute(
                text(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                    " WHERE i.inhparent = 'observations'::regclass"
                )
            )
        }
    assert where == {"observations_2024_03": 2}
    assert {"observations_2026_12", "observations_2027_01", "observations_default"} <= parts


def test_migration_0004_downgrades_and_upgrades_with_its_data(
    writer: BatchWriter, engine: Engine, db_url: str
) -> None:
    from alembic import command

    from geodata.db import alembic_config

    writer.write([obs("t1", 20.0, 1)], now=NOW)
    engine.dispose()
    command.downgrade(alembic_config(db_url), "0003")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT value FROM observations")).scalar_one() == 20.0
    command.upgrade(alembic_config(db_url), "head")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT value FROM observations")).scalar_one() == 20.0
