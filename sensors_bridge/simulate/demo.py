"""The demo district's live side: its devices, bound to its features, and its buses.

Why here and not in ``geodata.demo``: devices are the registry's (``sensors_bridge``), and
``geodata`` imports none of the others. ``twin demo`` calls :func:`load_live_demo` after the
district is loaded; every step is idempotent (devices are registered again with
``replace``, furniture upserted and pruned under its own source, the feed re-imported).

What is real and what is not: the lamps, schools, cameras, valves and bus stops are the
extract's (OpenStreetMap); the extract maps no parking bay and no flood gauge, so those are
generated (furniture of source :data:`SOURCE`, ``synthetic: true`` with a note), and so is
the bus timetable over the real stops (:mod:`.buses`, its agency named "Synthetic"). Devices
are registered through :func:`sensors_bridge.registry.add_devices`, the path of ``twin
devices import``; each carries ``attrs.simulate``, the profile ``twin simulate`` plays.
"""

from __future__ import annotations

import itertools
import json
import zipfile
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import shapely
from sqlalchemy import Connection, Engine, text

from geodata.demo.frames import write_frame
from geodata.demo.names import SOURCE as OSM_SOURCE
from geodata.importers.base import ImportOptions
from geodata.walking import walk_graph
from geodata.working_crs import require_working_crs
from sensors_bridge.gtfs.store import import_feed
from sensors_bridge.registry import DeviceSpec, add_devices
from sensors_bridge.simulate.buses import Line, Lines, Stop, feed_files, plan_lines, run_seconds
from sensors_bridge.simulate.messages import SimDevice
from sensors_bridge.simulate.profiles import METRICS, RANGES

#: the generated furniture's source (parking bays, the flood gauge): synthetic, flagged
SOURCE = "demo-synthetic-live"
NOTE = "generated for the demo: the OpenStreetMap extract maps none"
#: the demo's GTFS feed (synthetic timetable over the extract's real bus stops)
FEED = "demo-bus"
BAYS = 24
#: bump when what this module registers changes
VERSION = "2"
#: the first bays are reserved for disabled badge holders (tag ``disabled``), the first
#: lamps have a presence sensor (what the shipped rules read: ``twin rules examples``)
DISABLED_BAYS = 2
SMART_LAMPS = 10
#: the device type of a profile, when it is not the profile's own name
TYPES = {"parking_disabled": "parking", "smart_lamp": "lamp"}


def live_dir(data_dir: Path) -> Path:
    return data_dir / "demo"


def lines_file(data_dir: Path) -> Path:
    return live_dir(data_dir) / "bus-lines.json"


def realtime_file(data_dir: Path) -> Path:
    """Where ``twin simulate`` writes the buses' FeedMessage for ``twin gtfs rt``."""
    return live_dir(data_dir) / "gtfs-rt.pb"


def _state(conn: Connection) -> dict[str, Any]:
    """What a re-run compares: the version, the live devices and the feed's trips."""
    return {
        "version": VERSION,
        "devices": conn.execute(
            text("SELECT count(*) FROM devices WHERE attrs ? 'simulate'")
        ).scalar_one(),
        "trips": conn.execute(
            text("SELECT count(*) FROM gtfs_trips WHERE feed = :f"), {"f": FEED}
        ).scalar_one(),
    }


def load_live_demo(
    engine: Engine, data_dir: Path, options: ImportOptions, *, force: bool = False
) -> list[str]:
    """Register the demo's devices and its bus feed; summary lines for the user. A re-run
    that finds them as the last one left them (and the bus lines' file) does nothing."""
    with engine.connect() as conn:
        last = conn.execute(text("SELECT value FROM twin_meta WHERE key = 'demo-live'")).scalar()
        if not force and last and lines_file(data_dir).exists():
            doc = json.loads(last)
            if doc.get("state") == _state(conn):
                return list(doc.get("summary", []))
    with engine.begin() as conn:
        srid = require_working_crs(conn)
        generated = _furniture(conn, srid, options)
        _metrics(conn)
        specs = _devices(conn, generated)
    add_devices(engine, specs, replace=True)
    lines_out = [
        f"live: {len(specs)} devices registered ("
        + ", ".join(f"{n} {k}" for k, n in _kinds(specs).items())
        + f"); {BAYS} parking bays and a flood gauge generated (synthetic: {NOTE})"
    ]
    with engine.connect() as conn:
        lines = bus_lines(conn, srid)
    if lines.lines:
        folder = live_dir(data_dir)
        folder.mkdir(parents=True, exist_ok=True)
        zip_path = folder / "gtfs-demo.zip"
        with zipfile.ZipFile(zip_path, "w") as z:
            for name, content in feed_files(lines, date.today()).items():
                z.writestr(name, content)
        lines_file(data_dir).write_text(json.dumps(lines.as_dict()), encoding="utf-8")
        synthetic = replace(
            options,
            licence="ODbL-1.0",
            attribution="stops © OpenStreetMap contributors; timetable synthetic (not real)",
        )
        report = import_feed(engine, zip_path, feed=FEED, options=synthetic)
        lines_out += [f"live: SYNTHETIC bus {line}" for line in report.lines()]
    with engine.begin() as conn:
        doc = json.dumps({"state": _state(conn), "summary": lines_out})
        conn.execute(
            text(
                "INSERT INTO twin_meta (key, value) VALUES ('demo-live', :v) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
            ),
            {"v": doc},
        )
    return lines_out


