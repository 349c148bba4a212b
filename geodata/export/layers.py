"""A layer's export (``twin export LAYER`` and ``/collections/{id}/items?f=``), free of HTTP.

The rows are those the Features API would list for the same caller, bbox, CQL2 filter and
scenario (:func:`geodata.features.where_clause`, with ``exporting``: rows of confidential
datasets never leave the twin, whoever asks), so a file never holds what a page would not.
The layer and the scenario go through :func:`geodata.access.check_export`.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import Connection, text

from geodata.access import Principal, check_export, check_visibility, exportable_seen
from geodata.crs import is_geographic
from geodata.datasets import dataset_layers
from geodata.errors import InputError
from geodata.export.plan import FORMATS, ExportPlan
from geodata.feature_params import BBox
from geodata.feature_query import ItemQuery, OutputCrs, parse_output_crs, storage_crs
from geodata.features import where_clause
from geodata.layers import Layer, get_layer
from geodata.vocab import sql_in
from geodata.working_crs import get_working_crs


def check_format(fmt: str, layer: Layer) -> None:
    """:raises InputError: a format the twin does not write, or one that cannot hold the
    layer (CityJSON holds buildings)."""
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if not FORMATS[fmt].holds(layer.id):
        others = ", ".join(k for k, f in FORMATS.items() if f.holds(layer.id))
        raise InputError(
            f"{FORMATS[fmt].label} holds {', '.join(sorted(FORMATS[fmt].layers or ()))}, not "
            f"{layer.id}: export {layer.id} as {others}"
        )


def scenario_id(
    conn: Connection, viewer: Principal, layer: Layer, slug: str, *, exporting: bool = True
) -> int:
    """The id of scenario ``slug``, if ``layer`` has scenarios and the caller may see it (its
    project's visibility, through the one access rule), or with ``exporting`` take it away.

    :raises InputError: a layer without scenarios. :raises NotFound: no such scenario.
    """
    from geodata.scenarios import get_scenario

    if not layer.scenario_aware:
        raise InputError(f"collection {layer.id!r} has no scenarios: leave out scenario")
    row = get_scenario(conn, slug)
    check = check_export if exporting else check_visibility
    check(viewer, row.visibility, f"scenario {slug!r}")
    return row.id


def output_crs(fmt: str, crs: str | None, srid: int | None, *, any_crs: bool) -> OutputCrs:
    """The CRS to write: the one asked for, else CRS84 for GeoJSON and CSV and the working
    CRS for the others. CityJSON needs metres (a projected CRS)."""
    if crs is None:
        return OutputCrs() if FORMATS[fmt].crs84 or srid is None else storage_crs(srid)
    out = parse_output_crs(crs, srid, any_crs=any_crs)
    if FORMATS[fmt].layers is not None and is_geographic(out.srid):
        raise InputError(
            f"{FORMATS[fmt].label} is written in metres: give a projected crs, e.g. the "
            f"twin's own EPSG:{srid}, not {crs!r}"
        )
    return out


def plan_export(
    conn: Connection,
    viewer: Principal,
    layer_id: str,
    fmt: str,
    *,
    query: ItemQuery | None = None,
    scenario: str | None = None,
    bbox: BBox | None = None,
    crs: str | None = None,
    any_crs: bool = False,
) -> ExportPlan:
    """Check and plan the export of a layer: its baseline, or as ``scenario`` shows it; cut
    by ``bbox`` and ``query``'s filter; in ``crs`` (with ``any_crs``, a local export, any
    horizontal EPSG CRS; else the collection's ``crs`` list).

    :raises InputError, NotFound, Unauthorized, Forbidden: as their messages say.
    """
    layer = get_layer(layer_id)
    check_export(viewer, layer.visibility, f"collection {layer.id!r}")
    check_format(fmt, layer)
    query = query or ItemQuery()
    if scenario is not None:
        query = replace(query, scenario_id=scenario_id(conn, viewer, layer, scenario))
    srid = get_working_crs(conn)
    out = output_crs(fmt, crs, srid, any_crs=any_crs)
    where, params = where_clause(layer, viewer, bbox, srid or 4326, query, exporting=True)
    name = layer.id + (f"-{scenario}" if scenario else "")
    title = layer.title + (f", scenario {scenario}" if scenario else "")
    return ExportPlan(
        layer=layer,
        fmt=fmt,
        where=where.removeprefix(" WHERE ") or "TRUE",
        params=params,
        srid=srid,
        out=out,
        name=name,
        title=title,
        terms=_terms(conn, viewer, layer, title),
    )


def _terms(conn: Connection, viewer: Principal, layer: Layer, title: str) -> dict[str, str | None]:
    """The sources, licences and attributions of the datasets the rows may come from."""
    layers = dataset_layers(layer.table)
    rows = (
        conn.execute(
            text(
                "SELECT source, licence, attribution FROM datasets WHERE layer IN "
                f"({sql_in(layers)}) AND visibility IN ({sql_in(sorted(exportable_seen(viewer)))}) "
                "ORDER BY source"
            )
        ).all()
        if layers
        else []
    )

    def joined(values: list[str | None]) -> str | None:
        kept = list(dict.fromkeys(v for v in values if v))
        return "; ".join(kept) if kept else None

    return {
        "title": title,
        "source": joined([r[0] for r in rows]),
        "licence": joined([r[1] for r in rows]),
        "attribution": joined([r[2] for r in rows]),
    }
