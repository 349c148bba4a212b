"""Files out of the twin: a catalogue dataset's download, or a layer's export (whole or cut
by bbox, CQL2 filter and scenario) as GeoJSON, CSV, GeoPackage, CityJSON or CityJSONSeq.

A plan (:mod:`geodata.export.plan`) is checked once through the one access rule
(:mod:`geodata.export.datasets`, :mod:`geodata.export.layers`); the writers follow it
(:mod:`geodata.export.tabular`, :mod:`geodata.export.cityjson`), streaming from a server-side
cursor so memory is bounded by a batch, not the layer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import Engine

from geodata.export.cityjson import cityjson_chunks, cityjsonseq_chunks
from geodata.export.datasets import (
    DATASET_FORMATS,
    LIVE_FORMATS,
    download_visibility,
    formats_of,
    may_download,
    plan_download,
)
from geodata.export.layers import plan_export
from geodata.export.plan import BATCH, FILE_FORMATS, FORMATS, ExportPlan, Format
from geodata.export.tabular import csv_chunks, geojson_chunks, table_sql, write_gpkg

#: the streaming writers by format (the GeoPackage is a file first: :func:`write_gpkg`)
CHUNKS: dict[str, Callable[[Engine, ExportPlan], Iterator[bytes]]] = {
    "geojson": geojson_chunks,
    "csv": csv_chunks,
    "cityjson": cityjson_chunks,
    "cityjsonseq": cityjsonseq_chunks,
}


def write(engine: Engine, plan: ExportPlan, path: Path) -> Path:
    """Write the plan to ``path`` whatever its format."""
    if plan.fmt not in CHUNKS:
        return write_gpkg(engine, plan, path)
    with path.open("wb") as f:
        write_to(engine, plan, f)
    return path


def write_to(engine: Engine, plan: ExportPlan, out: BinaryIO) -> None:
    """Stream a format that streams (not a GeoPackage) into ``out`` (stdout, a socket)."""
    for chunk in CHUNKS[plan.fmt](engine, plan):
        out.write(chunk)


__all__ = [
    "BATCH",
    "CHUNKS",
    "DATASET_FORMATS",
    "FILE_FORMATS",
    "FORMATS",
    "LIVE_FORMATS",
    "ExportPlan",
    "Format",
    "csv_chunks",
    "download_visibility",
    "formats_of",
    "geojson_chunks",
    "may_download",
    "plan_download",
    "plan_export",
    "table_sql",
    "write",
    "write_gpkg",
    "write_to",
]
