"""Downloads of a catalogue dataset as GeoJSON, CSV or GeoPackage, free of HTTP.

Open-data users take a dataset away with its licence and attribution inside the file (a
GeoJSON member, comment lines heading the CSV, GeoPackage metadata), so the terms travel with
the data. Rows are read through a server-side cursor in batches and written batch by batch:
memory stays bounded by the batch, not the layer (GeoJSON and CSV are generated chunk by
chunk; a GeoPackage, an SQLite file, is written to a temporary file from an Arrow stream and
then sent).

Who may download what is the one access rule: :func:`plan_download` checks the dataset with
:func:`geodata.access.check_export` at the strictest of its own and its layer's visibility,
and keeps only the rows of layers the caller may see (a furniture dataset's cameras are for
agents). The route notes every granted download in the audit log as an export.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, text

from geodata.access import Principal, check_export, strictest
from geodata.datasets import Dataset, get_dataset
from geodata.errors import Forbidden, InputError, NotFound, Unauthorized
from geodata.features import feature_from_row, select_sql
from geodata.layers import LAYERS, Layer
from geodata.vocab import LIVE_LAYER
from geodata.working_crs import get_working_crs

LOGGER = logging.getLogger(__name__)
#: rows per batch read from the cursor and per chunk written
BATCH = 2_000
_DIGITS = 9  # WKT in CSV: as the GeoJSON of the Features API


@dataclass(frozen=True)
class Format:
    media_type: str
    suffix: str
    label: str


FORMATS: dict[str, Format] = {
    "geojson": Format("application/geo+json", ".geojson", "GeoJSON"),
    "csv": Format("text/csv; charset=utf-8", ".csv", "CSV"),
    "gpkg": Format("application/geopackage+sqlite3", ".gpkg", "GeoPackage"),
}


#: the formats of an open aggregate of live data (``datasets.layer`` ``live``): its rows are
#: grid cells and windows, written by ``sensors_bridge.opendata.export``
LIVE_FORMATS: dict[str, Format] = {
    "csv": FORMATS["csv"],
    "json": Format("application/ld+json", ".jsonld", "FIWARE Smart Data Models (NGSI-LD)"),
}


def formats_of(dataset: Dataset) -> dict[str, Format]:
    """The formats ``dataset`` is downloadable in."""
    return LIVE_FORMATS if dataset.layer == LIVE_LAYER else FORMATS


def download_visibility(dataset: Dataset) -> str:
    """A download's visibility: the strictest of the dataset's and its layer's (a networks
    dataset marked public is still agent-only data). An open aggregate has no layer: its own
    visibility is the one declared (``twin opendata add``), since aggregation over at least k
    devices is what makes agent-only sensors publishable."""
    if dataset.layer == LIVE_LAYER:
        return dataset.visibility
    return strictest(dataset.visibility, _layer(dataset).visibility)


def may_download(viewer: Principal, dataset: Dataset) -> bool:
    """Whether :func:`plan_download` would let ``viewer`` have ``dataset`` (for catalogues)."""
    try:
        check_export(viewer, download_visibility(dataset), "dataset")
    except (Unauthorized, Forbidden):
        return False
    return True


@dataclass(frozen=True)
class DownloadPlan:
    """What to read and how to name it: checked, so writing it needs no more decisions."""

    dataset: Dataset
    layer: Layer
    fmt: str
    #: trusted SQL choosing the dataset's rows the caller may see, with ``:source``
    where: str
    srid: int | None

    @property
    def filename(self) -> str:
        safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in self.dataset.source)
        return f"{safe}-{self.dataset.layer}{FORMATS[self.fmt].suffix}"

    @property
    def terms(self) -> dict[str, str | None]:
        """What travels with the file: title, source, licence, attribution."""
        d = self.dataset
        return {
            "title": d.title,
            "source": d.source,
            "licence": d.licence,
            "attribution": d.attribution,
        }


def _layer(dataset: Dataset) -> Layer:
    try:
        return LAYERS[dataset.layer]
    except KeyError:
        raise NotFound(
            f"dataset {dataset.id} names layer {dataset.layer!r}, which this twin does not "
            "have: re-import it with a --layer of `twin import --help`"
        ) from None


def plan_download(conn: Connection, viewer: Principal, dataset_id: int, fmt: str) -> DownloadPlan:
    """Check and plan the download of one dataset.

    :raises InputError: an unknown format (the message lists the accepted ones).
    :raises NotFound: no such dataset.
    :raises Unauthorized, Forbidden: the caller may not see it, or it is confidential.
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    dataset = get_dataset(conn, viewer, dataset_id)
    layer = _layer(dataset)
    check_export(viewer, download_visibility(dataset), f"dataset {dataset.id} ({dataset.title!r})")
    # the layers over the same table the caller may see: their filters, OR-ed
    seen = [
        ly for ly in LAYERS.values() if ly.table == layer.table and viewer.may_see(ly.visibility)
    ]
    filters = [ly.where for ly in seen]
    clauses = ["source = :source"]
    if layer.scenario_aware:
        clauses.append("scenario_id IS NULL")
    if None not in filters:
        clauses.append("(" + " OR ".join(f"({f})" for f in filters) + ")")
    return DownloadPlan(dataset, layer, fmt, " AND ".join(clauses), get_working_crs(conn))


