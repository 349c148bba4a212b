"""OGC API - Features Part 1 (Core, GeoJSON, OpenAPI 3.0) over :mod:`geodata.features`.

The routes only parse parameters, authorise (every collection route goes through
``VisibleLayer``, so agent-only collections answer 401 or 403 in one place) and add the OGC
links; queries and their validation live in the service. Documents are encoded with orjson
and returned as responses, so a page of 10,000 features skips FastAPI's generic encoder.
"""

from __future__ import annotations

import html
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.routing import Mount

from geodata import export, feature_params, features
from geodata.crs import CRS84_URI
from geodata.errors import InputError
from geodata.export.layers import scenario_id
from geodata.feature_query import crs_list, parse_output_crs
from geodata.layers import LAYERS, Layer
from geodata.queryables import schema_document
from geodata.working_crs import get_working_crs
from twin.api import feature_query as fq
from twin.api.deps import CurrentUser, EngineDep, ExportedLayer, SettingsDep, VisibleLayer
from twin.api.downloads import file_response
from twin.api.openapi import problems

router = APIRouter(tags=["OGC API - Features"])

JSON = "application/json"
GEOJSON = "application/geo+json"
#: the media type OGC and OWSLib look for; FastAPI writes OpenAPI 3.1, a superset clients read
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
_ITEMS_PARAMS = (
    frozenset({"bbox", "bbox-crs", "datetime", "f", "limit", "offset", "scenario"}) | fq.PARAMS
)

FormatParam = Annotated[
    Literal["json"] | None, Query(description="Output format: `json` (the only one served).")
]
FeatureFormatParam = Annotated[
    Literal["json", "geojson"] | None,
    Query(description="Output format: GeoJSON, as `json` or `geojson` (the only one served)."),
]
ItemsFormatParam = Annotated[
    Literal["json", "geojson", "gpkg", "csv", "cityjson", "cityjsonseq"] | None,
    Query(
        description="`json` or `geojson`: a page of GeoJSON; `gpkg`, `csv`, `cityjson` or "
        "`cityjsonseq` (buildings): a file of every matching feature (no paging), in `crs` "
        "(default: CRS84 for csv, the storage CRS for gpkg and CityJSON)"
    ),
]
ScenarioParam = Annotated[
    str | None,
    Query(
        description="The features as this scenario (`GET /api/scenarios`) shows them: its "
        "added and raised buildings in, the ones it removes or replaces out",
        max_length=64,
    ),
]
LandingFormatParam = Annotated[
    Literal["json", "html"] | None,
    Query(description="`json`: the OGC landing page; `html`: the 3D viewer."),
]
#: a collection may be closed to the caller (401/403) or missing (404)
_COLLECTION = problems(403, 404)


class OGCJSONResponse(JSONResponse):
    """JSON encoded by orjson: several times faster than the stdlib on large pages."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=_encode_other)


def _encode_other(value: Any) -> Any:
    """NUMERIC columns arrive as Decimal, which orjson leaves to us; anything else as text."""
    return float(value) if isinstance(value, Decimal) else str(value)


class GeoJSONResponse(OGCJSONResponse):
    media_type = GEOJSON


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _link(href: str, rel: str, type_: str, title: str | None = None) -> dict[str, str]:
    link = {"href": href, "rel": rel, "type": type_}
    if title:
        link["title"] = title
    return link


# -- landing page and conformance -------------------------------------------------------------
def _viewer_index(request: Request) -> Path | None:
    """The built viewer's index.html, found through the static mount ``twin.app`` adds."""
    for route in request.app.routes:
        if (
            isinstance(route, Mount)
            and route.name == "viewer"
            and isinstance(route.app, StaticFiles)
        ):
            index = Path(str(route.app.directory)) / "index.html"
            return index if index.exists() else None
    return None


def _wants_html(request: Request, f: str | None) -> bool:
    if f is not None:
        return f == "html"
    accept = request.headers.get("accept", "").lower()
    return "text/html" in accept and JSON not in accept


def _landing_links(base: str, viewer: bool) -> list[dict[str, str]]:
    links = [
        _link(f"{base}/?f=json", "self", JSON, "This document"),
        _link(f"{base}/openapi.json", "service-desc", OPENAPI, "The API definition"),
        _link(f"{base}/docs", "service-doc", "text/html", "The API documentation"),
        _link(f"{base}/conformance", "conformance", JSON, "Conformance classes"),
        _link(f"{base}/collections", "data", JSON, "The feature collections"),
    ]
    if viewer:
        links.append(_link(f"{base}/?f=html", "alternate", "text/html", "The 3D viewer"))
    return links


