"""Synthetic city blocks generated in SQL, for the tiles tests and benchmark.

Why in the package: the benchmark and the tests must tile the same kind of city, and a
generator written as one INSERT ... SELECT runs inside PostgreSQL at hundreds of thousands of
rows per second, so 100k buildings take seconds, not minutes of Python.

Buildings sit on a square grid (``spacing`` metres) around ``origin`` in the working CRS:
plain rectangles, L-shapes, courtyards (polygons with a hole), two-part multipolygons and
rotated blocks, with a few tall towers and large halls so the large-first tiling has
something to rank. Everything is deterministic in the row number.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

HELSINKI = (385_000.0, 6_672_000.0)

_BUILDINGS = """
INSERT INTO buildings (source, source_id, footprint, base_z, z_source, height, height_source,
                       levels, usage, roof_type, year_built, name)
SELECT :source, (:start + i)::text, ST_Multi(shape), base_z, 'source', height, 'measured',
       greatest(1, floor(height / 3))::int,
       (ARRAY['residential', 'commercial', 'office', 'school', 'industrial'])[1 + i % 5],
       (ARRAY['flat', 'gabled', 'hipped'])[1 + i % 3],
       1850 + (i * 37) % 175,
       CASE WHEN i % 11 = 0 THEN 'Block ' || i END
FROM (
  SELECT i, x, y, 2.0 + (i % 13) * 0.25 AS base_z,
    CASE WHEN i % 97 = 0 THEN 60 + (i % 5) * 10
         WHEN i % 31 = 0 THEN 30
         ELSE 6 + (i * 7919) % 19 END::float8 AS height,
    CASE
      WHEN i % 97 = 0 THEN ST_MakeEnvelope(x, y, x + 30, y + 24)
      WHEN i % 53 = 0 THEN ST_MakeEnvelope(x - 5, y - 5, x + 34, y + 30)
      WHEN i % 10 = 1 THEN ST_Union(ST_MakeEnvelope(x, y, x + 22, y + 8),
                                    ST_MakeEnvelope(x, y, x + 8, y + 20))
      WHEN i % 10 = 2 THEN ST_Difference(ST_MakeEnvelope(x, y, x + 24, y + 24),
                                         ST_MakeEnvelope(x + 7, y + 7, x + 17, y + 17))
      WHEN i % 10 = 3 THEN ST_Collect(ST_MakeEnvelope(x, y, x + 10, y + 8),
                                      ST_MakeEnvelope(x + 14, y, x + 24, y + 10))
      WHEN i % 10 = 4 THEN ST_Rotate(ST_MakeEnvelope(x, y, x + 18, y + 10), 0.4,
                                     ST_MakePoint(x + 9, y + 5))
      ELSE ST_MakeEnvelope(x, y, x + 12 + (i % 7), y + 9 + (i % 5))
    END AS shape
  FROM (
    SELECT i, :x0 + (g % :cols) * :spacing AS x, :y0 + (g / :cols) * :spacing AS y
    FROM generate_series(0::bigint, :n - 1) AS g, LATERAL (SELECT :start + g AS i) q
  ) grid
) b
"""


def insert_buildings(
    conn: Connection,
    n: int,
    *,
    start: int = 0,
    source: str = "synthetic",
    origin: tuple[float, float] = HELSINKI,
    spacing: float = 40.0,
    cols: int | None = None,
) -> int:
    """Insert ``n`` buildings (source ids ``start`` .. ``start + n - 1``); returns ``n``."""
    cols = cols or max(1, round((start + n) ** 0.5))
    conn.execute(
        text(_BUILDINGS),
        {
            "n": n,
            "start": start,
            "source": source,
            "x0": origin[0],
            "y0": origin[1],
            "spacing": spacing,
            "cols": cols,
        },
    )
    return n


_SEGMENTS = """
INSERT INTO network_segments (source, source_id, network, geom, depth_m, diameter_mm, material,
                              install_year, status, operator, synthetic)
SELECT :source, :network || '-' || g, :network,
  ST_MakeLine(ARRAY[
    ST_MakePoint(x, y, :ground - :depth),
    ST_MakePoint(x + 15, y + 0.5 * (g % 3), :ground - :depth - 0.2 * (g % 2)),
    ST_MakePoint(x + 25, y + 8, :ground - :depth - 0.3),
    ST_MakePoint(x + 38, y + 8, :ground - :depth - 0.3)]),
  :depth + 0.2 * (g % 2), CASE WHEN g % 5 = 0 THEN NULL ELSE :diameter END,
  (ARRAY['PE', 'cast iron', 'steel', 'PVC'])[1 + g % 4], 1950 + g % 70, 'in_service',
  'City utilities', g % 4 = 0
FROM generate_series(0, :n - 1) AS g,
     LATERAL (SELECT :x0 + (g % :cols) * 40.0 + :dx AS x, :y0 + (g / :cols) * 40.0 + 30 AS y) p
"""

_NODES = """
INSERT INTO network_nodes (source, source_id, network, kind, geom, depth_m, synthetic)
SELECT :source, :network || '-node-' || g, :network,
  (ARRAY['manhole', 'valve', 'hydrant', 'junction'])[1 + g % 4],
  ST_MakePoint(:x0 + (g % :cols) * 40.0 + :dx, :y0 + (g / :cols) * 40.0 + 30, :ground - :depth),
  :depth, false
FROM generate_series(0, :n - 1) AS g
"""


def insert_network(
    conn: Connection,
    network: str,
    n: int,
    *,
    depth: float = 1.8,
    diameter: float = 200.0,
    ground: float = 5.0,
    dx: float = 0.0,
    origin: tuple[float, float] = HELSINKI,
    source: str = "synthetic",
) -> int:
    """``n`` bent 3D pipe segments of ``network`` at ``depth`` below ``ground``, with nodes."""
    cols = max(1, round(n**0.5))
    params = {
        "n": n,
        "network": network,
        "depth": depth,
        "diameter": diameter,
        "ground": ground,
        "dx": dx,
        "x0": origin[0],
        "y0": origin[1],
        "cols": cols,
        "source": source,
    }
    conn.execute(text(_SEGMENTS), params)
    conn.execute(text(_NODES), params)
    return n


_FURNITURE = """
INSERT INTO furniture (source, source_id, kind, geom, heading, height, name)
SELECT :source, 'f-' || g, (CAST(:kinds AS text[]))[1 + g % cardinality(CAST(:kinds AS text[]))],
  ST_MakePoint(:x0 + (g % :cols) * 20.0 + 3, :y0 + (g / :cols) * 20.0 + 35, 5.0),
  (g * 37) % 360, CASE WHEN g % 6 = 0 THEN NULL ELSE 1 + (g % 5) END,
  CASE WHEN g % 9 = 0 THEN 'Object ' || g END
FROM generate_series(0, :n - 1) AS g
"""

FURNITURE_SAMPLE = ["lamp", "bench", "tree", "bin", "bollard", "sign", "bus_stop", "camera"]


def insert_furniture(
    conn: Connection,
    n: int,
    *,
    origin: tuple[float, float] = HELSINKI,
    kinds: list[str] | None = None,
    source: str = "synthetic",
) -> int:
    cols = max(1, round(n**0.5))
    conn.execute(
        text(_FURNITURE),
        {
            "n": n,
            "x0": origin[0],
            "y0": origin[1],
            "cols": cols,
            "kinds": kinds or FURNITURE_SAMPLE,
            "source": source,
        },
    )
    return n
