"""Downloads of a catalogue dataset as GeoJSON, CSV or GeoPackage, free of HTTP.

Open-data users take a dataset away with its licence and attribution inside the file, so the
terms travel with the data. Who may download what is the one access rule:
:func:`plan_download` checks the dataset with :func:`geodata.access.check_export` at the
strictest of its own and its layer's visibility, and keeps only the rows of layers the caller
may see (a furniture dataset's cameras are for agents). The route notes every granted
download in the audit log as an export.
"""

from __future__ import annotations

from sqlalchemy import Connection

from geodata.access import Principal, check_export, strictest
from geodata.datasets import Dataset, get_dataset
from geodata.errors import Forbidden, InputError, NotFound, Unauthorized
from geodata.export.plan import FORMATS, ExportPlan, Format
from geodata.feature_query import OutputCrs, storage_crs
from geodata.layers import LAYERS, Layer
from geodata.vocab import LIVE_LAYER
from geodata.working_crs import get_working_crs

#: a dataset's formats: the tabular ones (CityJSON is a layer export: ``twin export``)
DATASET_FORMATS: dict[str, Format] = {k: FORMATS[k] for k in ("geojson", "csv", "gpkg")}

#: the formats of an open aggregate of live data (``datasets.layer`` ``live``): its rows are
#: grid cells and windows, written by ``sensors_bridge.opendata.export``
LIVE_FORMATS: dict[str, Format] = {
    "csv": FORMATS["csv"],
    "json": Format("application/ld+json", ".jsonld", "FIWARE Smart Data Models (NGSI-LD)"),
}


def formats_of(dataset: Dataset) -> dict[str, Format]:
    """The formats ``dataset`` is downloadable in."""
    return LIVE_FORMATS if dataset.layer == LIVE_LAYER else DATASET_FORMATS


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


def _layer(dataset: Dataset) -> Layer:
    try:
        return LAYERS[dataset.layer]
    except KeyError:
        raise NotFound(
            f"dataset {dataset.id} names layer {dataset.layer!r}, which this twin does not "
            "have: re-import it with a --layer of `twin import --help`"
        ) from None


def plan_download(conn: Connection, viewer: Principal, dataset_id: int, fmt: str) -> ExportPlan:
    """Check and plan the download of one dataset: GeoJSON and CSV in CRS84, a GeoPackage in
    the working CRS.

    :raises InputError: an unknown format (the message lists the accepted ones).
    :raises NotFound: no such dataset.
    :raises Unauthorized, Forbidden: the caller may not see it, or it is confidential.
    """
    if fmt not in DATASET_FORMATS:
        raise InputError(f"unknown format {fmt!r}: choose one of {', '.join(DATASET_FORMATS)}")
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
    srid = get_working_crs(conn)
    out = OutputCrs() if FORMATS[fmt].crs84 or srid is None else storage_crs(srid)
    return ExportPlan(
        layer=layer,
        fmt=fmt,
        where=" AND ".join(clauses),
        params={"source": dataset.source},
        srid=srid,
        out=out,
        name=f"{dataset.source}-{dataset.layer}",
        title=dataset.title,
        terms={
            "title": dataset.title,
            "source": dataset.source,
            "licence": dataset.licence,
            "attribution": dataset.attribution,
        },
    )
