"""Synthetic utility networks along the district's own streets.

A city's utility networks are not open data, yet a field agent's view of the twin is mostly
about them. So the demo generates plausible mains along the district's streets for the eight
networks, each offset from the centreline so they do not overlap, at a realistic cover depth,
with diameter by street hierarchy, material by network and installation decade, and an
operator. Every generated row says so (``synthetic = true`` and an ``attrs.note``). Generation
is deterministic (seeded) and vectorised with shapely 2.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from sqlalchemy import Connection, text

from geodata.demo.frames import write_frame
from geodata.demo.names import SEED, SOURCE, SYNTHETIC, SYNTHETIC_NOTE
from geodata.demo.network_specs import _BIG_ROADS, MAIN_ROADS, SPECS, NetworkSpec
from geodata.demo.streets import Streets, street_graph
from geodata.grounding import ground_of, raised_by_ground
from geodata.importers.base import ImportOptions
from geodata.terrain import read_dem


@dataclass
class NetworkResult:
    segments: Counter[str]
    nodes: Counter[str]
    length_km: float
    branches: int


def _materials(spec: NetworkSpec, year: NDArray[Any], main: NDArray[Any]) -> NDArray[Any]:
    out = np.empty(len(year), dtype=object)
    assigned = np.zeros(len(year), dtype=bool)
    for until, main_mat, dist_mat in spec.materials:
        hit = ~assigned & (year < until)
        out[hit & main] = main_mat
        out[hit & ~main] = dist_mat
        assigned |= hit
    return out


def _pick(
    rng: np.random.Generator, choices: tuple[int, ...], n: int, upper: NDArray[Any]
) -> NDArray[Any]:
    """A standard size per edge: the larger half of ``choices`` where ``upper`` is set."""
    c = np.array(choices, dtype=float)
    half = max(1, len(c) // 2)
    low = rng.choice(c[: len(c) - half] if len(c) > 1 else c, size=n)
    high = rng.choice(c[len(c) - half :], size=n)
    return np.where(upper, high, low)


def generate_networks(conn: Connection, srid: int, options: ImportOptions) -> NetworkResult:
    """Synthetic mains of the eight networks along the district's streets, with their nodes,
    written through the import pipeline as the whole of source ``demo-synthetic``."""
    streets = street_graph(conn)
    n = len(streets.edges)
    seg_frames: list[pd.DataFrame] = []
    node_frames: list[pd.DataFrame] = []
    water_lines: tuple[NDArray[Any], pd.DataFrame] | None = None
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
    segments["synthetic"] = True
    nodes["synthetic"] = True
    ground = ground_of(read_dem(conn))
    if ground is not None:  # depths were laid from a flat ground at 0: lay them under the DEM
        for frame in (segments, nodes):
            raised = raised_by_ground(shapely.from_wkb(frame["geom"].to_numpy()), ground)
            frame["geom"] = shapely.to_wkb(raised, hex=True, output_dimension=3)
    options = replace(options, prune=True)
    for layer, frame in (("networks", segments), ("network-nodes", nodes)):
        write_frame(conn, frame, layer=layer, source=SYNTHETIC, srid=srid, options=options)
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


def _era_weights(decades: NDArray[Any]) -> NDArray[Any]:
    """Helsinki's centre: much laid before 1970, a steady renewal since."""
    w: NDArray[Any] = np.where(decades < 1950, 1.0, np.where(decades < 1980, 1.6, 1.0))
    out: NDArray[Any] = w / w.sum()
    return out


def _lay_network(
    spec: NetworkSpec,
    k: int,
    streets: Streets,
    main: NDArray[Any],
    big: NDArray[Any],
    era: NDArray[Any],
    renewed: NDArray[Any],
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
            # surveyed recently = class A, in the 1990s-2000s = B, older = C (synthetic)
            "location_class": np.where(
                year[e] >= 2012, "A", np.where(year[e] >= 1990, "B", "C")
            ).astype(object),
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


def _along(xy: NDArray[Any], line_of: NDArray[Any]) -> NDArray[Any]:
    """Distance along its line of every vertex of a flat, grouped coordinate array."""
    seglen = np.r_[0.0, np.hypot(*np.diff(xy, axis=0).T)]
    seglen[np.r_[True, np.diff(line_of) != 0]] = 0.0
    s: NDArray[Any] = np.cumsum(seglen)
    first = np.searchsorted(line_of, line_of)
    out: NDArray[Any] = s - s[first]
    return out


def _sections(
    xy: NDArray[Any], s: NDArray[Any], line_of: NDArray[Any], length: NDArray[Any], step: float
) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any]]:
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


def _segment_attrs(streets: Streets, spec: NetworkSpec, edge: int, main: bool) -> dict[str, Any]:
    name, highway, along = streets.road_info[edge]
    attrs: dict[str, Any] = {
        "note": SYNTHETIC_NOTE,
        "hierarchy": "main" if main else "distribution",
    }
    if name:
        attrs["street"] = name
    attrs.update({"road_class": highway, "along": along})
    attrs.update({a: (mv if main else dv) for a, mv, dv in spec.extra})
    return attrs


def _nodes(spec: NetworkSpec, kind: str, xy: NDArray[Any], depth: NDArray[Any]) -> pd.DataFrame:
    """Network nodes at ``xy`` (deduplicated to the centimetre), ``depth`` below ground."""
    if not len(xy):
        return _empty_nodes()
    key, first = np.unique(np.round(xy, 2), axis=0, return_index=True)
    depth = np.round(np.asarray(depth, dtype=float)[first], 2)
    attrs = {"note": SYNTHETIC_NOTE, "operator": spec.operator}
    return pd.DataFrame(
        {
            "source_id": [f"{spec.network}:{kind}:{x:.2f},{y:.2f}" for x, y in key],
            "network": spec.network,
            "kind": kind,
            "geom": shapely.to_wkb(
                shapely.points(np.column_stack([xy[first], -depth])), hex=True, output_dimension=3
            ),
            "depth_m": depth,
            "attrs": [attrs] * len(key),
        }
    )


def _hydrant_branches(conn: Connection, water: tuple[NDArray[Any], pd.DataFrame]) -> pd.DataFrame:
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
                "attrs": {
                    "note": SYNTHETIC_NOTE,
                    "hierarchy": "service",
                    "serves": f"hydrant {hydrants[hi][0]}",
                },
            }
        )
    return pd.DataFrame(rows) if rows else _empty_segments()


#: columns of the generated frames (``attrs`` holds a dict per row)
SEGMENT_COLS = (
    "source_id",
    "network",
    "geom",
    "depth_m",
    "diameter_mm",
    "material",
    "install_year",
    "operator",
    "attrs",
)
NODE_COLS = ("source_id", "network", "kind", "geom", "depth_m", "attrs")


def _empty_segments() -> pd.DataFrame:
    return pd.DataFrame({c: [] for c in SEGMENT_COLS})


def _empty_nodes() -> pd.DataFrame:
    return pd.DataFrame({c: [] for c in NODE_COLS})
