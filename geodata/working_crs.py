"""The twin's working CRS, stored in ``twin_meta`` and stamped on every geometry column.

It is fixed once: by ``twin init --crs``, ``TWIN_CRS``, or the first import (the source's
CRS when projected, else its UTM zone). After that every import reprojects to it.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from geodata.crs import check_projected
from geodata.errors import CRSError
from geodata.vocab import GEOMETRY_COLUMNS


def get_working_crs(conn: Connection) -> int | None:
    row = conn.execute(text("SELECT value FROM twin_meta WHERE key = 'crs'")).first()
    return int(row[0]) if row else None


def set_working_crs(conn: Connection, epsg: int) -> int:
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
    conn.execute(text("LOCK TABLE twin_meta IN EXCLUSIVE MODE"))
    for table, column, gtype in GEOMETRY_COLUMNS:
        conn.execute(
            text(
                f"ALTER TABLE {table} ALTER COLUMN {column} TYPE geometry({gtype}, {epsg}) "
                f"USING ST_SetSRID({column}, {epsg})"
            )
        )
    conn.execute(text("INSERT INTO twin_meta (key, value) VALUES ('crs', :v)"), {"v": str(epsg)})
    return epsg


def require_working_crs(conn: Connection) -> int:
    epsg = get_working_crs(conn)
    if epsg is None:
        raise CRSError(
            "this twin has no working CRS yet: run `twin init --crs EPSG:XXXX` or import data first"
        )
    return epsg
