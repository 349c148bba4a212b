"""What an export writes, decided once: a checked plan the writers follow without deciding
anything more (which rows, which CRS, which name, which terms travel inside the file).

Two kinds of plan share it: a catalogue dataset's download (:mod:`geodata.export.datasets`)
and a layer's export, whole or cut by bbox, filter and scenario
(:mod:`geodata.export.layers`: ``twin export`` and ``/collections/{id}/items?f=``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text

from geodata.feature_query import OutputCrs
from geodata.layers import Layer

#: rows per batch read from the cursor and per chunk written
BATCH = 2_000


@dataclass(frozen=True)
class Format:
    media_type: str
    suffix: str
    label: str
    #: the layers it can hold (None: every layer)
    layers: frozenset[str] | None = None
    #: the CRS it is written in when none is asked: CRS84 (GeoJSON's RFC 7946), else the
    #: twin's working CRS
    crs84: bool = False

    def holds(self, layer_id: str) -> bool:
        """Whether this format can hold the layer (CityJSON holds buildings only)."""
        return self.layers is None or layer_id in self.layers


FORMATS: dict[str, Format] = {
    "geojson": Format("application/geo+json", ".geojson", "GeoJSON", crs84=True),
    "csv": Format("text/csv; charset=utf-8", ".csv", "CSV", crs84=True),
    "gpkg": Format("application/geopackage+sqlite3", ".gpkg", "GeoPackage"),
    "cityjson": Format(
        "application/city+json", ".city.json", "CityJSON 2.0", frozenset({"buildings"})
    ),
    "cityjsonseq": Format(
        "application/city+json-seq", ".city.jsonl", "CityJSONSeq 2.0", frozenset({"buildings"})
    ),
}
#: the formats ``/collections/{id}/items?f=`` answers with a whole file (GeoJSON is paged)
FILE_FORMATS = tuple(k for k in FORMATS if k != "geojson")


@dataclass(frozen=True)
class ExportPlan:
    """Checked: the rows the caller may take, the CRS to write them in, and the terms."""

    layer: Layer
    fmt: str
    #: trusted SQL choosing the rows (no leading WHERE), its values in ``params``
    where: str
    params: Mapping[str, Any]
    #: the storage (working) CRS; None: nothing stored yet, so the file is empty
    srid: int | None
    #: where the geometry is written
    out: OutputCrs
    #: file stem, also the layer's name inside a GeoPackage
    name: str
    title: str
    #: what travels with the file: title, source, licence, attribution
    terms: dict[str, str | None] = field(default_factory=dict)
    #: told the number of rows of each batch written (a progress bar), or None
    progress: Callable[[int], None] | None = field(default=None, compare=False)

    @property
    def filename(self) -> str:
        safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in self.name)
        return f"{safe}{FORMATS[self.fmt].suffix}"


def one_line(value: str | None) -> str:
    return " ".join((value or "not stated").split())


def batches(engine: Engine, plan: ExportPlan, sql: str) -> Iterator[Sequence[Any]]:
    """Rows of ``sql`` (with the plan's parameters) in batches, from a server-side cursor in
    one snapshot: memory stays bounded by the batch, not the layer. Each batch is reported to
    the plan's ``progress``."""
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=BATCH).execute(
            text(sql), dict(plan.params)
        )
        for rows in result.partitions(BATCH):
            yield rows
            if plan.progress is not None:
                plan.progress(len(rows))


def count_rows(engine: Engine, plan: ExportPlan) -> int:
    """How many rows the plan writes (for a progress bar's total)."""
    if plan.srid is None:
        return 0
    with engine.connect() as conn:
        sql = f"SELECT count(*) FROM {plan.layer.table} WHERE {plan.where}"
        return int(conn.execute(text(sql), dict(plan.params)).scalar_one())