def _batches(engine: Engine, sql: str, source: str) -> Iterator[Sequence[Any]]:
    """Rows of ``sql`` in batches, from a server-side cursor in one snapshot."""
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=BATCH).execute(
            text(sql), {"source": source}
        )
        yield from result.partitions(BATCH)


# -- GeoJSON ----------------------------------------------------------------------------------
def geojson_chunks(engine: Engine, plan: DownloadPlan) -> Iterator[bytes]:
    """A FeatureCollection, chunk by chunk, with the dataset's terms as foreign members;
    features as the Features API serves them (CRS84, heights kept)."""
    head = {"type": "FeatureCollection", "name": plan.dataset.title, **plan.terms}
    yield orjson.dumps(head)[:-1] + b', "features": ['
    if plan.srid is not None:
        first = True
        sql = f"{select_sql(plan.layer, ' WHERE ' + plan.where, plan.srid)} ORDER BY id"
        for rows in _batches(engine, sql, plan.dataset.source):
            parts = [orjson.dumps(feature_from_row(plan.layer, r)) for r in rows]
            yield (b"" if first else b",\n") + b",\n".join(parts)
            first = False
    yield b"]}\n"


# -- CSV ----------------------------------------------------------------------------------------
def table_sql(plan: DownloadPlan, geometry: str) -> tuple[list[str], str]:
    """Header and SELECT of the tabular formats: id, the layer's columns, attrs, geometry."""
    names = ["id", *plan.layer.properties] + (["attrs"] if plan.layer.has_attrs else [])
    select = ", ".join(
        ["id", *plan.layer.properties] + (["attrs::text AS attrs"] if plan.layer.has_attrs else [])
    )
    sql = (
        f"SELECT {select}, {geometry} AS geometry FROM {plan.layer.table} "
        f"WHERE {plan.where} ORDER BY id"
    )
    return [*names, "geometry"], sql


def _one_line(value: str | None) -> str:
    return " ".join((value or "not stated").split())


def csv_chunks(engine: Engine, plan: DownloadPlan) -> Iterator[bytes]:
    """CSV with comment lines first (``# licence: …``), then one row per feature; the
    geometry is WKT in CRS84 (longitude, latitude, height)."""
    terms = "".join(f"# {k}: {_one_line(v)}\n" for k, v in plan.terms.items())
    yield (terms + "# geometry: WKT, CRS84 (longitude, latitude, height in metres)\n").encode()
    header, sql = table_sql(
        plan, f"ST_AsText(ST_Transform({plan.layer.output_geom}, 4326), {_DIGITS})"
    )
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    if plan.srid is not None:
        for rows in _batches(engine, sql, plan.dataset.source):
            writer.writerows(rows)
            yield buf.getvalue().encode()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode()


