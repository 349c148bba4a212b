"""GeoJSON, CSV and GeoPackage files of a plan, with its terms inside.

The terms travel with the data (a GeoJSON member, comment lines heading the CSV, GeoPackage
metadata). GeoJSON and CSV are generated chunk by chunk from a server-side cursor; a
GeoPackage, an SQLite file, is written to a file from an Arrow stream. Memory stays bounded
by the batch, not the layer.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, text

from geodata.crs import CRS84_URI
from geodata.export.plan import ExportPlan, batches, one_line
from geodata.features import digits_of, feature_from_row, output_geometry, select_sql


# -- GeoJSON ----------------------------------------------------------------------------------
def geojson_chunks(engine: Engine, plan: ExportPlan) -> Iterator[bytes]:
    """A FeatureCollection, chunk by chunk, with the plan's terms as foreign members and
    features as the Features API serves them (heights kept). In a CRS other than CRS84 it
    names it in the ``crs`` member of GeoJSON 2008, which GDAL and QGIS read."""
    head: dict[str, Any] = {"type": "FeatureCollection", "name": plan.title, **plan.terms}
    if plan.out.uri != CRS84_URI:
        head["crs"] = {"type": "name", "properties": {"name": plan.out.uri}}
    yield orjson.dumps(head)[:-1] + b', "features": ['
    if plan.srid is not None:
        first = True
        sql = f"{select_sql(plan.layer, ' WHERE ' + plan.where, plan.srid, plan.out)} ORDER BY id"
        for rows in batches(engine, plan, sql):
            parts = [orjson.dumps(feature_from_row(plan.layer, r)) for r in rows]
            yield (b"" if first else b",\n") + b",\n".join(parts)
            first = False
    yield b"]}\n"


# -- CSV ----------------------------------------------------------------------------------------
def table_sql(plan: ExportPlan, geometry: str) -> tuple[list[str], str]:
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


def csv_chunks(engine: Engine, plan: ExportPlan) -> Iterator[bytes]:
    """CSV with comment lines first (``# licence: …``), then one row per feature; the
    geometry is WKT in the plan's CRS (CRS84 unless asked: longitude, latitude, height)."""
    terms = "".join(f"# {k}: {one_line(v)}\n" for k, v in plan.terms.items())
    crs = (
        "CRS84 (longitude, latitude, height in metres)"
        if plan.out.uri == CRS84_URI
        else f"{plan.out.uri} in its axis order, heights in metres"
    )
    yield (terms + f"# geometry: WKT, {crs}\n").encode()
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if plan.srid is None:
        writer.writerow(table_sql(plan, "NULL")[0])
    else:
        geom = output_geometry(plan.layer, plan.srid, plan.out)
        header, sql = table_sql(plan, f"ST_AsText({geom}, {digits_of(plan.out)})")
        writer.writerow(header)
        for rows in batches(engine, plan, sql):
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


def _gpkg_geometry_type(engine: Engine, plan: ExportPlan) -> str:
    """The one geometry type of the plan's rows (with `` Z``), or ``Unknown`` if mixed."""
    sql = (
        f"SELECT DISTINCT GeometryType(g), ST_NDims(g) FROM (SELECT {plan.layer.output_geom} "
        f"AS g FROM {plan.layer.table} WHERE {plan.where}) s"
    )
    with engine.connect() as conn:
        kinds = conn.execute(text(sql), dict(plan.params)).all()
    if len(kinds) != 1 or kinds[0][0] not in _GEOMETRY_TYPES:
        return "Unknown"
    name, dims = kinds[0]
    return _GEOMETRY_TYPES[name] + (" Z" if dims == 3 else "")


def write_gpkg(engine: Engine, plan: ExportPlan, path: Path) -> Path:
    """Write the plan to a GeoPackage at ``path`` (x east whatever the CRS's axis order, as
    GeoPackage readers expect), streaming Arrow batches into GDAL; the terms go into the
    GeoPackage metadata (dataset and layer) and the layer description."""
    import pyarrow as pa
    import pyogrio

    geom = (
        "NULL"
        if plan.srid is None
        else output_geometry(plan.layer, plan.srid, plan.out, axis_order=False)
    )
    header, sql = table_sql(plan, f"ST_AsBinary({geom})")
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

    def record_batches() -> Iterator[Any]:
        if plan.srid is None:
            return
        for rows in batches(engine, plan, sql):
            columns = [list(c) for c in zip(*rows, strict=True)]
            for i in text_columns:  # dates, enums and the like arrive as Python objects
                columns[i] = [None if v is None else str(v) for v in columns[i]]
            yield pa.record_batch(columns, schema=schema)

    metadata = {k.upper(): one_line(v) for k, v in plan.terms.items()}
    pyogrio.write_arrow(
        pa.RecordBatchReader.from_batches(schema, record_batches()),
        path,
        layer=plan.layer.id,
        driver="GPKG",
        geometry_name="geometry",
        geometry_type=_gpkg_geometry_type(engine, plan),
        crs=f"EPSG:{plan.out.srid}" if plan.srid is not None else None,
        dataset_metadata=metadata,
        layer_metadata=metadata,
        layer_options={
            "IDENTIFIER": plan.title,
            "DESCRIPTION": f"Licence: {metadata.get('LICENCE', 'not stated')}. "
            f"{metadata.get('ATTRIBUTION', '')}".strip(),
        },
    )
    return path


def _arrow_type(data_type: str | None) -> Any:
    import pyarrow as pa

    return getattr(pa, _ARROW_TYPES.get(data_type or "", "string"))()