@router.get(
    "/",
    response_class=OGCJSONResponse,
    summary="Landing page (JSON) or the 3D viewer (HTML)",
    responses={200: {"content": {"text/html": {}}}},
)
def landing(request: Request, f: LandingFormatParam = None) -> Response:
    """One URL for people and programs, chosen by content negotiation.

    A browser (``Accept`` with ``text/html`` and without ``application/json``) or ``?f=html``
    gets the viewer's ``index.html`` when the viewer is built, served here rather than by a
    redirect so the address stays ``/``; without a built viewer it gets a short HTML page of
    the same links. Everything else (OWSLib, curl, ``fetch`` with ``*/*``) or ``?f=json`` gets
    the OGC landing page. This route is registered before the viewer's static mount at ``/``,
    so it always wins for ``/`` while the mount keeps serving the viewer's other files.
    """
    base = _base(request)
    index = _viewer_index(request)
    if _wants_html(request, f):
        if index is not None:
            return FileResponse(index, media_type="text/html")
        items = "".join(
            f'<li><a href="{html.escape(link["href"])}">{html.escape(link["title"])}</a></li>'
            for link in _landing_links(base, viewer=False)
        )
        return HTMLResponse(
            "<!doctype html><title>Urban twin</title><h1>Urban twin</h1>"
            f"<p>The 3D viewer is not built (run <code>make viewer</code>).</p><ul>{items}</ul>"
        )
    return OGCJSONResponse(
        {
            "title": "Urban twin",
            "description": "A city's digital twin: buildings, buried networks and street "
            "furniture as OGC API - Features, with 3D Tiles and live IoT state.",
            "links": _landing_links(base, viewer=index is not None),
        }
    )


@router.get("/conformance", response_class=OGCJSONResponse, summary="Conformance classes")
def conformance(f: FormatParam = None) -> Response:
    return OGCJSONResponse({"conformsTo": CONFORMANCE + fq.CONFORMANCE})


# -- collections ------------------------------------------------------------------------------
def _collection_doc(
    base: str, layer: Layer, extent: list[float] | None, working: int | None
) -> dict[str, Any]:
    url = f"{base}/collections/{layer.id}"
    doc: dict[str, Any] = {
        "id": layer.id,
        "title": layer.title,
        "description": layer.description,
        "itemType": "feature",
        "crs": crs_list(working),
        "storageCrs": f"http://www.opengis.net/def/crs/EPSG/0/{working}" if working else CRS84_URI,
        "links": [
            _link(url, "self", JSON, layer.title),
            _link(f"{url}/items", "items", GEOJSON, f"{layer.title} as GeoJSON"),
            _link(
                f"{url}/queryables",
                "http://www.opengis.net/def/rel/ogc/1.0/queryables",
                "application/schema+json",
                "Queryables",
            ),
            # the whole collection as a file, in every format that can hold it
            *(
                _link(
                    f"{url}/items?f={k}",
                    "enclosure",
                    fmt.media_type,
                    f"{layer.title} as {fmt.label}",
                )
                for k, fmt in export.FORMATS.items()
                if k in export.FILE_FORMATS and fmt.holds(layer.id)
            ),
        ],
    }
    if extent is not None:
        doc["extent"] = {"spatial": {"bbox": [extent], "crs": CRS84_URI}}
    return doc


@router.get("/collections", response_class=OGCJSONResponse, summary="Collections you may see")
def collections(
    request: Request, user: CurrentUser, engine: EngineDep, f: FormatParam = None
) -> Response:
    """Only the collections the caller's role may see are listed; the others stay hidden."""
    base = _base(request)
    visible = [layer for layer in LAYERS.values() if user.may_see(layer.visibility)]
    with engine.connect() as conn:
        working = get_working_crs(conn)
        docs = [
            _collection_doc(
                base,
                layer,
                features.collection_extent(conn=conn, layer=layer, viewer=user),
                working,
            )
            for layer in visible
        ]
    return OGCJSONResponse(
        {"links": [_link(f"{base}/collections", "self", JSON, "Collections")], "collections": docs}
    )


@router.get(
    "/collections/{collection_id}",
    response_class=OGCJSONResponse,
    summary="One collection",
    responses=_COLLECTION,
)
def collection(
    request: Request,
    layer: VisibleLayer,
    user: CurrentUser,
    engine: EngineDep,
    f: FormatParam = None,
) -> Response:
    with engine.connect() as conn:
        extent = features.collection_extent(conn=conn, layer=layer, viewer=user)
        working = get_working_crs(conn)
    return OGCJSONResponse(_collection_doc(_base(request), layer, extent, working))


@router.get(
    "/collections/{collection_id}/queryables",
    summary="What the collection's items may be filtered and sorted on (JSON Schema)",
    response_class=Response,
    responses={
        200: {"content": {"application/schema+json": {"schema": {"type": "object"}}}},
        **_COLLECTION,
    },
)
def queryables(request: Request, layer: VisibleLayer, f: FormatParam = None) -> Response:
    url = f"{_base(request)}/collections/{layer.id}/queryables"
    return Response(orjson.dumps(schema_document(layer, url)), media_type="application/schema+json")


