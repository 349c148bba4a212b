"""The urban project: a new block on a real open site of the district, as a scenario."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, text

from geodata.demo.frames import write_frame
from geodata.demo.names import PROJECT, SOURCE
from geodata.importers.base import ImportOptions
from geodata.importers.frames import as_table
from geodata.importers.geometry import reproject
from geodata.importers.osm import OsmReader
from geodata.importers.osm_tags import LayerRule

SITES = LayerRule(
    ("landuse", "amenity"),
    lambda kind, tags: (
        kind == "area"
        and (
            tags.get("landuse") == "construction"
            or (tags.get("amenity") == "parking" and tags.get("parking", "surface") == "surface")
        )
    ),
    areas=True,
)
#: the new block: (letter, storeys, usage, length, depth); heights are storeys x the twin's
#: storey height (TWIN_STOREY_HEIGHT), as for any building known by its levels
BLOCK = (
    ("A", 6, "residential", 34.0, 14.0),
    ("B", 8, "mixed", 20.0, 18.0),
    ("C", 4, "residential", 26.0, 12.0),
    ("D", 5, "residential", 24.0, 13.0),
)


@dataclass
class ProjectResult:
    slug: str
    site: str
    buildings: list[tuple[str, float]]
    removed: str | None


def create_project(
    conn: Connection, pbf: Path, srid: int, options: ImportOptions
) -> ProjectResult | None:
    """The "new-block" project: a scenario adding a block on an open site, removing a shed."""
    ids: list[str] = []
    wkb: list[str] = []
    names: list[str | None] = []
    reader = OsmReader(pbf, "sites", rule=SITES)
    reader.open()
    src = reader.source_crs() or 4326
    for batch in reader.batches(10_000):
        ids += list(batch.ids)
        sites = reproject(shapely.from_wkb(batch.geoms), src, srid)
        wkb += list(shapely.to_wkb(sites, hex=True))
        props = as_table(batch.props)
        landuse = (
            props.column("landuse").to_pylist()
            if "landuse" in props.column_names
            else [None] * len(batch)
        )
        names += ["a construction site" if u == "construction" else "a car park" for u in landuse]
    if not ids:
        return None
    # the largest site no building stands on
    row = conn.execute(
        text(
            "WITH c AS (SELECT i, n, ST_SetSRID(ST_GeomFromWKB(decode(w, 'hex')), :srid) AS g "
            "FROM unnest(CAST(:ids AS text[]), CAST(:wkb AS text[]), "
            "CAST(:names AS text[])) AS u(i, w, n)) "
            "SELECT i, n, ST_AsBinary(g) FROM c WHERE ST_Area(g) >= 1500 AND NOT EXISTS ("
            "SELECT 1 FROM buildings b WHERE b.scenario_id IS NULL AND b.source = :osm "
            "AND ST_Intersects(b.footprint, ST_Buffer(c.g, -1))) "
            "ORDER BY ST_Area(g) DESC, i LIMIT 1"
        ),
        {"srid": srid, "ids": ids, "wkb": wkb, "names": names, "osm": SOURCE},
    ).first()
    if row is None:
        return None
    site_id, what, site_wkb = row[0], row[1], bytes(row[2])
    site = shapely.from_wkb(site_wkb)
    # the smallest building by the site makes way for the block (a shed, a canopy)
    victim = conn.execute(
        text(
            "SELECT b.id, b.source_id, coalesce(b.name, 'a small ' || b.usage || ' building', "
            "'a small building') FROM buildings b, "
            "(SELECT ST_SetSRID(ST_GeomFromWKB(:site), :srid) AS g) s "
            "WHERE b.scenario_id IS NULL AND b.source = :osm AND ST_DWithin(b.footprint, s.g, 60) "
            "AND ST_Area(b.footprint) < 1500 ORDER BY ST_Area(b.footprint), b.source_id LIMIT 1"
        ),
        {"site": site_wkb, "srid": srid, "osm": SOURCE},
    ).first()
    others = (
        conn.execute(
            text(
                "SELECT ST_AsBinary(b.footprint) FROM buildings b, "
                "(SELECT ST_SetSRID(ST_GeomFromWKB(:site), :srid) AS g) s "
                "WHERE b.scenario_id IS NULL AND ST_DWithin(b.footprint, s.g, 20) "
                "AND b.id <> :victim"
            ),
            {"site": site_wkb, "srid": srid, "victim": victim[0] if victim else -1},
        )
        .scalars()
        .all()
    )
    obstacles = shapely.union_all(shapely.from_wkb([bytes(w) for w in others])) if others else None
    footprints = block_footprints(site, tuple((b[3], b[4]) for b in BLOCK), obstacles)
    storeys = [b[1] for b in BLOCK[: len(footprints)]] or [0]
    replaced = f", replacing {victim[2]} next to it (OpenStreetMap {victim[1]})" if victim else ""
    project_id = conn.execute(
        text(
            "INSERT INTO projects (slug, name, description, status, site, visibility, attrs) "
            "VALUES ('new-block', :name, :descr, 'proposed', "
            "ST_Multi(ST_SetSRID(ST_GeomFromWKB(:site), :srid)), 'public', CAST(:attrs AS jsonb)) "
            "ON CONFLICT (slug) DO UPDATE SET name = EXCLUDED.name, description = "
            "EXCLUDED.description, site = EXCLUDED.site, attrs = EXCLUDED.attrs RETURNING id"
        ),
        {
            "name": "New block",
            "srid": srid,
            "site": site_wkb,
            "descr": (
                f"A proposed block of {len(footprints)} buildings of {min(storeys)} to "
                f"{max(storeys)} storeys on {what} of the district (OpenStreetMap "
                f"{site_id}){replaced}. A fictional project, to compare before and after."
            ),
            "attrs": json.dumps({"site_osm": site_id, "fictional": True, "scenario": "new-block"}),
        },
    ).scalar_one()
    scenario_id = conn.execute(
        text(
            "INSERT INTO scenarios (slug, name, description, project_id) VALUES ('new-block', "
            ":name, :descr, :pid) ON CONFLICT (slug) DO UPDATE SET name = EXCLUDED.name, "
            "description = EXCLUDED.description, project_id = EXCLUDED.project_id RETURNING id"
        ),
        {
            "name": "New block: proposal",
            "pid": project_id,
            "descr": "Adds the new block's buildings and removes the small building they replace.",
        },
    ).scalar_one()
    built = _scenario_buildings(conn, scenario_id, footprints, srid, options)
    conn.execute(
        text("DELETE FROM scenario_removals WHERE scenario_id = :sid"), {"sid": scenario_id}
    )
    if victim:
        conn.execute(
            text(
                "INSERT INTO scenario_removals (scenario_id, layer, feature_id) "
                "VALUES (:sid, 'buildings', :fid)"
            ),
            {"sid": scenario_id, "fid": victim[0]},
        )
    return ProjectResult(
        "new-block",
        f"{what} (OpenStreetMap {site_id})",
        built,
        f"{victim[2]} (OpenStreetMap {victim[1]})" if victim else None,
    )


def block_footprints(
    site: shapely.Geometry,
    sizes: tuple[tuple[float, float], ...],
    obstacles: shapely.Geometry | None = None,
    setback: float = 4.0,
    spacing: float = 8.0,
) -> list[shapely.Polygon]:
    """Rectangles of the given (length, depth) placed inside the site, aligned with it.

    First fit on a 2 m grid along the site's main axis, ``setback`` metres inside its edge
    and ``spacing`` metres apart: a row of slabs such as a plan would draw on an irregular lot.
    Existing buildings (``obstacles``) keep ``spacing`` metres of clearance. A building that
    fits nowhere (a small lot) is left out.
    """
    inner = site.buffer(-setback)
    if obstacles is not None:
        inner = inner.difference(obstacles.buffer(spacing))
    if inner.is_empty:
        return []
    shapely.prepare(inner)
    box = np.asarray(shapely.oriented_envelope(inner).exterior.coords)[:4]
    sides = np.diff(np.vstack([box, box[:1]]), axis=0)
    lengths = np.hypot(sides[:, 0], sides[:, 1])
    i = int(np.argmax(lengths[:2]))
    u = sides[i] / lengths[i]
    w = sides[(i + 1) % 4] / lengths[(i + 1) % 4]
    origin, long_len, wide = box[i], lengths[i], lengths[(i + 1) % 4]
    a, b = np.meshgrid(np.arange(0.0, long_len, 2.0), np.arange(0.0, wide, 2.0))
    corners = origin + a.reshape(-1, 1) * u + b.reshape(-1, 1) * w
    placed: list[shapely.Polygon] = []
    for length, depth in sizes:
        for dl, dd in ((length, depth), (depth, length)):
            quads = np.stack(
                [corners, corners + u * dl, corners + u * dl + w * dd, corners + w * dd], axis=1
            )
            rects = shapely.polygons(quads)
            fits = shapely.contains(inner, rects)
            if placed:
                fits &= shapely.distance(shapely.union_all(placed), rects) >= spacing
            hit = np.flatnonzero(fits)
            if len(hit):
                placed.append(shapely.set_precision(rects[hit[0]], 0.01))
                break
    return placed


def _scenario_buildings(
    conn: Connection,
    scenario_id: int,
    footprints: list[shapely.Polygon],
    srid: int,
    options: ImportOptions,
) -> list[tuple[str, float]]:
    """The scenario's buildings, through the import pipeline into the scenario (keyed on
    their source ids, so their ids stay stable; one the block no longer has is deleted)."""
    planned = list(zip(BLOCK, footprints, strict=False))
    frame = pd.DataFrame(
        {
            "source_id": [f"new-block/{b[0]}" for b, _ in planned],
            "geom": [shapely.to_wkb(fp) for _, fp in planned],
            "levels": [b[1] for b, _ in planned],
            "usage": [b[2] for b, _ in planned],
            "name": [f"New block, building {b[0]}" for b, _ in planned],
            "roof_type": "flat",
            "year_built": 2028,
            "base_z": 0.0,
            "project": "new-block",
            "proposed": True,
        }
    )
    options = replace(options, scenario_id=scenario_id, prune=True)
    write_frame(conn, frame, layer="buildings", source=PROJECT, srid=srid, options=options)
    return [(b[0], b[1] * options.storey_height) for b, _ in planned]
