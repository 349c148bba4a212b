"""What the route and circuit analyses share: the walking network (built once per version of
the ground and the terrain, kept in the process), the profile a request asks for, points
from ``X,Y`` text, and the bus stops near a walk with their next departures.

The network is cached because building it (noding ~2,500 lines, snapping kerbs, sampling
slopes) takes longer than any query on it; the cache key is the data version of the tables
it reads (:func:`twin.analysis.cache.data_version`), so an import of the ground is seen at
the next request.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Literal

import numpy as np
import shapely
from numpy.typing import NDArray
from pydantic import Field, field_validator
from sqlalchemy import Engine, text

from geodata.access import Principal
from geodata.datasets import hidden_rows_clause
from geodata.errors import NotFound
from geodata.walk_network import Heights, WalkNetwork, walk_network
from geodata.walk_profiles import PROFILES, TREATMENTS, Profile
from geodata.walk_routing import distance_to_network
from twin.analysis.base import Params
from twin.analysis.cache import data_version

#: the tables the network is built from ("terrain": the DEM, when the twin has one)
NETWORK_TABLES = ("ground", "terrain")
_lock = threading.Lock()
_networks: dict[tuple[str, str], WalkNetwork] = {}


def terrain_heights(engine: Engine) -> Heights:
    """The terrain's heights (:func:`geodata.terrain.heights_at`); without a DEM it answers
    None and slopes come from ``incline`` tags only."""

    def heights(xy: NDArray[np.float64]) -> NDArray[np.float64] | None:
        from geodata.terrain import heights_at

        got = heights_at(engine, xy)
        return None if got is None else np.asarray(got, dtype=np.float64)

    return heights


def network_for(engine: Engine, principal: Principal) -> WalkNetwork:
    """The walking network of the twin's ground now, of the datasets ``principal`` may see
    (built once per data version and per set of visibilities seen)."""
    sees = ",".join(sorted(principal.sees))
    key = (str(engine.url), f"{data_version(engine, NETWORK_TABLES)}/{sees}")
    with _lock:
        net = _networks.get(key)
        if net is None:
            with engine.connect() as conn:
                net = walk_network(
                    conn,
                    heights=terrain_heights(engine),
                    where=hidden_rows_clause("ground", principal),
                )
            if net is None:
                raise NotFound(
                    "the twin has no footways or streets to walk: import the ground layer "
                    "(`twin import FILE --layer ground`, or `twin demo`)"
                )
            # one version per database is kept (for every set of visibilities asked)
            version = key[1].split("/")[0]
            for old in [k for k in _networks if k[0] == key[0] and k[1].split("/")[0] != version]:
                del _networks[old]
            _networks[key] = net
    return net


class WalkParams(Params):
    """What routes and circuits share: the profile and its limits."""

    profile: Literal["foot", "wheelchair"] = Field(
        "foot", description="foot (steps allowed) or wheelchair (French rule of 15 Jan. 2007)"
    )
    max_incline: float | None = Field(
        None, ge=0, le=100, description="steepest slope allowed (percent); wheelchair: 5"
    )
    min_width: float | None = Field(
        None, ge=0, le=20, description="narrowest way allowed (m); wheelchair: 1.40"
    )
    max_kerb: float | None = Field(
        None, ge=0, le=1, description="highest kerb allowed (m); wheelchair: 0.02"
    )
    unknown: Literal["allow", "avoid", "forbid"] | None = Field(
        None,
        description="ways whose limited properties are not given: allow, avoid (cost x2) or "
        "forbid; wheelchair: avoid",
    )

    def walking_profile(self) -> Profile:
        base = PROFILES[self.profile]
        assert self.unknown is None or self.unknown in TREATMENTS
        return base.with_limits(
            max_incline_pct=self.max_incline,
            min_width_m=self.min_width,
            max_kerb_m=self.max_kerb,
            unknown=self.unknown,
        )


def parse_xy(value: Any, what: str) -> tuple[float, float]:
    """``"X,Y"`` or ``[X, Y]`` (working CRS, metres) as two floats."""
    if isinstance(value, list | tuple) and len(value) == 1:  # ?from=X,Y in a query string
        value = value[0]
    if isinstance(value, str):
        parts = value.replace(";", ",").split(",")
    elif isinstance(value, list | tuple):
        parts = list(value)
    else:
        parts = []
    try:
        x, y = (float(p) for p in parts)
    except (TypeError, ValueError):
        msg = f"{what}: give X,Y in the working CRS (metres), e.g. 385000,6672000"
        raise ValueError(msg) from None
    if not (np.isfinite(x) and np.isfinite(y)):
        raise ValueError(f"{what}: X and Y must be finite numbers")
    return x, y


def xy_validator(*fields: str) -> Any:
    def check(cls: type, v: Any, info: Any) -> tuple[float, float]:
        return parse_xy(v, f"--{info.field_name.rstrip('_')}")

    return field_validator(*fields, mode="before")(check)


def check_near(net: WalkNetwork, xy: tuple[float, float], what: str, limit_m: float) -> None:
    """Refuse a point further than ``limit_m`` from every way: it is not in the district."""
    d = distance_to_network(net, xy)
    if d > limit_m:  # 404: a well-formed point where the twin has no way
        raise NotFound(
            f"{what} {xy[0]:.1f},{xy[1]:.1f} is {d:.0f} m from the nearest footway or street "
            f"(at most {limit_m:g} m): give a point of the twin's district in the working CRS"
        )


def bus_stops_near(
    engine: Engine,
    principal: Principal,
    coords: NDArray[np.float64],
    radius_m: float,
    epsg: int,
    limit: int = 3,
) -> list[dict[str, Any]]:
    """``bus_stop`` furniture within ``radius_m`` of the walk, nearest first, with each GTFS
    stop's next departures (``sensors_bridge.gtfs.departures``, the logic of
    ``/api/stops/{stop_id}/next``) when its feed is imported."""
    line = shapely.to_wkb(shapely.linestrings(coords))
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT f.id, f.name, f.source, f.source_id, ST_X(f.geom), ST_Y(f.geom), "
                "ST_Distance(f.geom, w.g), ST_LineLocatePoint(w.g, f.geom) "
                "FROM furniture f, (SELECT ST_SetSRID(ST_GeomFromWKB(:g), :srid) AS g) w "
                "WHERE f.kind = 'bus_stop' AND f.scenario_id IS NULL "
                "AND ST_DWithin(f.geom, w.g, :r) "
                + (
                    f"AND {hidden} "
                    if (hidden := hidden_rows_clause("furniture", principal, "f"))
                    else ""
                )
                + "ORDER BY 8, 1"
            ),
            {"g": line, "srid": epsg, "r": radius_m},
        ).all()
        feeds = _feeds(conn)
        stops = []
        for r in rows:
            stop: dict[str, Any] = {
                "id": int(r[0]),
                "lonlat": lonlat(float(r[4]), float(r[5]), epsg),
                "name": r[1],
                "source_id": r[3],
                "x": round(float(r[4]), 2),
                "y": round(float(r[5]), 2),
                "distance_m": round(float(r[6]), 1),
                "along_m": round(float(r[7]) * float(shapely.length(shapely.from_wkb(line))), 1),
            }
            feed = feeds.get(str(r[2]))
            if feed is not None:
                stop["feed"] = feed
                stop["next"] = _next_departures(conn, feed, str(r[3]), limit)
            stops.append(stop)
    return stops


def _feeds(conn: Any) -> dict[str, str]:
    """Furniture source -> GTFS feed name, for the feeds the twin has imported."""
    exists = conn.execute(text("SELECT to_regclass('gtfs_feeds') IS NOT NULL")).scalar()
    if not exists:
        return {}
    from sensors_bridge.gtfs.store import stop_source

    names = conn.execute(text("SELECT name FROM gtfs_feeds")).scalars()
    return {stop_source(n): str(n) for n in names}


def _next_departures(conn: Any, feed: str, stop_id: str, limit: int) -> list[dict[str, Any]]:
    from geodata.pg import raw_connection
    from sensors_bridge.gtfs.departures import next_departures

    got = next_departures(
        raw_connection(conn), feed=feed, stop_id=stop_id, at=int(time.time()), limit=limit
    )
    return [d.as_dict() for d in got.departures]


def line_geojson(coords: NDArray[np.float64]) -> dict[str, Any]:
    return {"type": "LineString", "coordinates": np.round(coords, 2).tolist()}


def lonlat_geojson(coords: NDArray[np.float64], epsg: int) -> dict[str, Any]:
    """The line in WGS 84 longitudes and latitudes (RFC 7946), for web maps and the viewer."""
    from geodata.crs import transformer

    lon, lat = transformer(epsg, 4326).transform(coords[:, 0], coords[:, 1])
    pts = np.column_stack([np.atleast_1d(lon), np.atleast_1d(lat)])
    return {"type": "LineString", "coordinates": np.round(pts, 7).tolist()}


def lonlat(x: float, y: float, epsg: int) -> tuple[float, float]:
    from geodata.crs import transformer

    lon, lat = transformer(epsg, 4326).transform(x, y)
    return round(float(lon), 7), round(float(lat), 7)


def seen_visibility(engine: Engine, principal: Principal, tables: tuple[str, ...]) -> str:
    """The strictest visibility of the datasets of ``tables`` the caller may see: a walk is
    computed over all of them, so its result is as restricted as the strictest (a citizen's
    walk is public; an agent's may use an agent-only dataset's footway)."""
    from geodata.access import strictest
    from geodata.datasets import sources_visibility

    with engine.connect() as conn:
        return strictest(
            *(sources_visibility(conn, t, hidden_rows_clause(t, principal, "t")) for t in tables)
        )
