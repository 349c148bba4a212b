"""The import pipeline, for every format and layer: one streamed pass, all-or-nothing.

A :class:`~geodata.importers.base.Reader` yields batches; geometries are checked and repaired
(:mod:`geodata.importers.geometry`); the :class:`~geodata.importers.mapping.Mapper` maps
attributes column-wise; the layer's ``to_stored`` (:mod:`geodata.importers.layers`) reprojects
to the working CRS and settles heights and depths; the
:class:`~geodata.importers.writer.StageWriter` COPYs the rows, straight into the table on a
source's first import, else through a stage and one upsert. Everything runs in one transaction:
any error, or Ctrl-C, leaves the database as it was.

:func:`run_import` imports a file in a transaction of its own; :func:`import_reader` runs any
reader (one over a file, or one over data made in memory) inside the caller's transaction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import shapely

from geodata.access import check_known
from geodata.crs import is_geographic, parse_crs, transformer, utm_for
from geodata.errors import ImportFailed, InputError
from geodata.importers.base import LOD_HEIGHT, ImportOptions, Reader, SourceBatch
from geodata.importers.coerce import flat
from geodata.importers.frames import as_table
from geodata.importers.geometry import check_batch, check_coordinates
from geodata.importers.layers import IMPORT_LAYERS, ImportLayer, Rows
from geodata.importers.mapping import Mapper
from geodata.importers.readers import reader_for
from geodata.importers.report import ImportReport
from geodata.importers.writer import BULK_REINDEX, StageWriter
from geodata.pg import raw_connection, transaction

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from geodata.grounding import GroundHeights
    from geodata.importers.mapping_file import MappingFile
    from geodata.pg import AnyConnection

LOGGER = logging.getLogger(__name__)

#: features per batch: 7 MB less peak memory than 5,000 (and 20 MB less than 10,000) for ~5%
#: more CPU; as many as a bulk load needs, so that a reader that cannot count (OSM) decides on
#: one from its first full batch (:meth:`geodata.importers.writer.StageWriter.write`)
BATCH = BULK_REINDEX
Progress = Callable[[int, int | None], None]


def run_import(
    db: Engine | str,
    path: Path,
    *,
    layer: str,
    crs: str | None = None,
    mapping: Path | None = None,
    source: str | None = None,
    options: ImportOptions | None = None,
    progress: Progress | None = None,
    reader: Reader | str | None = None,
    before_commit: Callable[[AnyConnection, ImportReport], None] | None = None,
) -> ImportReport:
    """Import the file ``path`` into ``layer`` in a transaction of its own.

    :param db: an engine, or the database URL: ``twin import`` gives the URL, and the
        import then runs on a psycopg connection of its own (:mod:`geodata.pg`), without
        loading SQLAlchemy
    :param reader: a reader, or the name or dotted path of one (default: chosen by the file
        name, :func:`geodata.importers.readers.reader_for`)
    :param before_commit: called with the connection and the report once everything is
        written, in the import's transaction (the command's audit row: no connection of its
        own, and no audit of an import that did not commit)
    """
    from geodata.importers.events import EVENTS_LAYER, import_events

    if layer == EVENTS_LAYER:  # breaks and repairs: rows of a table, no geometry
        return import_events(db, path, source=source)
    import_layer(layer)
    path = Path(path)
    if not path.exists():
        raise ImportFailed(f"{path}: no such file")
    if not isinstance(reader, Reader):
        reader = reader_for(path, layer, reader)
    with transaction(db) as conn:
        report = import_reader(
            conn,
            reader,
            layer=layer,
            options=options,
            source=source or path.name.split(".")[0],
            crs=crs,
            mapping=mapping,
            progress=progress,
        )
        if before_commit is not None:
            before_commit(conn, report)
        return report


def import_reader(
    conn: AnyConnection,
    reader: Reader,
    *,
    layer: str,
    options: ImportOptions | None = None,
    source: str | None = None,
    crs: str | int | None = None,
    mapping: MappingFile | Path | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Run ``reader`` through the pipeline into ``layer``, inside the caller's transaction
    (nothing is committed here; an error leaves the transaction to roll back).

    :param options: height fallbacks, licence, scenario, pruning (default: the twin's settings)
    :param source: the source name rows are keyed on with their ids (default: the file's stem)
    :param crs: the source CRS when the reader does not know it, or to override it
    :param mapping: a mapping from the source's attribute names to the layer's columns
    """
    target = import_layer(layer)
    options = replace(options or ImportOptions.from_settings(), ground=_ground(conn))
    if options.visibility is not None:
        check_known(options.visibility)
    started = time.perf_counter()
    file = str(reader.path)
    reader.open()
    try:
        src_crs = parse_crs(crs) if crs else reader.source_crs()
        if src_crs is None:
            raise ImportFailed(
                f"{file}: the file does not say its coordinate reference system: "
                "give it with --crs EPSG:XXXX"
            )
        source = source or Path(file).name.split(".")[0]
        report = ImportReport(file, layer, source, reader.name, source_crs=src_crs)
        if isinstance(mapping, Path):
            from geodata.importers.mapping_file import MappingFile

            mapping = MappingFile.load(mapping, target)
        mapper = Mapper(target, mapping, file)
        total = reader.count()
        with StageWriter(conn, target, file, scenario_id=options.scenario_id) as writer:
            writer.begin(source=source, expected=total)
            for batch in reader.batches(BATCH):
                if report.working_crs is None and len(batch):
                    report.working_crs = _fix_working_crs(conn, batch, src_crs, options, file)
                _write_batch(writer, mapper, reader, batch, report, options)
                if progress:
                    progress(len(batch), total)
            if report.read == 0:
                raise ImportFailed(
                    f"{file}: nothing to import into layer {layer}"
                    + (f" ({_notes(report)})" if report.skipped else "")
                    + ": check the file and the --layer"
                )
            written = writer.upsert(source=source, prune=options.prune)
        report.values = mapper.issues
        report.inserted, report.updated = written.inserted, written.updated
        report.unchanged, report.deleted = written.unchanged, written.deleted
        if written.duplicates:
            report.skipped["duplicate source id (first kept)"] += written.duplicates
        if options.scenario_id is None:
            _record_dataset(conn, report, options)
    except Exception as exc:
        if _is_integrity(exc):
            raise _refused(exc, file) from None
        raise
    finally:
        reader.close()
    report.seconds = time.perf_counter() - started
    return report


