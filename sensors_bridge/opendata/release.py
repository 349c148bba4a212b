"""Declaring an open aggregate and releasing its closed windows, once.

An open aggregate is a ``datasets`` row of layer ``live`` (so the catalogue, DCAT-AP, the
access rule and the audit treat it as any dataset) and a ``live_aggregates`` row saying what
it aggregates. Releasing is idempotent and happens on download: the windows that closed
(their end ``grace_s`` in the past) since the last release are grouped in one SQL statement
(per device first, then per window and cell), anonymised (:mod:`.aggregate`) and written to
``live_releases``, and ``released_until`` moves on, in one transaction under a row lock.

Why release once, instead of computing each download afresh:

- noise drawn again at each download would average away over downloads;
- a window recomputed after late observations arrived would let a differencing attacker read
  the late ones (often one device's) off two downloads;
- an open window, growing while it is downloaded, would do the same with each new observation.

So a published number never changes, and what a download shows is a prefix of what any later
download shows. The feeding devices are the type's active devices whose visibility (strictest
of their own and their bound layer's) :func:`geodata.access.may_feed_aggregate` accepts, with a
location; a device's cell is taken from where it is at release time.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import IntegrityError

from geodata.access import EXPORTABLE, check_known, may_feed_aggregate, strictest
from geodata.errors import InputError, NotFound
from geodata.layers import LAYERS
from geodata.vocab import LIVE_LAYER
from sensors_bridge.history import parse_bucket
from sensors_bridge.opendata.aggregate import Anonymisation, Group, Noise, publish
from sensors_bridge.opendata.models import check_model

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: groups read, anonymised and written per batch
BATCH = 2_000


@dataclass(frozen=True)
class LiveSpec:
    """One open aggregate: what it groups and how it anonymises (a ``live_aggregates`` row)."""

    dataset_id: int
    source: str
    device_type: str
    metric: str
    window: timedelta
    cell_m: float
    how: Anonymisation
    model: str
    attribute: str
    grace: timedelta
    released_until: datetime | None

    def closed_until(self, now: datetime) -> datetime:
        """The start of the first window not closed at ``now`` (windows align on the epoch)."""
        step = self.window.total_seconds()
        cut = (now - self.grace - EPOCH).total_seconds()
        return EPOCH + timedelta(seconds=math.floor(cut / step) * step)

    def public_dict(self) -> dict[str, Any]:
        """What an open-data user needs to read the numbers (no device in it)."""
        return {
            "device_type": self.device_type,
            "metric": self.metric,
            "window_seconds": int(self.window.total_seconds()),
            "cell_m": self.cell_m,
            "k": self.how.k,
            "epsilon": self.how.epsilon,
            "bounds": [self.how.lower, self.how.upper],
            "model": self.model,
            "attribute": self.attribute,
            "released_until": self.released_until.isoformat() if self.released_until else None,
            "description": self.describe(),
        }

    def describe(self) -> str:
        dp = (
            f", differentially private (epsilon {self.how.epsilon:g} per window)"
            if (self.how.epsilon)
            else ""
        )
        return (
            f"mean {self.metric} of {self.device_type} devices per {_span(self.window)} and "
            f"{self.cell_m:g} m grid cell; groups of fewer than {self.how.k} devices are not "
            f"published{dp}; no device identifiers"
        )


def _span(window: timedelta) -> str:
    s = int(window.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if s % size == 0:
            n = s // size
            return f"{unit}" if n == 1 else f"{n} {unit}s"
    return f"{s} s"


_SPEC = """
SELECT a.*, d.source FROM live_aggregates a JOIN datasets d ON d.id = a.dataset_id
WHERE a.dataset_id = :d
"""


def _spec(row: Any) -> LiveSpec:
    return LiveSpec(
        dataset_id=row.dataset_id,
        source=row.source,
        device_type=row.device_type,
        metric=row.metric,
        window=timedelta(seconds=row.window_s),
        cell_m=row.cell_m,
        how=Anonymisation(row.k, row.epsilon, row.lower, row.upper),
        model=row.model,
        attribute=row.attribute,
        grace=timedelta(seconds=row.grace_s),
        released_until=row.released_until,
    )


def get_spec(conn: Connection, dataset_id: int, *, lock: bool = False) -> LiveSpec:
    row = conn.execute(
        text(_SPEC + (" FOR UPDATE OF a" if lock else "")), {"d": dataset_id}
    ).first()
    if row is None:
        raise NotFound(f"dataset {dataset_id} is no open aggregate: `twin opendata list`")
    return _spec(row)


def list_specs(conn: Connection) -> list[LiveSpec]:
    rows = conn.execute(text(_SPEC.replace("WHERE a.dataset_id = :d", "ORDER BY d.source")))
    return [_spec(r) for r in rows]


@dataclass(frozen=True)
class Declaration:
    """What ``twin opendata add`` asks for (checked by :func:`declare`)."""

    name: str
    device_type: str
    metric: str
    window: str
    cell_m: float
    k: int
    model: str
    attribute: str | None = None
    epsilon: float | None = None
    bounds: tuple[float, float] | None = None
    visibility: str = "public"
    title: str | None = None
    licence: str | None = None
    attribution: str | None = None
    grace_s: int = 300


def declare(engine: Engine, d: Declaration, *, min_k: int) -> int:
    """Add an open aggregate to the catalogue; its dataset id.

    :raises InputError: a value out of range, a confidential visibility (never exported), a
        k under ``min_k`` (``TWIN_OPENDATA_MIN_K``), DP without bounds, an unknown model or
        attribute, or a second aggregate of the same device type and metric (two grids over
        the same devices could be differenced to read a suppressed group).
    """
    window = parse_bucket(d.window)
    if window < timedelta(minutes=1):
        raise InputError(f"window {d.window}: give at least 1m")
    if not (math.isfinite(d.cell_m) and 1 <= d.cell_m <= 100_000):
        raise InputError(f"cell {d.cell_m}: give a grid cell side of 1 to 100000 metres")
    if d.k < min_k:
        raise InputError(
            f"k {d.k} is under this twin's minimum group size {min_k} (TWIN_OPENDATA_MIN_K)"
        )
    if check_known(d.visibility) not in EXPORTABLE:
        raise InputError(
            f"visibility {d.visibility}: an open aggregate is for export, and confidential "
            "data is never exported; choose public or agent"
        )
    _, attribute = check_model(d.model, d.attribute)
    with engine.begin() as conn:
        lower, upper = d.bounds if d.bounds else _metric_range(conn, d.metric)
        how = Anonymisation(d.k, d.epsilon, lower, upper)  # checks epsilon and bounds
        clash = conn.execute(
            text(
                "SELECT d.source FROM live_aggregates a JOIN datasets d ON d.id = a.dataset_id "
                "WHERE a.device_type = :t AND a.metric = :m"
            ),
            {"t": d.device_type, "m": d.metric},
        ).first()
        if clash is not None:
            raise InputError(
                f"open aggregate {clash.source!r} already publishes {d.metric} of "
                f"{d.device_type} devices: one aggregate per device type and metric, since "
                "two grids or windows over the same devices can be subtracted to reveal a "
                "suppressed group; change that one instead"
            )
        try:
            dataset_id = conn.execute(
                text(
                    "INSERT INTO datasets (source, layer, title, licence, attribution, "
                    "visibility, features) VALUES (:s, :l, :t, :li, :a, :v, 0) RETURNING id"
                ),
                {
                    "s": d.name,
                    "l": LIVE_LAYER,
                    "t": d.title or f"{d.metric} of {d.device_type} devices (open aggregate)",
                    "li": d.licence,
                    "a": d.attribution,
                    "v": d.visibility,
                },
            ).scalar_one()
        except IntegrityError:
            raise InputError(
                f"an open aggregate named {d.name!r} exists: choose another name"
            ) from None
        conn.execute(
            text(
                "INSERT INTO live_aggregates (dataset_id, device_type, metric, window_s, cell_m, "
                "k, epsilon, lower, upper, model, attribute, grace_s) VALUES (:d, :t, :m, :w, "
                ":c, :k, :e, :lo, :hi, :mo, :at, :g)"
            ),
            {
                "d": dataset_id,
                "t": d.device_type,
                "m": d.metric,
                "w": int(window.total_seconds()),
                "c": d.cell_m,
                "k": how.k,
                "e": how.epsilon,
                "lo": how.lower,
                "hi": how.upper,
                "mo": d.model,
                "at": attribute,
                "g": d.grace_s,
            },
        )
    return int(dataset_id)


def _metric_range(conn: Connection, metric: str) -> tuple[float | None, float | None]:
    row = conn.execute(
        text("SELECT min_value, max_value FROM metrics WHERE name = :m"), {"m": metric}
    ).first()
    return (row.min_value, row.max_value) if row is not None else (None, None)


def feeding_devices(conn: Connection, device_type: str) -> list[str]:
    """The devices of ``device_type`` whose observations may feed an open aggregate."""
    rows = conn.execute(
        text(
            "SELECT id, visibility, layer, status FROM devices "
            "WHERE type = :t AND geom IS NOT NULL ORDER BY id"
        ),
        {"t": device_type},
    )
    out = []
    for r in rows:
        layer = LAYERS.get(r.layer) if r.layer else None
        visibility = strictest(r.visibility, layer.visibility if layer else None)
        if may_feed_aggregate(visibility, r.status):
            out.append(r.id)
    return out


_GROUPS = """
WITH src AS (
    SELECT id, floor(ST_X(geom) / :cell)::bigint AS cx, floor(ST_Y(geom) / :cell)::bigint AS cy
    FROM devices WHERE id = ANY(:ids)
), per_device AS (
    SELECT date_bin(:w, o.at, TIMESTAMPTZ '1970-01-01 00:00Z') AS ws, s.cx, s.cy, o.device_id,
           avg(LEAST(GREATEST(o.value, CAST(:lo AS double precision)),
                     CAST(:hi AS double precision))) AS v
    FROM observations o JOIN src s ON s.id = o.device_id
    WHERE o.metric = :m AND o.value IS NOT NULL
      AND o.at >= coalesce(CAST(:a AS timestamptz), '-infinity') AND o.at < :z
    GROUP BY 1, 2, 3, 4
)
SELECT ws, cx, cy, count(*) AS n, sum(v) AS total FROM per_device
GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""


