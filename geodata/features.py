"""Features of a layer as GeoJSON: the service behind OGC API - Features, free of HTTP.

PostGIS does the heavy lifting (filtering, reprojection to CRS84, GeoJSON encoding) so a page
of 10,000 features never goes through shapely. Every function takes an open SQLAlchemy
``Connection`` so a request reads the working CRS, the count and the page in one session.

Rules kept here, once:

- only baseline rows (``scenario_id IS NULL``) of scenario-aware layers are features;
  scenarios are previewed through their own API, not mixed into the baseline collections;
- a row whose ``source`` is a dataset the caller may not see is not a feature for them
  (:func:`geodata.datasets.hidden_rows_clause`): it is neither counted, listed nor found;
- a twin without a working CRS has nothing stored yet, so every collection is empty;
- properties are the layer's columns plus the ``attrs`` keys; a column always wins over an
  ``attrs`` key of the same name, because columns are the validated values;
- bboxes are lon,lat in CRS84 unless ``bbox-crs`` says otherwise; a 6-number bbox is accepted
  but only its horizontal part filters (heights are not indexed).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import orjson
import shapely
from sqlalchemy import Connection, text

from geodata.access import Principal, exportable_seen
from geodata.crs import (
    Z_LIMIT,
    box_in,
    served_box,
    transformer,
)
from geodata.datasets import hidden_rows_clause
from geodata.errors import InputError, NotFound
from geodata.feature_params import BBox, check_paging
from geodata.feature_query import ItemQuery, OutputCrs
from geodata.layers import Layer
from geodata.scenario_rows import SCENARIO_PARAM, scenario_rows
from geodata.vocab import sql_in
from geodata.working_crs import get_working_crs

#: GeoJSON coordinates: 9 decimals of a degree is 0.1 mm, far below survey accuracy
_DIGITS = 9
#: projected coordinates: a millimetre
_PROJECTED_DIGITS = 3
#: orjson writes documents up to this depth; a deeper attrs document is served as its text
_MAX_DEPTH = 254
#: an envelope edge is cut into this many pieces before reprojection so curved edges count
_SEGMENTS = 16


@dataclass(frozen=True)
class ItemPage:
    """One page of features and what the paging links need."""

    features: list[dict[str, Any]]
    number_matched: int
    limit: int
    offset: int

    @property
    def number_returned(self) -> int:
        return len(self.features)

    @property
    def has_next(self) -> bool:
        return self.offset + self.number_returned < self.number_matched

    @property
    def has_prev(self) -> bool:
        return self.offset > 0


# -- SQL --------------------------------------------------------------------------------------
def where_clause(
    layer: Layer,
    viewer: Principal,
    bbox: BBox | None,
    srid: int,
    query: ItemQuery | None = None,
    *,
    exporting: bool = False,
) -> tuple[str, dict[str, Any]]:
    """The WHERE of the features ``viewer`` may see (`` WHERE ...`` or empty) and its bound
    parameters: the layer's filter, baseline rows (or the rows as ``query.scenario_id``
    shows them), the datasets and rows the access rule lets through (with ``exporting``,
    never a confidential one: what leaves the twin as a file), the bbox and the CQL2 filter.
    """
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if query is not None and query.filter is not None:  # parameterised by geodata.cql
        clauses.append(query.filter.sql)
        params.update(query.filter.params)
    if layer.where:
        clauses.append(f"({layer.where})")
    if layer.scenario_aware:
        scenario = None if query is None else query.scenario_id
        clauses.append(scenario_rows(layer.table, scenario is not None))
        if scenario is not None:
            params[SCENARIO_PARAM] = scenario
    if (hidden := hidden_rows_clause(layer.table, viewer, exporting=exporting)) is not None:
        clauses.append(hidden)
    if layer.row_visibility:  # each row says who may see it: the access rule's answer, inlined
        seen = exportable_seen(viewer) if exporting else viewer.sees
        clauses.append(f"{layer.row_visibility} IN ({sql_in(sorted(seen)) or 'NULL'})")
    if bbox is not None:
        corners = (bbox.minx, bbox.miny, bbox.maxx, bbox.maxy)
        if bbox.srid == srid:
            params.update(minx=bbox.minx, miny=bbox.miny, maxx=bbox.maxx, maxy=bbox.maxy)
            clauses.append(
                f"ST_Intersects({layer.geom_column}, "
                f"ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, {int(srid)}))"
            )
        elif (shape := box_in(corners, bbox.srid, srid, segments=_SEGMENTS)) is None:
            clauses.append("FALSE")  # the box is nowhere in the working CRS's domain
        else:
            params["box"] = shapely.to_wkb(shape)
            clauses.append(f"ST_Intersects({layer.geom_column}, ST_GeomFromWKB(:box, {int(srid)}))")
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _servable(geom: str, srid: int, *, heights: bool = True) -> str:
    """SQL: whether ``geom`` (in EPSG ``srid``) can be reprojected to CRS84: its bounding box
    inside the box around the CRS's area of use (:func:`geodata.crs.served_box`), and with
    ``heights`` its Z within :data:`geodata.crs.Z_LIMIT`.

    The box is ``geom::box2d``, the one stored with the geometry (no pass over its
    coordinates, so the extent of a million rows costs what it did); ``BETWEEN`` is false for
    NaN, which PostgreSQL sorts after every number (``@`` would let a NaN box through)."""
    x0, y0, x1, y1 = served_box(srid)
    box = f"{geom}::box2d"
    tests = [
        f"ST_XMin({box}) BETWEEN {x0!r} AND {x1!r}",
        f"ST_XMax({box}) BETWEEN {x0!r} AND {x1!r}",
        f"ST_YMin({box}) BETWEEN {y0!r} AND {y1!r}",
        f"ST_YMax({box}) BETWEEN {y0!r} AND {y1!r}",
    ]
    if heights:
        z = Z_LIMIT
        tests += [
            f"ST_ZMin({geom}) BETWEEN {-z!r} AND {z!r}",
            f"ST_ZMax({geom}) BETWEEN {-z!r} AND {z!r}",
        ]
    return "(" + " AND ".join(tests) + ")"


def output_geometry(
    layer: Layer, srid: int, out: OutputCrs, *, axis_order: bool = True, geom: str | None = None
) -> str:
    """SQL of the layer's geometry (or of the column ``geom``) in ``out``'s CRS, in that
    CRS's axis order unless ``axis_order`` is False (GeoPackage and CityJSON are always x
    east): NULL for a row no reprojection can place (see :func:`_servable`), since one odd
    row must not fail a page or a file."""
    geom = geom or layer.output_geom
    placed = geom
    if out.srid != srid:
        placed = f"CASE WHEN {_servable(geom, srid)} THEN ST_Transform({geom}, {int(out.srid)}) END"
    return f"ST_FlipCoordinates({placed})" if out.flip and axis_order else placed


def digits_of(out: OutputCrs) -> int:
    """Decimals worth writing: 0.1 mm in degrees, a millimetre in metres."""
    return _DIGITS if out.srid in (4326, 4979) else _PROJECTED_DIGITS


def select_sql(layer: Layer, where: str, srid: int, out: OutputCrs | None = None) -> str:
    """The SELECT that :func:`feature_from_row` reads: one feature shape for the Features API
    and the GeoJSON download (:mod:`geodata.export`); geometry in CRS84 unless ``out`` asks
    for another CRS (in its own axis order)."""
    out = out or OutputCrs()
    columns = "".join(f", {c}" for c in layer.properties)
    attrs = ", attrs::text AS attrs_" if layer.has_attrs else ""
    encoded = f"ST_AsGeoJSON({output_geometry(layer, srid, out)}, {digits_of(out)})"
    return f"SELECT id, {encoded} AS geom_{attrs}{columns} FROM {layer.table}{where}"


def feature_from_row(layer: Layer, row: Any) -> dict[str, Any]:
    """A GeoJSON feature from a row of :func:`select_sql`."""
    values = row._mapping
    properties = _attrs(values["attrs_"]) if layer.has_attrs else {}
    # columns are the validated values: they win over an attrs key of the same name
    properties.update((c, values[c]) for c in layer.properties)
    return {
        "type": "Feature",
        "id": values["id"],
        "geometry": _geometry(values["geom_"]),
        "properties": properties,
    }


def _geometry(geojson: str | None) -> Any:
    """The GeoJSON geometry, or None when there is none or PostGIS wrote what JSON cannot
    hold (a non-finite coordinate)."""
    if geojson is None:
        return None
    try:
        return orjson.loads(geojson)
    except orjson.JSONDecodeError:
        return None


def _attrs(doc: str | None) -> dict[str, Any]:
    """A row's ``attrs`` as properties, whatever jsonb holds: an object is spread, anything
    else goes under ``attrs``. Numbers orjson cannot read (beyond 64 bits) come as text, and
    a document too deep for orjson to write back (over 254 levels) as its JSON text."""
    if doc is None:
        return {}
    try:
        value = orjson.loads(doc)
    except orjson.JSONDecodeError:
        try:
            value = json.loads(doc, parse_int=_int_or_text, parse_constant=lambda _: None)
        except (RecursionError, ValueError):
            value = doc
    if doc.count("[") + doc.count("{") > _MAX_DEPTH:
        try:
            orjson.dumps(value)
        except orjson.JSONEncodeError:
            value = doc
    if value is None:
        return {}
    return value if isinstance(value, dict) else {"attrs": value}


def _int_or_text(text: str) -> int | str:
    value = int(text)
    return value if -(2**63) <= value < 2**64 else text


# -- queries ----------------------------------------------------------------------------------
def _check_bbox_srid(conn: Connection, bbox: BBox | None, working: int) -> None:
    """PROJ knows more CRSs than PostGIS's ``spatial_ref_sys``: refuse those PostGIS cannot
    reproject from, rather than fail in the query."""
    if bbox is None or bbox.srid == 4326:
        return
    known = conn.execute(
        text("SELECT 1 FROM spatial_ref_sys WHERE srid = :s"), {"s": bbox.srid}
    ).first()
    if known is None:
        raise InputError(
            f"bbox-crs EPSG:{bbox.srid} is not one the database can reproject from (PROJ knows "
            "it, PostGIS's spatial_ref_sys does not): leave bbox-crs out for lon,lat (CRS84), "
            f"or give a horizontal EPSG CRS the database lists, e.g. the twin's own EPSG:{working}"
        )


def count_items(
    *,
    conn: Connection,
    layer: Layer,
    viewer: Principal,
    bbox: BBox | None = None,
    query: ItemQuery | None = None,
) -> int:
    """How many baseline features of ``layer`` ``viewer`` may see match ``bbox`` and the
    filter (``numberMatched``)."""
    srid = get_working_crs(conn)
    if srid is None:
        return 0
    _check_bbox_srid(conn, bbox, srid)
    where, params = where_clause(layer, viewer, bbox, srid, query)
    return int(
        conn.execute(text(f"SELECT count(*) FROM {layer.table}{where}"), params).scalar_one()
    )


def query_items(
    *,
    conn: Connection,
    layer: Layer,
    viewer: Principal,
    bbox: BBox | None = None,
    limit: int | None = None,
    offset: int | None = None,
    query: ItemQuery | None = None,
) -> ItemPage:
    """One page of features ordered by ``sortby`` then id, geometry in CRS84 (or the asked
    CRS) with heights kept.

    :raises InputError: bad ``limit``/``offset`` (see :func:`geodata.feature_params.check_paging`).
    """
    limit, offset = check_paging(limit=limit, offset=offset)
    query = query or ItemQuery()
    srid = get_working_crs(conn)
    if srid is None:
        return ItemPage([], 0, limit, offset)
    matched = count_items(conn=conn, layer=layer, viewer=viewer, bbox=bbox, query=query)
    if offset >= matched:
        return ItemPage([], matched, limit, offset)
    where, params = where_clause(layer, viewer, bbox, srid, query)
    # sort keys are queryables' columns (ours, never the client's text), then the id
    order = "".join(f"{c} {'DESC' if d else 'ASC'} NULLS LAST, " for c, d in query.sortby)
    order += "id"
    # page the ids first: PostgreSQL would otherwise reproject and encode every skipped row
    page = (
        f"id IN (SELECT id FROM {layer.table}{where} ORDER BY {order} LIMIT :limit OFFSET :offset)"
    )
    rows = conn.execute(
        text(f"{select_sql(layer, ' WHERE ' + page, srid, query.crs)} ORDER BY {order}"),
        {**params, "limit": limit, "offset": offset},
    )
    found = [feature_from_row(layer, r) for r in rows]
    for f in found:
        f["properties"] = query.select(f["properties"])
    return ItemPage(found, matched, limit, offset)


def get_item(
    *,
    conn: Connection,
    layer: Layer,
    viewer: Principal,
    feature_id: str | int,
    crs: OutputCrs | None = None,
) -> dict[str, Any]:
    """One baseline feature of ``layer`` by its id.

    :raises NotFound: no such id in this collection (ids are integers), or one from a dataset
        ``viewer`` may not see (answered like a missing id, so it is not even confirmed).
    """
    missing = NotFound(
        f"no feature {str(feature_id)!r} in collection {layer.id!r}: feature ids are the "
        f"integer ids listed by /collections/{layer.id}/items"
    )
    try:
        fid = int(feature_id)
    except (TypeError, ValueError):
        raise missing from None
    srid = get_working_crs(conn)
    if srid is None or not -(2**63) <= fid < 2**63:  # ids are bigint
        raise missing
    where, params = where_clause(layer, viewer, None, srid)
    where = f"{where} AND id = :fid" if where else " WHERE id = :fid"
    row = conn.execute(text(select_sql(layer, where, srid, crs)), {**params, "fid": fid}).first()
    if row is None:
        raise missing
    return feature_from_row(layer, row)


def collection_extent(*, conn: Connection, layer: Layer, viewer: Principal) -> list[float] | None:
    """``[minlon, minlat, maxlon, maxlat]`` of the layer's baseline features ``viewer`` may
    see; None when there are none.

    Rows no reprojection can place are left out (they are served without a geometry). The
    usual case costs one aggregate with a ``@`` test on the stored boxes; only when a NaN box
    slipped through it (``@`` lets NaN pass) is the aggregate redone with the exact test of
    :func:`_servable`. The box is densified before reprojection so the CRS84 box really
    contains every feature.
    """
    srid = get_working_crs(conn)
    if srid is None:
        return None
    where, params = where_clause(layer, viewer, None, srid)
    x0, y0, x1, y1 = served_box(srid)
    quick = f"{layer.geom_column} @ ST_MakeEnvelope({x0!r}, {y0!r}, {x1!r}, {y1!r}, {srid})"
    box = _extent(conn, layer, where, params, quick)
    if box is not None and not all(math.isfinite(v) for v in box):
        box = _extent(conn, layer, where, params, _servable(layer.geom_column, srid, heights=False))
    if box is None:
        return None
    return _lonlat_box(srid, *box)


def _extent(
    conn: Connection, layer: Layer, where: str, params: dict[str, Any], servable: str
) -> tuple[float, float, float, float] | None:
    """The working-CRS box of the rows of ``where`` that pass ``servable``."""
    where = f"{where} AND {servable}" if where else f" WHERE {servable}"
    row = conn.execute(
        text(
            f"SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM (SELECT "
            f"ST_Extent({layer.geom_column}) AS b FROM {layer.table}{where}) e "
            "WHERE b IS NOT NULL"
        ),
        params,
    ).first()
    return None if row is None else (float(row[0]), float(row[1]), float(row[2]), float(row[3]))


def _lonlat_box(srid: int, x0: float, y0: float, x1: float, y1: float) -> list[float]:
    """A working-CRS box as lon/lat bounds, its edges cut in :data:`_SEGMENTS` pieces first
    (a straight edge is curved in lon/lat), with the PROJ ``ST_Transform`` uses."""
    steps = [k / _SEGMENTS for k in range(_SEGMENTS + 1)]
    xs = [x0 + (x1 - x0) * t for t in steps]
    ys = [y0 + (y1 - y0) * t for t in steps]
    px = xs + [x1] * len(ys) + xs + [x0] * len(ys)
    py = [y0] * len(xs) + ys + [y1] * len(xs) + ys
    lon, lat = transformer(srid, 4326).transform(px, py)
    return [float(min(lon)), float(min(lat)), float(max(lon)), float(max(lat))]
