"""The twin's working CRS, stored in ``twin_meta`` and stamped on every geometry column.

It is fixed once: by ``twin init --crs``, ``TWIN_CRS``, or the first import (the source's
CRS when projected, else its UTM zone). After that every import reprojects to it.

The functions take a SQLAlchemy or a psycopg connection and run through psycopg
(:mod:`geodata.pg`): the import pipeline fixes the CRS on the connection it writes on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from geodata.crs import check_projected
from geodata.errors import CRSError
from geodata.pg import raw_connection
from geodata.vocab import GEOMETRY_COLUMNS

if TYPE_CHECKING:
    from geodata.pg import AnyConnection


def get_working_crs(conn: AnyConnection) -> int | None:
    row = raw_connection(conn).execute("SELECT value FROM twin_meta WHERE key = 'crs'").fetchone()
    return int(row[0]) if row else None


def set_working_crs(conn: AnyConnection, epsg: int) -> int:
    """Fix the working CRS (idempotent for the same code). Runs in the caller's transaction.

    :raises CRSError: the twin already has another working CRS, or ``epsg`` is not metric.
    """
    check_projected(epsg)
    current = get_working_crs(conn)
    if current == epsg:
        return epsg
    if current is not None:
        raise CRSError(
            f"this twin's working CRS is EPSG:{current}; it cannot become EPSG:{epsg}. "
            "Imports are reprojected to it automatically; to start over use a new TWIN_DATA_DIR"
        )
    raw = raw_connection(conn)
    raw.execute("LOCK TABLE twin_meta IN EXCLUSIVE MODE")
    for table, column, gtype in GEOMETRY_COLUMNS:
        raw.execute(
            f"ALTER TABLE {table} ALTER COLUMN {column} TYPE geometry({gtype}, {epsg}) "
            f"USING ST_SetSRID({column}, {epsg})"
        )
    raw.execute("INSERT INTO twin_meta (key, value) VALUES ('crs', %s)", (str(epsg),))
    return epsg


def require_working_crs(conn: AnyConnection) -> int:
    epsg = get_working_crs(conn)
    if epsg is None:
        raise CRSError(
            "this twin has no working CRS yet: run `twin init --crs EPSG:XXXX` or import data first"
        )
    return epsg