def _ground(conn: AnyConnection) -> GroundHeights | None:
    """The twin's DEM as the import's ground (None without one): heights a file does not
    give are read from it (:mod:`geodata.grounding`)."""
    from geodata.grounding import ground_of
    from geodata.terrain import load_dem

    return ground_of(load_dem(conn))


def import_layer(name: str) -> ImportLayer:
    try:
        return IMPORT_LAYERS[name]
    except KeyError:
        raise InputError(
            f"unknown layer {name!r}: choose one of {', '.join(IMPORT_LAYERS)}, events "
            "(or dem for a terrain raster)"
        ) from None


def _is_integrity(exc: BaseException) -> bool:
    import psycopg

    orig = getattr(exc, "orig", None) or exc
    return isinstance(orig, psycopg.errors.IntegrityError)


def _refused(exc: BaseException, file: str) -> ImportFailed:
    """A constraint of the table refused a row: say which, in the file's terms."""
    orig = getattr(exc, "orig", None) or exc
    return ImportFailed(
        f"{file}: the database refused a feature after reprojection "
        f"({str(orig).splitlines()[0]}); nothing was written"
    )


def _notes(report: ImportReport) -> str:
    return ", ".join(f"{n} {r}" for r, n in report.skipped.items())


def _fix_working_crs(
    conn: AnyConnection, batch: SourceBatch, src: int, options: ImportOptions, file: str
) -> int:
    """The twin's CRS: as stored, else TWIN_CRS, else the source's if projected, else UTM."""
    from geodata.working_crs import get_working_crs, set_working_crs

    current = get_working_crs(conn)
    if current is not None:
        return current
    if options.working_crs:
        return set_working_crs(conn, parse_crs(options.working_crs, require_projected=True))
    if not is_geographic(src):
        return set_working_crs(conn, src)
    head = batch.geoms[:1000]
    given = np.array([g is not None for g in head], dtype=bool)
    if not given.any():
        raise ImportFailed(f"{file}: the first features have no geometry")
    sample = shapely.from_wkb(head[given])
    check_coordinates(sample, src, None, batch.where[:1000][given], file)  # degrees at all?
    x0, y0, x1, y1 = shapely.total_bounds(sample)
    lon, lat = transformer(src, 4326).transform((x0 + x1) / 2, (y0 + y1) / 2)
    epsg = utm_for(lon, lat)
    LOGGER.info("working CRS inferred from the data: EPSG:%s (UTM zone)", epsg)
    return set_working_crs(conn, epsg)


