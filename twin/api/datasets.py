"""The datasets catalogue: what the twin holds, from whom, under which licence, and downloads.

Open-data users need the licence and attribution of what they reuse; the catalogue lists only
the datasets the caller may see (an agent-only dataset does not exist for a citizen), through
the one access rule in :mod:`geodata.access`. ``?f=jsonld`` gives the same list as DCAT-AP
for harvesters (:mod:`geodata.dcat`); ``/{id}/download`` streams a dataset as GeoJSON, CSV or
GeoPackage (:mod:`geodata.export`), or an open aggregate of live data (layer ``live``) as CSV
or FIWARE Smart Data Models JSON (:mod:`sensors_bridge.opendata.export`, which first
releases the windows closed since the last download).

Every granted download is an export for the audit log (:func:`twin.api.deps.audit_access`,
the rule the feature pages follow: signed-in callers and non-public data), noted before the
first byte leaves.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from geodata import datasets, dcat, export
from geodata.vocab import LIVE_LAYER
from sensors_bridge.opendata import export as live_export
from sensors_bridge.opendata.release import get_spec, release_closed
from twin.api.deps import CurrentUser, EngineDep, SettingsDep, audit_access
from twin.api.downloads import PRIVATE, file_response
from twin.api.openapi import problems

router = APIRouter(prefix="/api/datasets", tags=["datasets"])
JSONLD = "application/ld+json"


@router.get(
    "",
    summary="Datasets the caller may see, with licence and attribution (f=jsonld: DCAT-AP)",
    responses={200: {"content": {JSONLD: {}}}},
)
def list_datasets(
    request: Request,
    user: CurrentUser,
    engine: EngineDep,
    settings: SettingsDep,
    f: Annotated[Literal["json", "jsonld"], Query(description="json or jsonld")] = "json",
) -> Response:
    with engine.connect() as conn:
        rows = datasets.list_datasets(conn, user)
    if f == "jsonld":
        base = str(request.base_url).rstrip("/")
        doc = dcat.catalog(rows, user, base_url=base, publisher=settings.publisher)
        return JSONResponse(doc, media_type=JSONLD)
    return JSONResponse({"datasets": [d.public_dict() for d in rows]})


@router.get("/{dataset_id}", summary="One dataset", responses=problems(403, 404))
def get_dataset(dataset_id: int, user: CurrentUser, engine: EngineDep) -> dict[str, Any]:
    """One catalogue row; an open aggregate says what it aggregates and how (``aggregate``)."""
    with engine.connect() as conn:
        dataset = datasets.get_dataset(conn, user, dataset_id)
        doc = dataset.public_dict()
        if dataset.layer == LIVE_LAYER:
            doc["aggregate"] = get_spec(conn, dataset_id).public_dict()
    return doc


@router.get(
    "/{dataset_id}/download",
    summary="The dataset as a file, its licence and attribution inside (open aggregates of "
    "live data: csv or json)",
    response_class=Response,
    responses={
        200: {
            "content": {
                f.media_type: {}
                for f in [*export.DATASET_FORMATS.values(), *export.LIVE_FORMATS.values()]
            }
        },
        **problems(403, 404),
    },
)
def download(
    dataset_id: int,
    request: Request,
    user: CurrentUser,
    engine: EngineDep,
    settings: SettingsDep,
    format: Annotated[
        Literal["geojson", "csv", "gpkg", "json"],
        Query(
            description="geojson, csv or gpkg; an open aggregate of live data: csv or json "
            "(geojson, the default, gives it as json)"
        ),
    ] = "geojson",
) -> Response:
    with engine.connect() as conn:
        dataset = datasets.get_dataset(conn, user, dataset_id)
    if dataset.layer == LIVE_LAYER:
        return _live_download(request, user, engine, dataset_id, format, dict(PRIVATE))
    with engine.connect() as conn:
        plan = export.plan_download(conn, user, dataset_id, format)
    audit_access(
        request,
        user,
        "export",
        f"dataset {dataset.id} as {plan.fmt}",
        export.download_visibility(dataset),
    )
    return file_response(engine, settings, plan)


def _live_download(
    request: Request,
    user: CurrentUser,
    engine: EngineDep,
    dataset_id: int,
    fmt: str,
    headers: dict[str, str],
) -> Response:
    """An open aggregate: checked, its closed windows released, then streamed."""
    if fmt == "geojson":  # the default of the other datasets: say what to ask for
        fmt = "json"
    with engine.connect() as conn:
        plan = live_export.plan(conn, user, dataset_id, fmt)
    release_closed(engine, dataset_id)
    audit_access(
        request,
        user,
        "export",
        f"dataset {plan.dataset.id} as {plan.fmt}",
        plan.dataset.visibility,
    )
    headers["Content-Disposition"] = f'attachment; filename="{plan.filename}"'
    media = export.LIVE_FORMATS[plan.fmt].media_type
    return StreamingResponse(
        live_export.CHUNKS[plan.fmt](engine, plan), media_type=media, headers=headers
    )
