"""COPY and upsert of generated rows (until the import pipeline takes in-memory readers)."""

from __future__ import annotations

import io

import pandas as pd
from sqlalchemy import Connection, text

from geodata.demo.names import SYNTHETIC

SEGMENT_COLS = {
    "source_id": "text",
    "network": "text",
    "geom": "geometry",
    "depth_m": "float8",
    "diameter_mm": "float8",
    "material": "text",
    "install_year": "int",
    "operator": "text",
    "attrs": "jsonb",
}
NODE_COLS = {
    "source_id": "text",
    "network": "text",
    "kind": "text",
    "geom": "geometry",
    "depth_m": "float8",
    "attrs": "jsonb",
}


def _copy(conn: Connection, table: str, cols: dict[str, str], frame: pd.DataFrame) -> None:
    """COPY a frame into a temporary table (dropped at commit) in the caller's transaction."""
    raw = conn.connection.driver_connection
    assert raw is not None
    defs = ", ".join(f"{c} {t}" for c, t in cols.items())
    raw.execute(f"DROP TABLE IF EXISTS {table}")
    raw.execute(f"CREATE TEMP TABLE {table} ({defs}) ON COMMIT DROP")
    buf = io.StringIO()
    frame[list(cols)].to_csv(buf, index=False, header=False, na_rep="\\N", float_format="%.15g")
    with raw.cursor().copy(
        f"COPY {table} ({', '.join(cols)}) FROM STDIN (FORMAT csv, NULL '\\N')"
    ) as cp:
        cp.write(buf.getvalue())


def _upsert(
    conn: Connection, table: str, stage: str, cols: list[str], srid: int, extra: dict[str, str]
) -> None:
    """Insert new rows, update changed ones, delete the source's rows the stage lacks."""
    exprs = [f"ST_SetSRID(s.{c}, {srid})" if c == "geom" else f"s.{c}" for c in cols]
    names = [*cols, *extra]
    values = [*exprs, *extra.values()]
    data = [c for c in names if c != "source_id"]
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in data)
    changed = " OR ".join(f"t.{c} IS DISTINCT FROM EXCLUDED.{c}" for c in data)
    conn.execute(
        text(
            f"INSERT INTO {table} AS t (source, {', '.join(names)}) "
            f"SELECT :source, {', '.join(values)} FROM {stage} s "
            "ON CONFLICT (source, source_id) WHERE scenario_id IS NULL "
            f"DO UPDATE SET {sets}, updated_at = now() WHERE {changed}"
        ),
        {"source": SYNTHETIC},
    )
    conn.execute(
        text(
            f"DELETE FROM {table} t WHERE t.source = :source AND t.scenario_id IS NULL "
            f"AND NOT EXISTS (SELECT 1 FROM {stage} s WHERE s.source_id = t.source_id)"
        ),
        {"source": SYNTHETIC},
    )


def write_segments(conn: Connection, frame: pd.DataFrame, srid: int) -> None:
    _copy(conn, "demo_segments", SEGMENT_COLS, frame)
    _upsert(
        conn,
        "network_segments",
        "demo_segments",
        list(SEGMENT_COLS),
        srid,
        {"status": "'in_service'", "synthetic": "true"},
    )


def write_nodes(conn: Connection, frame: pd.DataFrame, srid: int) -> None:
    _copy(conn, "demo_nodes", NODE_COLS, frame)
    _upsert(conn, "network_nodes", "demo_nodes", list(NODE_COLS), srid, {"synthetic": "true"})