def _write_batch(
    writer: StageWriter,
    mapper: Mapper,
    reader: Reader,
    batch: SourceBatch,
    report: ImportReport,
    options: ImportOptions,
) -> None:
    for reason, n in batch.notes.items():
        report.skipped[reason] += n
    if len(batch) == 0:
        return
    file = mapper.where_file
    props = as_table(batch.props)
    if not props.num_rows == len(batch.ids) == len(batch.where) == len(batch):
        raise ImportFailed(
            f"{file}: the {report.reader} reader gave a batch of {len(batch)} geometries but "
            f"{props.num_rows} attribute rows and {len(batch.ids)} ids: a bug of that reader"
        )
    report.read += len(batch)
    wkb, repaired, geoms = check_batch(batch.geoms, mapper.layer, batch.where, file)
    report.repaired += repaired
    lod_height = None
    if LOD_HEIGHT in props.column_names:
        lod_height = flat(props.column(LOD_HEIGHT))
        props = props.drop_columns([LOD_HEIGHT])
    mapped = mapper.apply(props, batch.attrs)
    cols = mapped.columns
    mapper.check_vocabulary(cols, batch.where)
    if options.scenario_id is None and "replaces_id" in cols:
        cols["replaces_id"] = pa.nulls(len(batch), pa.int64())  # only a scenario's row replaces one
    ids = mapper.source_ids(props, batch.ids)
    unique = type(reader).unique_ids and mapper.id_column(props) is None
    rows = Rows(ids, geoms, wkb, cols, mapped.attrs, batch.lod2, lod_height)
    assert report.source_crs is not None and report.working_crs is not None
    stored = mapper.layer.store(
        rows, report.source_crs, report.working_crs, options, where=batch.where, file=file
    )
    report.height_sources.update(stored.heights)
    writer.write(stored, unique=unique)


def _record_dataset(conn: AnyConnection, report: ImportReport, options: ImportOptions) -> None:
    from geodata.layers import LAYERS

    visibility = options.visibility or LAYERS[report.layer].visibility
    params: dict[str, Any] = {
        "s": report.source,
        "l": report.layer,
        "t": Path(report.file).name,
        "lic": options.licence,
        "att": options.attribution,
        "v": visibility,
        "explicit": options.visibility,
        "n": report.imported,
    }
    raw_connection(conn).execute(
        "INSERT INTO datasets (source, layer, title, licence, attribution, visibility, "
        "features) VALUES (%(s)s, %(l)s, %(t)s, %(lic)s, %(att)s, %(v)s, %(n)s) "
        "ON CONFLICT (source, layer) DO UPDATE SET features = EXCLUDED.features, "
        "licence = COALESCE(EXCLUDED.licence, datasets.licence), "
        "attribution = COALESCE(EXCLUDED.attribution, datasets.attribution), "
        "visibility = COALESCE(%(explicit)s::text, datasets.visibility), "
        "imported_at = now()",
        params,
    )