@router.get(
    "/collections/{collection_id}/items",
    response_class=GeoJSONResponse,
    summary="Features of a collection (GeoJSON, CRS84, heights kept), or a file of them",
    responses={
        200: {"content": {export.FORMATS[k].media_type: {} for k in export.FILE_FORMATS}},
        **_COLLECTION,
    },
)
def items(
    request: Request,
    layer: ExportedLayer,
    user: CurrentUser,
    engine: EngineDep,
    settings: SettingsDep,
    bbox: Annotated[
        str | None,
        Query(
            description="minx,miny,maxx,maxy (or the 6-number form with heights): lon,lat in "
            "CRS84 unless bbox-crs says otherwise; the lower corner below and left of the "
            "upper one, latitudes within -90..90 and longitudes within -180..180 in a "
            "geographic CRS (format `bbox`)",
            json_schema_extra={"pattern": feature_params.BBOX_PATTERN, "format": "bbox"},
        ),
    ] = None,
    bbox_crs: Annotated[
        str | None,
        Query(
            alias="bbox-crs",
            description=f"CRS of bbox: {CRS84_URI} (the default), an EPSG URI such as "
            "http://www.opengis.net/def/crs/EPSG/0/3067, or EPSG:XXXX; a geographic or "
            "projected CRS the database knows (format `crs`)",
            json_schema_extra={"format": "crs"},
        ),
    ] = None,
    limit: Annotated[
        int | None,
        Query(
            description=f"Page size, default {feature_params.DEFAULT_LIMIT}; above "
            f"{feature_params.MAX_LIMIT} it is lowered to {feature_params.MAX_LIMIT}",
            json_schema_extra={"minimum": 1},
        ),
    ] = None,
    offset: Annotated[
        int | None,
        Query(description="Features to skip (paging)", json_schema_extra={"minimum": 0}),
    ] = None,
    datetime_: Annotated[
        str | None,
        Query(alias="datetime", description="Accepted; collections have no time dimension"),
    ] = None,
    filter_: fq.FilterParam = None,
    filter_lang: fq.FilterLangParam = None,
    filter_crs: fq.FilterCrsParam = None,
    crs: fq.CrsParam = None,
    sortby: fq.SortbyParam = None,
    properties: fq.PropertiesParam = None,
    scenario: ScenarioParam = None,
    f: ItemsFormatParam = None,
) -> Response:
    unknown = sorted(set(request.query_params) - _ITEMS_PARAMS)
    if unknown:
        raise InputError(
            f"unknown query parameter {unknown[0]!r}: items accept "
            f"{', '.join(sorted(_ITEMS_PARAMS))}"
        )
    box = feature_params.parse_bbox(bbox, crs=bbox_crs)
    with engine.connect() as conn:
        query = fq.item_query(
            layer,
            get_working_crs(conn),
            filter_=filter_,
            filter_lang=filter_lang,
            filter_crs=filter_crs,
            crs=crs,
            sortby=sortby,
            properties=properties,
        )
        if f in export.FILE_FORMATS:
            if limit is not None or offset is not None:
                raise InputError(
                    f"f={f} is a file of every matching feature: leave out limit and offset "
                    "(they page the GeoJSON)"
                )
            plan = export.plan_export(
                conn, user, layer.id, f, query=query, scenario=scenario, bbox=box, crs=crs
            )
            return file_response(engine, settings, plan)
        if scenario is not None:
            query = replace(
                query, scenario_id=scenario_id(conn, user, layer, scenario, exporting=False)
            )
        page = features.query_items(
            conn=conn, layer=layer, viewer=user, bbox=box, limit=limit, offset=offset, query=query
        )
    base = _base(request)
    links = [
        _link(str(request.url), "self", GEOJSON, "This page"),
        _link(f"{base}/collections/{layer.id}", "collection", JSON, layer.title),
    ]
    if page.has_next:
        nxt = request.url.include_query_params(limit=page.limit, offset=page.offset + page.limit)
        links.append(_link(str(nxt), "next", GEOJSON, "Next page"))
    if page.has_prev:
        prev = request.url.include_query_params(
            limit=page.limit, offset=max(page.offset - page.limit, 0)
        )
        links.append(_link(str(prev), "prev", GEOJSON, "Previous page"))
    return GeoJSONResponse(
        {
            "type": "FeatureCollection",
            "features": page.features,
            "numberMatched": page.number_matched,
            "numberReturned": page.number_returned,
            "timeStamp": _now(),
            "links": links,
        },
        headers={"Content-Crs": f"<{query.crs.uri}>"},
    )


@router.get(
    "/collections/{collection_id}/items/{feature_id}",
    response_class=GeoJSONResponse,
    summary="One feature",
    responses=_COLLECTION,
)
def item(
    request: Request,
    layer: VisibleLayer,
    user: CurrentUser,
    engine: EngineDep,
    feature_id: str,
    crs: fq.CrsParam = None,
    f: FeatureFormatParam = None,
) -> Response:
    with engine.connect() as conn:
        out = parse_output_crs(crs, get_working_crs(conn))
        feature = features.get_item(
            conn=conn, layer=layer, viewer=user, feature_id=feature_id, crs=out
        )
    url = f"{_base(request)}/collections/{layer.id}"
    feature["links"] = [
        _link(f"{url}/items/{feature['id']}", "self", GEOJSON, "This feature"),
        _link(url, "collection", JSON, layer.title),
    ]
    return GeoJSONResponse(feature, headers={"Content-Crs": f"<{out.uri}>"})