def groups(
    conn: Connection, spec: LiveSpec, devices: Sequence[str], until: datetime
) -> Iterator[list[Group]]:
    """The exact groups of the windows from ``released_until`` to ``until``, in batches."""
    sql = text(_GROUPS).execution_options(stream_results=True, yield_per=BATCH)
    result = conn.execute(
        sql,
        {
            "cell": spec.cell_m,
            "ids": list(devices),
            "w": spec.window,
            "lo": spec.how.lower,
            "hi": spec.how.upper,
            "m": spec.metric,
            "a": spec.released_until,
            "z": until,
        },
    )
    for rows in result.partitions(BATCH):
        yield [Group(r.ws, r.cx, r.cy, r.n, float(r.total)) for r in rows]


def release_closed(
    engine: Engine, dataset_id: int, *, now: datetime | None = None, noise: Noise | None = None
) -> int:
    """Publish the windows closed since the last release; the number of groups published."""
    now = now or datetime.now(UTC)
    with engine.begin() as conn:
        spec = get_spec(conn, dataset_id, lock=True)  # concurrent downloads release once
        until = spec.closed_until(now)
        if spec.released_until is not None and spec.released_until >= until:
            return 0
        devices = feeding_devices(conn, spec.device_type)
        released = 0
        for batch in groups(conn, spec, devices, until) if devices else []:
            rows = [
                {
                    "d": dataset_id,
                    "w": r.window_start,
                    "x": r.cell_x,
                    "y": r.cell_y,
                    "n": r.devices,
                    "m": r.mean,
                }
                for r in publish(batch, spec.how, noise)
            ]
            if rows:
                conn.execute(
                    text(
                        "INSERT INTO live_releases (dataset_id, window_start, cell_x, cell_y, "
                        "devices, mean) VALUES (:d, :w, :x, :y, :n, :m)"
                    ),
                    rows,
                )
            released += len(rows)
        conn.execute(
            text("UPDATE live_aggregates SET released_until = :z WHERE dataset_id = :d;"),
            {"z": until, "d": dataset_id},
        )
        conn.execute(
            text(
                "UPDATE datasets SET features = (SELECT count(*) FROM live_releases "
                "WHERE dataset_id = :d), imported_at = now() WHERE id = :d"
            ),
            {"d": dataset_id},
        )
    return released