def _kinds(specs: list[DeviceSpec]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in specs:
        kind = str((s.attrs or {}).get("simulate"))
        out[kind] = out.get(kind, 0) + 1
    return out


def _furniture(conn: Connection, srid: int, options: ImportOptions) -> dict[str, int]:
    """Parking bays along the district's longest residential street and a flood gauge on the
    shore nearest the centre; their furniture ids by source id."""
    street = conn.execute(
        text(
            "SELECT ST_AsBinary(geom) FROM ground WHERE source = :s AND kind = 'road' "
            "AND attrs->>'highway' IN ('residential', 'tertiary', 'secondary') "
            "AND GeometryType(geom) = 'LINESTRING' ORDER BY ST_Length(geom) DESC, source_id "
            "LIMIT 1"
        ),
        {"s": OSM_SOURCE},
    ).scalar_one()
    line = shapely.from_wkb(bytes(street))
    kerb = shapely.offset_curve(line, 5.0)
    step = min(6.0, kerb.length / (BAYS + 1))
    bays = [kerb.interpolate(step * (i + 1)) for i in range(BAYS)]
    shore = conn.execute(
        text(
            "WITH c AS (SELECT ST_Centroid(ST_Collect(footprint)) AS p FROM buildings "
            "WHERE source = :s AND scenario_id IS NULL) "
            "SELECT ST_AsBinary(ST_ClosestPoint(ST_Boundary(g.geom), c.p)) FROM ground g, c "
            "WHERE g.kind = 'water' AND GeometryType(g.geom) IN ('POLYGON', 'MULTIPOLYGON') "
            "ORDER BY ST_Distance(g.geom, c.p), g.source_id LIMIT 1"
        ),
        {"s": OSM_SOURCE},
    ).scalar_one_or_none()
    rows: list[dict[str, Any]] = [
        {
            "source_id": f"bay-{i + 1:02d}",
            "geom": shapely.to_wkb(p),
            "kind": "parking_space",
            "attrs": {"synthetic": True, "note": NOTE},
        }
        for i, p in enumerate(bays)
    ]
    if shore is not None:
        rows.append(
            {
                "source_id": "flood-gauge-1",
                "geom": bytes(shore),
                "kind": "gauge",
                "name": "Flood gauge (synthetic)",
                "attrs": {"synthetic": True, "note": NOTE, "measures": "water level"},
            }
        )
    frame = pd.DataFrame(rows)
    write_frame(
        conn,
        frame,
        layer="furniture",
        source=SOURCE,
        srid=srid,
        options=replace(options, prune=True),
    )
    found = conn.execute(
        text("SELECT source_id, id FROM furniture WHERE source = :s AND scenario_id IS NULL"),
        {"s": SOURCE},
    )
    return {r[0]: int(r[1]) for r in found}


def _metrics(conn: Connection) -> None:
    units = {m: u for kind in METRICS.values() for m, u in kind.items()}
    for name, (low, high, what) in RANGES.items():
        conn.execute(
            text(
                "INSERT INTO metrics (name, unit, min_value, max_value, description) "
                "VALUES (:n, :u, :lo, :hi, :d) ON CONFLICT (name) DO UPDATE SET "
                "(unit, min_value, max_value, description) = "
                "(EXCLUDED.unit, EXCLUDED.min_value, EXCLUDED.max_value, EXCLUDED.description)"
            ),
            {"n": name, "u": units[name], "lo": low, "hi": high, "d": what},
        )


def _pick(conn: Connection, sql: str, n: int) -> list[tuple[Any, ...]]:
    """``n`` rows spread over the result (every k-th), so devices cover the district."""
    rows = [tuple(r) for r in conn.execute(text(sql), {"s": OSM_SOURCE})]
    k = max(1, len(rows) // n)
    return rows[::k][:n]


def _devices(conn: Connection, generated: dict[str, int]) -> list[DeviceSpec]:
    specs: list[DeviceSpec] = []

    def add(id_: str, protocol: str, kind: str, feature: str, **extra: Any) -> None:
        visibility = extra.pop("visibility", "public")
        external = extra.pop("external_id", None)
        attrs = {"simulate": kind, **extra}
        type_ = TYPES.get(kind, kind)
        specs.append(DeviceSpec(id_, protocol, type_, external, visibility, feature, attrs))

    for i in range(BAYS):
        fid = generated.get(f"bay-{i + 1:02d}")
        if fid is not None:
            eui = f"70B3D57ED00{i + 1:05X}"
            disabled = i < DISABLED_BAYS
            add(
                f"parking-{i + 1:02d}",
                "tts",
                "parking_disabled" if disabled else "parking",
                f"furniture:{fid}",
                external_id=eui,
                synthetic=True,
                **({"tags": ["disabled"]} if disabled else {}),
            )
    if "flood-gauge-1" in generated:
        add(
            "flood-gauge-1",
            "mqtt",
            "flood_gauge",
            f"furniture:{generated['flood-gauge-1']}",
            zero_altitude_m=-0.25,
            datum="N2000",
            synthetic=True,
        )
    base = "SELECT id, source_id FROM furniture WHERE source = :s AND scenario_id IS NULL"
    lamps = _pick(conn, f"{base} AND kind = 'lamp' ORDER BY source_id", 40)
    for n, (fid, sid) in enumerate(lamps):
        add(f"lamp-{sid}", "mqtt", "smart_lamp" if n < SMART_LAMPS else "lamp", f"furniture:{fid}")
    for fid, sid in lamps[:: max(1, len(lamps) // 2)][:2]:  # air quality on two lamp posts
        add(f"air-{sid}", "http", "air_quality", f"furniture:{fid}")
    schools = _pick(
        conn,
        "SELECT id, coalesce(name, '') FROM buildings WHERE source = :s AND scenario_id IS NULL "
        "AND usage = 'school' ORDER BY id",
        10,
    )
    for n, (bid, name) in enumerate(schools):
        for room in (1, 2):
            eui = f"A84041000{n:03X}{room:04X}"
            add(
                f"co2-school-{bid}-{room}",
                "chirpstack",
                "co2",
                f"buildings:{bid}",
                external_id=eui,
                room=f"classroom {room}",
                school=name or None,
            )
    cameras = _pick(conn, f"{base} AND kind = 'camera' ORDER BY source_id", 8)
    for fid, sid in cameras:
        add(f"camera-{sid}", "mqtt", "camera", f"cameras:{fid}", visibility="agent")
    valves = _pick(
        conn,
        "SELECT id, source_id FROM network_nodes WHERE kind = 'valve' AND network = 'water' "
        "ORDER BY source_id",
        6,
    )
    for fid, sid in valves:
        add(f"pressure-{sid}", "mqtt", "pressure", f"network-nodes:{fid}", visibility="agent")
    return specs


def bus_lines(conn: Connection, srid: int, seed: int = 10) -> Lines:
    """The demo's bus lines over the extract's bus stops, each leg along the streets."""
    rows = conn.execute(
        text(
            "SELECT source_id, coalesce(name, source_id), ST_X(g), ST_Y(g), ST_X(p), ST_Y(p) "
            "FROM (SELECT source_id, name, ST_Transform(geom, 4326) AS g, geom AS p "
            "FROM furniture WHERE source = :s AND kind = 'bus_stop' AND scenario_id IS NULL) f "
            "ORDER BY source_id"
        ),
        {"s": OSM_SOURCE},
    ).all()
    stops = [Stop(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]
    chains = plan_lines(stops)
    graph = walk_graph(conn, sources=[OSM_SOURCE], kinds=("road",)) if chains else None
    from pyproj import Transformer

    to_lonlat = Transformer.from_crs(srid, 4326, always_xy=True)
    lines: list[Line] = []
    for number, chain in enumerate(chains, start=1):
        legs, runs = [], []
        for a, b in itertools.pairwise(chain):
            coords: Any = [(a.x, a.y), (b.x, b.y)]
            walk = graph.shortest_path((a.x, a.y), (b.x, b.y)) if graph is not None else None
            if walk is not None:  # else no street path: the straight leg
                coords = [tuple(c) for c in walk.coords[:, :2]]
            lon, lat = to_lonlat.transform([c[0] for c in coords], [c[1] for c in coords])
            leg = [(round(x, 6), round(y, 6)) for x, y in zip(lon, lat, strict=True)]
            legs.append(leg)
            runs.append(run_seconds(shapely.LineString(coords).length))
        lines.append(Line(f"D{number}", [s.stop_id for s in chain], legs, runs))
    used = {sid for line in lines for sid in line.stops}
    return Lines(lines, {s.stop_id: s for s in stops if s.stop_id in used}, seed)


def simulated_devices(conn: Connection) -> list[SimDevice]:
    """The registry's active devices that carry a profile (``attrs.simulate``), by id."""
    rows = conn.execute(
        text(
            "SELECT id, protocol, attrs->>'simulate', external_id, attrs FROM devices "
            "WHERE status = 'active' AND attrs ? 'simulate' AND protocol <> 'gtfs' ORDER BY id"
        )
    )
    return [SimDevice(r[0], r[1], r[2], r[3], r[4] or {}) for r in rows if r[2] in METRICS]


def load_lines(data_dir: Path) -> Lines | None:
    path = lines_file(data_dir)
    if not path.exists():
        return None
    return Lines.from_dict(json.loads(path.read_text(encoding="utf-8")))
