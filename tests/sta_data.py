"""A small synthetic live world for the SensorThings tests: devices of every visibility,
one bound to an agent-only layer, one quarantined, observations written by the real batch
writer (so ids, Datastreams and ObservedProperties come the way production makes them).

Synthetic data: invented device ids, positions in Helsinki (EPSG:3067) and values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, text

from geodata.working_crs import set_working_crs
from sensors_bridge.model import Observation
from sensors_bridge.store import BatchWriter

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
#: device id -> (visibility, x, y in EPSG:3067 or None, bound feature)
DEVICES: dict[str, tuple[str, tuple[float, float] | None, str | None]] = {
    "air-1": ("public", (385000.0, 6672000.0), None),
    "air-2": ("public", (386000.0, 6673000.0), None),
    "gauge-agent": ("agent", (385500.0, 6672500.0), None),
    "meter-secret": ("confidential", None, None),
    "cam-1": ("public", None, "cameras:8"),  # public itself, agent-only through its layer
}
#: what each principal may know of (the rule written out by hand)
KNOWN = {
    "anonymous": {"air-1", "air-2"},
    "citizen": {"air-1", "air-2"},
    "agent": {"air-1", "air-2", "gauge-agent", "cam-1"},
    "planner": {"air-1", "air-2", "gauge-agent", "cam-1"},
    "operator": {"air-1", "air-2", "gauge-agent", "cam-1"},
    "admin": {"air-1", "air-2", "gauge-agent", "cam-1", "meter-secret"},
}
N_TEMPERATURE = 30  # air-1's temperature observations, a minute apart


@dataclass(frozen=True)
class StaWorld:
    thing: dict[str, int]  # device id -> @iot.id
    datastream: dict[tuple[str, str], int]
    #: device id -> its current Location's (and first HistoricalLocation's) @iot.id
    location: dict[str, int]


def seed_sta(engine: Engine) -> StaWorld:
    with engine.begin() as conn:
        set_working_crs(conn, 3067)
        conn.execute(
            text(
                "INSERT INTO furniture (id, source, source_id, kind, geom) VALUES (8, 'osm', "
                "'n8', 'camera', ST_SetSRID(ST_MakePoint(385010, 6672000, 0), 3067))"
            )
        )
        conn.execute(
            text("INSERT INTO metrics (name, unit, description) VALUES ('pm10', 'ug/m3', 'PM10')")
        )
        for device, (vis, xy, feature) in DEVICES.items():
            layer, fid = feature.split(":") if feature else (None, None)
            geom = (
                "ST_SetSRID(ST_MakePoint(:x, :y, 0), 3067)"
                if xy
                else "(SELECT geom FROM furniture WHERE id = 8)"
                if feature
                else "NULL"
            )
            conn.execute(
                text(
                    "INSERT INTO devices (id, protocol, type, visibility, layer, feature_id, geom)"
                    f" VALUES (:i, 'http', 'air_quality', :v, :l, :f, {geom})"
                ),
                {
                    "i": device,
                    "v": vis,
                    "l": layer,
                    "f": int(fid) if fid else None,
                    "x": xy[0] if xy else None,
                    "y": xy[1] if xy else None,
                },
            )
    obs = [
        Observation("air-1", "temperature", 10.0 + i, T0 + timedelta(minutes=i), unit="Cel")
        for i in range(N_TEMPERATURE)
    ]
    obs += [Observation("air-1", "pm10", 12.5, T0, unit="ug/m3")]
    obs += [Observation("air-2", "temperature", -3.0, T0 + timedelta(days=31), unit="Cel")]
    obs += [Observation(d, "level", 1.0, T0) for d in ("gauge-agent", "meter-secret", "cam-1")]
    obs += [Observation("ghost", "temperature", 99.0, T0)]  # quarantined: never a Thing
    BatchWriter(engine, "http").write(obs, now=T0 + timedelta(days=40))
    with engine.connect() as conn:
        things = dict(conn.execute(text("SELECT id, sta_id FROM devices")).all())
        streams = {
            (d, m): i
            for d, m, i in conn.execute(text("SELECT device_id, metric, sta_id FROM latest_state"))
        }
        located = dict(
            conn.execute(text("SELECT device_id, max(id) FROM device_locations GROUP BY 1")).all()
        )
    return StaWorld(things, streams, located)
