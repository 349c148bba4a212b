"""``twin import``: stream a file into a layer, all-or-nothing.

The pipeline, for every format: a :class:`~geodata.importers.base.Reader` yields batches; the
:class:`~geodata.importers.mapping.Mapper` maps attributes column-wise; geometries are checked
and repaired (:mod:`geodata.importers.geometry`); heights fall back from measured to levels to
a default; batches are COPYed (binary COPY, one stream) into a staging table and one upsert
moves them into the layer, or, for the first import of a source into a layer whose rows are
finished in Python (buildings), straight into the layer's table. The whole run is one
transaction: any error, or Ctrl-C, leaves the database as it was.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import shapely
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from geodata.access import check_known
from geodata.crs import is_geographic, parse_crs, transformer, utm_for
from geodata.errors import ImportFailed, InputError
from geodata.importers.base import Reader, SourceBatch
from geodata.importers.geometry import check_batch, finish_buildings, lonlat_sane
from geodata.importers.mapping import Mapper, MappingFile
from geodata.importers.report import ImportReport
from geodata.importers.writer import StageWriter
from geodata.layers import IMPORT_LAYERS
from geodata.working_crs import get_working_crs, set_working_crs

LOGGER = logging.getLogger(__name__)

#: format readers by short name: "module:Class", imported lazily; a third party can register
#: its own dotted path here.
READERS: dict[str, str] = {
    "cityjson": "geodata.importers.cityjson:CityJSONReader",
    "osm": "geodata.importers.osm:OsmReader",
    "ogr": "geodata.importers.ogr:OgrReader",
}
#: column a reader may add with a height measured from 3D geometry (CityJSON LoD)
LOD_HEIGHT = "__lod_height"
BATCH = 10_000
CITYJSON_SUFFIXES = (".city.json", ".city.jsonl", ".jsonl", ".cityjsonseq")
Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class ImportOptions:
    storey_height: float = 3.0
    default_height: float = 9.0
    #: the twin's CRS to fix when it has none yet (TWIN_CRS)
    working_crs: str | None = None
    licence: str | None = None
    attribution: str | None = None
    visibility: str | None = None


def load_reader(name: str) -> type[Reader]:
    module, cls = READERS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def reader_for(path: Path, layer: str) -> Reader:
    """Pick the reader by file name, peeking into .json files for CityJSON."""
    name = path.name.lower()
    if name.endswith((".pbf", ".osm.pbf")):
        kind = "osm"
    elif name.endswith(CITYJSON_SUFFIXES) or (
        name.endswith(".json") and _looks_like_cityjson(path)
    ):
        kind = "cityjson"
    else:
        kind = "ogr"
    cls = load_reader(kind)
    if kind == "ogr" and not name.endswith(cls.suffixes):
        raise ImportFailed(
            f"{path}: unknown file type; supported: GeoJSON, GeoPackage, Shapefile (.shp or "
            ".zip), FlatGeobuf, CityJSON (.city.json, .jsonl), OSM PBF (.osm.pbf)"
        )
    return cls(path, layer)


def _looks_like_cityjson(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return b'"CityJSON"' in head


def run_import(
    engine: Engine,
    path: Path,
    *,
    layer: str,
    crs: str | None = None,
    mapping: Path | None = None,
    source: str | None = None,
    options: ImportOptions | None = None,
    progress: Progress | None = None,
    reader: Reader | None = None,
) -> ImportReport:
    """Import ``path`` into ``layer``. Nothing is written unless everything succeeds."""
    options = options or ImportOptions()
    if layer not in IMPORT_LAYERS:
        raise InputError(f"unknown layer {layer!r}: choose one of {', '.join(IMPORT_LAYERS)}")
    if options.visibility is not None:
        check_known(options.visibility)
    path = Path(path)
    if not path.exists():
        raise ImportFailed(f"{path}: no such file")
    started = time.perf_counter()
    reader = reader or reader_for(path, layer)
    reader.open()
    src_crs = parse_crs(crs) if crs else reader.source_crs()
    if src_crs is None:
        raise ImportFailed(
            f"{path}: the file does not say its coordinate reference system: "
            "give it with --crs EPSG:XXXX"
        )
    source = source or path.name.split(".")[0]
    report = ImportReport(str(path), layer, source, reader.name, source_crs=src_crs)
    mapper = Mapper(layer, MappingFile.load(mapping, layer) if mapping else None, str(path))
    total = reader.count()
    try:
        with engine.begin() as conn, StageWriter(conn, layer, str(path)) as writer:
            writer.begin(source=source, expected=total)
            for batch in reader.batches(BATCH):
                if report.working_crs is None and len(batch):
                    report.working_crs = _fix_working_crs(conn, batch, src_crs, options, path)
                _write_batch(writer, mapper, batch, report, options, path)
                if progress:
                    progress(len(batch), total)
            if report.read == 0:
                raise ImportFailed(
                    f"{path}: nothing to import into layer {layer}"
                    + (f" ({_notes(report)})" if report.skipped else "")
                    + ": check the file and the --layer"
                )
            assert report.working_crs is not None
            ins, upd, same, dups = writer.upsert(
                source=source, src_srid=src_crs, dst_srid=report.working_crs
            )
            report.inserted, report.updated, report.unchanged = ins, upd, same
            if dups:
                report.skipped["duplicate source id (first kept)"] += dups
            _record_dataset(conn, report, options)
    except (IntegrityError, psycopg.errors.IntegrityError) as exc:
        # the writer talks to psycopg directly, so its errors arrive unwrapped
        orig = getattr(exc, "orig", None) or exc
        raise ImportFailed(
            f"{path}: the database refused a feature after reprojection "
            f"({str(orig).splitlines()[0]}); nothing was written"
        ) from None
    finally:
        reader.close()
    report.seconds = time.perf_counter() - started
    return report


def _notes(report: ImportReport) -> str:
    return ", ".join(f"{n} {r}" for r, n in report.skipped.items())


def _fix_working_crs(
    conn,
    batch: SourceBatch,
    src: int,
    options: ImportOptions,
    path: Path,  # type: ignore[no-untyped-def]
) -> int:
    """The twin's CRS: as stored, else TWIN_CRS, else the source's if projected, else UTM."""
    current = get_working_crs(conn)
    if current is not None:
        return current
    if options.working_crs:
        return set_working_crs(conn, parse_crs(options.working_crs, require_projected=True))
    if not is_geographic(src):
        return set_working_crs(conn, src)
    sample = shapely.from_wkb([g for g in batch.geoms[:1000] if g is not None])
    if len(sample) == 0:
        raise ImportFailed(f"{path}: the first features have no geometry")
    _check_coordinates(sample, src, path)  # metres labelled as degrees have no UTM zone
    x0, y0, x1, y1 = shapely.total_bounds(sample)
    lon, lat = transformer(src, 4326).transform((x0 + x1) / 2, (y0 + y1) / 2)
    epsg = utm_for(lon, lat)
    LOGGER.info("working CRS inferred from the data: EPSG:%s (UTM zone)", epsg)
    return set_working_crs(conn, epsg)


def _write_batch(
    writer: StageWriter,
    mapper: Mapper,
    batch: SourceBatch,
    report: ImportReport,
    options: ImportOptions,
    path: Path,
) -> None:
    for reason, n in batch.notes.items():
        report.skipped[reason] += n
    if len(batch) == 0:
        return
    report.read += len(batch)
    buildings = mapper.layer == "buildings"
    geom_wkb, repaired, geoms = check_batch(
        batch.geoms, mapper.layer, batch.where, str(path), encode=not buildings
    )
    report.repaired += repaired
    if report.read == len(batch):
        _check_coordinates(geoms, report.source_crs or 0, path)
    lod_height = batch.props.pop(LOD_HEIGHT) if LOD_HEIGHT in batch.props else None
    mapped = mapper.apply(batch.props)
    cols = mapped.columns
    mapper.check_vocabulary(cols, batch.where)
    lod2_wkb = None
    if buildings:
        _heights(cols, lod_height, report, options)
        assert report.source_crs is not None and report.working_crs is not None
        base_z = (
            pd.to_numeric(cols["base_z"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            if "base_z" in cols
            else None
        )
        geom_wkb, lod2_wkb, cols["base_z"] = finish_buildings(
            geoms, batch.lod2, base_z, report.source_crs, report.working_crs, geom_wkb
        )
    elif batch.lod2 is not None:
        lod2_wkb = shapely.to_wkb(batch.lod2)  # None stays None
    ids = mapper.source_ids(batch.props, batch.ids)
    writer.write(ids, geom_wkb, lod2_wkb, cols, mapped.attrs)


def _check_coordinates(geoms: np.ndarray, src: int, path: Path) -> None:
    degrees = lonlat_sane(geoms)
    if is_geographic(src) and not degrees:
        raise ImportFailed(
            f"{path}: the file says EPSG:{src} (degrees) but its coordinates are not degrees: "
            "give the real CRS with --crs EPSG:XXXX"
        )
    if not is_geographic(src) and degrees:
        xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
        if max(abs(xmin), abs(xmax), abs(ymin), abs(ymax)) < 181:
            raise ImportFailed(
                f"{path}: the file says EPSG:{src} (metres) but its coordinates look like "
                "degrees: give --crs EPSG:4326 if they are longitude/latitude"
            )


def _heights(
    cols: pd.DataFrame,
    lod_height: pd.Series | None,
    report: ImportReport,
    options: ImportOptions,
) -> None:
    """Measured height, else LoD geometry, else levels x storey height, else the default."""
    measured = pd.to_numeric(cols["height"], errors="coerce")
    measured = measured.where((measured > 0) & (measured < 1000))
    height = measured.copy()
    source = pd.Series(np.where(measured.notna(), "measured", None), index=cols.index)
    if lod_height is not None:
        lod = pd.to_numeric(lod_height, errors="coerce").where(lambda v: (v > 0) & (v < 1000))
        use = height.isna() & lod.notna()
        height[use] = lod[use]
        source[use] = "lod"
    levels = pd.to_numeric(cols["levels"], errors="coerce")
    use = height.isna() & (levels > 0)
    height[use] = levels[use] * options.storey_height
    source[use] = "levels"
    use = height.isna()
    height[use] = options.default_height
    source[use] = "default"
    cols["height"] = height
    cols["height_source"] = source
    report.height_sources.update(source.value_counts().to_dict())


def _record_dataset(conn, report: ImportReport, options: ImportOptions) -> None:  # type: ignore[no-untyped-def]
    from geodata.layers import LAYERS

    layer_id = "networks" if report.layer == "networks" else report.layer
    visibility = options.visibility or LAYERS[layer_id].visibility
    conn.execute(
        text(
            "INSERT INTO datasets (source, layer, title, licence, attribution, visibility, "
            "features) VALUES (:s, :l, :t, :lic, :att, :v, :n) "
            "ON CONFLICT (source, layer) DO UPDATE SET features = EXCLUDED.features, "
            "licence = COALESCE(EXCLUDED.licence, datasets.licence), "
            "attribution = COALESCE(EXCLUDED.attribution, datasets.attribution), "
            "visibility = COALESCE(CAST(:explicit AS text), datasets.visibility), "
            "imported_at = now()"
        ),
        {
            "s": report.source,
            "l": report.layer,
            "t": Path(report.file).name,
            "lic": options.licence,
            "att": options.attribution,
            "v": visibility,
            "explicit": options.visibility,
            "n": report.imported,
        },
    )
