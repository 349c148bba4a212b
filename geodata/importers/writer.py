"""Bulk writing of an import: COPY into a temporary staging table, then one upsert per layer.

Everything runs in the caller's transaction, so an import is all-or-nothing. Reprojection,
multi-part handling and 2D/3D forcing are done by PostGIS in the final INSERT ... SELECT, which
is both faster than doing it row by row in Python and exactly what the database will store.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from sqlalchemy import Connection

#: stage column types for each layer's mapped fields (the order is the COPY order)
STAGE_COLUMNS: dict[str, dict[str, str]] = {
    "buildings": {
        "height": "float8", "height_source": "text", "levels": "int", "base_z": "float8",
        "roof_type": "text", "usage": "text", "name": "text", "address": "text",
        "year_built": "int",
    },
    "networks": {
        "network": "text", "depth_m": "float8", "diameter_mm": "float8", "material": "text",
        "install_year": "int", "status": "text", "operator": "text",
    },
    "furniture": {"kind": "text", "heading": "float8", "height": "float8", "name": "text"},
    "pois": {"name": "text", "kind": "text", "description": "text"},
    "ground": {"kind": "text", "name": "text", "width_m": "float8"},
}

#: assumed cover depth (m) when a network segment has none: usual French/Finnish practice
DEFAULT_DEPTH = {
    "water": 1.2, "wastewater": 2.5, "stormwater": 2.0, "gas": 1.0, "district_heating": 1.0,
    "electricity": 0.8, "telecom": 0.6, "lighting": 0.6,
}

_TARGET = {"buildings": "buildings", "networks": "network_segments", "furniture": "furniture",
           "pois": "pois", "ground": "ground"}


def _geom(col: str = "s.geom") -> str:
    return f"ST_Transform(ST_SetSRID({col}, %(src)s), %(dst)s)"


_DEPTH_CASE = "CASE s.network " + " ".join(
    f"WHEN '{k}' THEN {v}" for k, v in DEFAULT_DEPTH.items()
) + " END"

#: SELECT list producing each target table's columns from the deduplicated stage ``s``
_SELECT = {
    "buildings": {
        "footprint": f"ST_Multi(ST_Force2D({_geom()}))",
        "base_z": "COALESCE(s.base_z, CASE WHEN ST_NDims(s.geom) = 3 THEN ST_ZMin(s.geom) END, 0)",
        "height": "s.height", "height_source": "s.height_source", "levels": "s.levels",
        "roof_type": "s.roof_type", "usage": "s.usage", "name": "s.name",
        "address": "s.address", "year_built": "s.year_built",
        "lod2": f"CASE WHEN s.lod2 IS NOT NULL THEN ST_Multi({_geom('s.lod2')}) END",
    },
    "networks": {
        "network": "s.network",
        "depth_m": f"COALESCE(s.depth_m, {_DEPTH_CASE})",
        "geom": f"CASE WHEN ST_NDims(d.geom) = 3 THEN {_geom('d.geom')} "
                f"ELSE ST_Force3DZ({_geom('d.geom')}, -COALESCE(s.depth_m, {_DEPTH_CASE})) END",
        "diameter_mm": "CASE WHEN s.diameter_mm > 0 THEN s.diameter_mm END",
        "material": "s.material",
        "install_year": "CASE WHEN s.install_year BETWEEN 1700 AND 2100 THEN s.install_year END",
        "status": "COALESCE(s.status, 'in_service')", "operator": "s.operator",
    },
    "furniture": {
        "kind": "s.kind", "geom": f"ST_Force3DZ({_geom()})",
        "heading": "s.heading", "height": "CASE WHEN s.height > 0 THEN s.height END",
        "name": "s.name",
    },
    "pois": {
        "name": "s.name", "kind": "COALESCE(s.kind, 'poi')", "description": "s.description",
        "geom": f"ST_Force3DZ({_geom()})",
    },
    "ground": {
        "kind": "s.kind", "name": "s.name", "width_m": "s.width_m",
        "geom": f"ST_Force2D({_geom()})",
    },
}


class StageWriter:
    """Accumulates batches in a temporary table; :meth:`upsert` moves them into the layer."""

    def __init__(self, conn: Connection, layer: str) -> None:
        self.conn = conn
        self.layer = layer
        self.cols = STAGE_COLUMNS[layer]
        self.raw = conn.connection.driver_connection  # psycopg, same transaction
        col_defs = ", ".join(f"{c} {t}" for c, t in self.cols.items())
        self.raw.execute(
            "CREATE TEMP TABLE import_stage (ord bigint, source_id text, geom geometry, "
            f"lod2 geometry, attrs jsonb, {col_defs}) ON COMMIT DROP"
        )
        self.rows = 0

    def write(
        self, ids: np.ndarray, geom_hex: np.ndarray, lod2_hex: np.ndarray | None,
        columns: pd.DataFrame, attrs: pd.Series,
    ) -> None:
        n = len(ids)
        frame = pd.DataFrame(
            {
                "ord": np.arange(self.rows, self.rows + n),
                "source_id": ids,
                "geom": geom_hex,
                "lod2": lod2_hex if lod2_hex is not None else [None] * n,
                "attrs": attrs.to_numpy(),
            }
        )
        for c in self.cols:
            frame[c] = columns[c].to_numpy() if c in columns else None
        buf = io.StringIO()
        frame.to_csv(buf, index=False, header=False, na_rep="\\N", float_format="%.15g")
        names = ", ".join(frame.columns)
        with self.raw.cursor().copy(
            f"COPY import_stage ({names}) FROM STDIN (FORMAT csv, NULL '\\N')"
        ) as copy:
            copy.write(buf.getvalue())
        self.rows += n

    def upsert(self, *, source: str, src_srid: int, dst_srid: int) -> tuple[int, int, int, int]:
        """Insert new rows, update changed ones, leave identical ones alone.

        :returns: (inserted, updated, unchanged, duplicates dropped)
        """
        table = _TARGET[self.layer]
        select = _SELECT[self.layer]
        cols = ["source", "source_id", *select]
        params = {"src": src_srid, "dst": dst_srid, "source": source}
        dedup = "(SELECT DISTINCT ON (source_id) * FROM import_stage ORDER BY source_id, ord) s"
        if self.layer == "networks":
            frm = f"{dedup} CROSS JOIN LATERAL ST_Dump(s.geom) d"
            sid = ("CASE WHEN ST_NumGeometries(s.geom) > 1 "
                   "THEN s.source_id || '#' || d.path[1] ELSE s.source_id END")
        else:
            frm, sid = dedup, "s.source_id"
        exprs = ["%(source)s", sid, *select.values()]
        attrs_expr = "jsonb_strip_nulls(s.attrs)"
        if self.layer == "networks":
            attrs_expr += (" || CASE WHEN s.depth_m IS NULL THEN "
                           "'{\"depth_source\": \"assumed\"}'::jsonb ELSE '{}'::jsonb END")
        cols.append("attrs")
        exprs.append(attrs_expr)
        data_cols = cols[2:]
        sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in data_cols)
        changed = " OR ".join(f"t.{c} IS DISTINCT FROM EXCLUDED.{c}" for c in data_cols)
        sql = (
            f"INSERT INTO {table} AS t ({', '.join(cols)}) "
            f"SELECT {', '.join(exprs)} FROM {frm} "
            "ON CONFLICT (source, source_id) WHERE scenario_id IS NULL "
            f"DO UPDATE SET {sets}, updated_at = now() WHERE {changed} "
            "RETURNING (xmax = 0) AS inserted"
        )
        cur = self.raw.cursor()
        cur.execute(sql, params)
        flags = [r[0] for r in cur.fetchall()]
        inserted = sum(flags)
        updated = len(flags) - inserted
        distinct = self.raw.execute(
            "SELECT count(DISTINCT source_id) FROM import_stage"
        ).fetchone()[0]
        if self.layer == "networks":
            parts = self.raw.execute(
                "SELECT coalesce(sum(n), 0) FROM (SELECT DISTINCT ON (source_id) "
                "ST_NumGeometries(geom) AS n FROM import_stage ORDER BY source_id, ord) x"
            ).fetchone()[0]
        else:
            parts = distinct
        unchanged = int(parts) - len(flags)
        return inserted, updated, unchanged, self.rows - int(distinct)
