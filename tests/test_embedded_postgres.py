"""twin.services.postgres: what the project's own cluster is started with."""

from __future__ import annotations

import psycopg

from geodata.pg import conninfo


def test_the_embedded_cluster_loads_postgis_once_for_every_connection(db_url: str) -> None:
    """The postmaster holds PostGIS, so a new connection's first spatial call does not load
    the library again (~9 ms per connection otherwise), and PostGIS works as before."""
    with psycopg.connect(conninfo(db_url)) as conn:
        assert conn.execute("SHOW shared_preload_libraries").fetchone() == ("postgis-3",)
        area = conn.execute("SELECT ST_Area(ST_MakeEnvelope(0, 0, 2, 3))").fetchone()
        assert area == (6.0,)