# -- GeoPackage -------------------------------------------------------------------------------
_ARROW_TYPES = {
    "smallint": "int64",
    "integer": "int64",
    "bigint": "int64",
    "real": "float64",
    "double precision": "float64",
    "numeric": "float64",
    "boolean": "bool_",
}
_GEOMETRY_TYPES = {
    t.upper(): t
    for t in ("Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon")
}


def _gpkg_geometry_type(engine: Engine, plan: DownloadPlan) -> str:
    """The one geometry type of the dataset's rows (with `` Z``), or ``Unknown`` if mixed."""
    sql = (
        f"SELECT DISTINCT GeometryType(g), ST_NDims(g) FROM (SELECT {plan.layer.output_geom} "
        f"AS g FROM {plan.layer.table} WHERE {plan.where}) s"
    )
    with engine.connect() as conn:
        kinds = conn.execute(text(sql), {"source": plan.dataset.source}).all()
    if len(kinds) != 1 or kinds[0][0] not in _GEOMETRY_TYPES:
        return "Unknown"
    name, dims = kinds[0]
    return _GEOMETRY_TYPES[name] + (" Z" if dims == 3 else "")


def write_gpkg(engine: Engine, plan: DownloadPlan, path: Path) -> Path:
    """Write the dataset to a GeoPackage at ``path`` in the twin's working CRS, streaming
    Arrow batches into GDAL; licence and attribution go into the GeoPackage metadata (dataset
    and layer) and the layer description."""
    import pyarrow as pa
    import pyogrio

    header, sql = table_sql(plan, f"ST_AsBinary({plan.layer.output_geom})")
    with engine.connect() as conn:
        types: dict[str, str] = dict(
            conn.execute(
                text(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = current_schema() AND table_name = :t"
                ),
                {"t": plan.layer.table},
            ).all()
        )
    fields = [
        pa.field(name, pa.binary() if name == "geometry" else _arrow_type(types.get(name)))
        for name in header
    ]
    schema = pa.schema(fields)
    text_columns = [i for i, f in enumerate(fields) if f.type == pa.string()]

    def batches() -> Iterator[Any]:
        if plan.srid is None:
            return
        for rows in _batches(engine, sql, plan.dataset.source):
            columns = [list(c) for c in zip(*rows, strict=True)]
            for i in text_columns:  # dates, enums and the like arrive as Python objects
                columns[i] = [None if v is None else str(v) for v in columns[i]]
            yield pa.record_batch(columns, schema=schema)

    metadata = {k.upper(): _one_line(v) for k, v in plan.terms.items()}
    pyogrio.write_arrow(
        pa.RecordBatchReader.from_batches(schema, batches()),
        path,
        layer=plan.dataset.layer,
        driver="GPKG",
        geometry_name="geometry",
        geometry_type=_gpkg_geometry_type(engine, plan),
        crs=f"EPSG:{plan.srid}" if plan.srid is not None else None,
        dataset_metadata=metadata,
        layer_metadata=metadata,
        layer_options={
            "IDENTIFIER": plan.dataset.title,
            "DESCRIPTION": f"Licence: {metadata['LICENCE']}. {metadata['ATTRIBUTION']}",
        },
    )
    return path


def _arrow_type(data_type: str | None) -> Any:
    import pyarrow as pa

    return getattr(pa, _ARROW_TYPES.get(data_type or "", "string"))()


#: the streaming writers by format (the GeoPackage is a file first: :func:`write_gpkg`)
CHUNKS: dict[str, Callable[[Engine, DownloadPlan], Iterator[bytes]]] = {
    "geojson": geojson_chunks,
    "csv": csv_chunks,
}
