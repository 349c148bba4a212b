"""Downloads of an open aggregate: CSV, and FIWARE Smart Data Models as NGSI-LD key-values.

Who may download is the one access rule: :func:`plan` checks the dataset with
:func:`geodata.access.check_export` at the dataset's own visibility (an aggregate of
agent-only sensors may be public: aggregation is what makes it publishable; confidential
devices never feed one, :func:`geodata.access.may_feed_aggregate`). Downloading first
releases the windows that closed since the last download (:mod:`.release`), then streams the
releases in batches, so memory is bounded by a batch whatever the span.

Neither format names a device: a row is a window, a grid cell (its polygon in CRS84), the
number of devices and their mean. The licence and attribution travel with the file (comment
lines heading the CSV; each entity of the JSON has ``dataProvider`` and ``license``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, text

from geodata.access import Principal, check_export
from geodata.datasets import Dataset, get_dataset
from geodata.errors import InputError
from geodata.export import LIVE_FORMATS
from geodata.working_crs import get_working_crs
from sensors_bridge.opendata.models import MODELS, Cell, entity
from sensors_bridge.opendata.release import BATCH, LiveSpec, get_spec

_DIGITS = 9
CSV_HEADER = ("window_start", "window_end", "cell", "devices", "mean", "geometry")


@dataclass(frozen=True)
class LivePlan:
    dataset: Dataset
    spec: LiveSpec
    fmt: str
    srid: int | None

    @property
    def filename(self) -> str:
        safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in self.dataset.source)
        return f"{safe}-live{LIVE_FORMATS[self.fmt].suffix}"


def plan(conn: Connection, viewer: Principal, dataset_id: int, fmt: str) -> LivePlan:
    """Check and plan the download of an open aggregate.

    :raises InputError: a format other than csv or json.
    :raises NotFound, Unauthorized, Forbidden: as for any dataset (the one access rule).
    """
    dataset = get_dataset(conn, viewer, dataset_id)
    if fmt not in LIVE_FORMATS:
        raise InputError(
            f"format {fmt!r}: an open aggregate of live data is served as "
            f"{' or '.join(LIVE_FORMATS)}"
        )
    check_export(viewer, dataset.visibility, f"dataset {dataset.id} ({dataset.title!r})")
    return LivePlan(dataset, get_spec(conn, dataset_id), fmt, get_working_crs(conn))


def _rows(engine: Engine, p: LivePlan, geometry: str) -> Iterator[list[Any]]:
    c = p.spec.cell_m
    cell = (
        f"ST_Transform(ST_MakeEnvelope(cell_x * {c!r}, cell_y * {c!r}, (cell_x + 1) * {c!r}, "
        f"(cell_y + 1) * {c!r}, {int(p.srid or 0)}), 4326)"
    )
    sql = (
        f"SELECT window_start, cell_x, cell_y, devices, mean, {geometry.format(cell=cell)} AS g "
        "FROM live_releases WHERE dataset_id = :d ORDER BY window_start, cell_x, cell_y"
    )
    if p.srid is None:
        return
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=BATCH).execute(
            text(sql), {"d": p.dataset.id}
        )
        for rows in result.partitions(BATCH):
            yield list(rows)


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _one_line(value: str | None) -> str:
    return " ".join((value or "not stated").split())


def csv_chunks(engine: Engine, p: LivePlan) -> Iterator[bytes]:
    """Comment lines (terms, what the numbers are), a header, one row per published group."""
    d = p.dataset
    terms = {
        "title": d.title,
        "source": d.source,
        "licence": d.licence,
        "attribution": d.attribution,
        "anonymisation": p.spec.describe(),
    }
    head = "".join(f"# {k}: {_one_line(v)}\n" for k, v in terms.items())
    yield (head + "# geometry: the grid cell, WKT, CRS84 (longitude, latitude)\n").encode()
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    window = p.spec.window
    for rows in _rows(engine, p, f"ST_AsText({{cell}}, {_DIGITS})"):
        writer.writerows(
            (_iso(r[0]), _iso(r[0] + window), f"{r[1]}_{r[2]}", r[3], repr(float(r[4])), r[5])
            for r in rows
        )
        yield buf.getvalue().encode()
        buf.seek(0)
        buf.truncate()
    yield buf.getvalue().encode()


def json_chunks(engine: Engine, p: LivePlan) -> Iterator[bytes]:
    """A JSON array of NGSI-LD key-values entities of the dataset's Smart Data Model."""
    model = MODELS[p.spec.model]
    d = p.dataset
    extra = {"dataProvider": d.attribution or d.source, "license": d.licence or "not stated"}
    described = p.spec.describe()
    yield b"["
    first = True
    for rows in _rows(engine, p, f"ST_AsGeoJSON({{cell}}, {_DIGITS})"):
        parts = []
        for r in rows:
            cell = Cell(
                d.source,
                r[1],
                r[2],
                r[0],
                r[0] + p.spec.window,
                r[3],
                float(r[4]),
                orjson.loads(r[5]),
                f"{r[3]} devices: {described}",
            )
            doc = entity(model, p.spec.attribute, cell)
            doc.update(extra)
            parts.append(orjson.dumps(doc))
        yield (b"" if first else b",\n") + b",\n".join(parts)
        first = False
    yield b"]\n"


CHUNKS = {"csv": csv_chunks, "json": json_chunks}
