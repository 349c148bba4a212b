"""``/api/analysis/...``: every analysis of :mod:`twin.analysis.registry` as a route.

``POST /api/analysis/{name}`` takes the parameters as a JSON body (``GET`` with query
parameters too, for analyses with flat parameters); a fast analysis answers with its result,
a slow one with ``202`` and its job (``GET /api/analysis/jobs/{id}``) unless the result is
already cached. Files (panoramas, rasters, reports) are links under
``/api/analysis/results/{key}/``, checked against the result's visibility on every read.

No ``from __future__ import annotations`` here: the routes' body types are each analysis'
parameter model, which FastAPI must see as a real class.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from geodata.access import check_visibility
from twin.analysis.base import Analysis, AnalysisContext
from twin.analysis.cache import Stored
from twin.analysis.jobs import JobRunner
from twin.analysis.registry import get_analysis, names
from twin.analysis.runner import run_analysis, store_for
from twin.api.deps import CurrentUser, audit_access
from twin.api.openapi import problems

_PREFIX = "/api/analysis"
JobId = Annotated[str, Path(max_length=64, pattern="^[0-9a-f]+$", description="A job's id.")]
Key = Annotated[str, Path(max_length=64, pattern="^[0-9a-f]+$", description="A result's key.")]
FileName = Annotated[str, Path(max_length=100, description="A file of the result.")]


def _context(request: Request, user: Any) -> AnalysisContext:
    return AnalysisContext(request.app.state.engine, request.app.state.settings, user)


def result_document(stored: Stored, hit: bool = False) -> dict[str, Any]:
    """The result as the API gives it: the analysis' document, plus links to its files."""
    doc = dict(stored.data)
    if stored.files:
        doc["files"] = {f: f"{_PREFIX}/results/{stored.key}/{f}" for f in stored.files}
    return doc


def _answer(analysis: Analysis[Any], request: Request, user: Any, params: Any) -> JSONResponse:
    ctx = _context(request, user)
    jobs: JobRunner = request.app.state.analysis_jobs
    if analysis.slow:
        from twin.analysis.runner import key_for

        visibility = analysis.check(ctx, params)
        key = key_for(analysis, ctx, params)
        cached = store_for(ctx).get(key) if key is not None else None
        if cached is None:
            job = jobs.submit(analysis, ctx, params)
            href = f"{_PREFIX}/jobs/{job}"
            audit_access(request, user, "read", f"analysis {analysis.name}", visibility)
            return JSONResponse(
                {"job": job, "status": "queued", "href": href},
                status_code=202,
                headers={"Location": href},
            )
        outcome_stored, hit = cached, True
    else:
        outcome = run_analysis(analysis, ctx, params)
        outcome_stored, hit = outcome.stored, outcome.hit
    audit_access(request, user, "read", f"analysis {analysis.name}", outcome_stored.visibility)
    return JSONResponse(
        result_document(outcome_stored), headers={"X-Analysis-Cache": "hit" if hit else "miss"}
    )


def _add_routes(router: APIRouter, analysis: Analysis[Any]) -> None:
    model = analysis.Params
    codes: dict[int | str, dict[str, Any]] = {
        **problems(400, 401, 403, 404),
        200: {"description": "The result (from the cache when X-Analysis-Cache says hit)"},
    }
    if analysis.slow:  # uncached: a job to poll (the OpenAPI document must say so)
        codes[202] = {
            "description": "Accepted: a job; poll `href` (also in `Location`) for its progress "
            "and result",
            "headers": {
                "Location": {"description": "the job's address", "schema": {"type": "string"}}
            },
        }
    doc = (analysis.__class__.__doc__ or analysis.title).strip()

    def add(method: str, source: Any, name: str) -> None:
        """One route taking the parameters from ``source`` (the body, or the query)."""

        def answer(
            request: Request,
            user: CurrentUser,
            params: Annotated[model, source],  # type: ignore[valid-type]
        ) -> JSONResponse:
            return _answer(analysis, request, user, params)

        router.add_api_route(
            f"/{analysis.name}",
            answer,
            methods=[method],
            summary=analysis.title,
            description=doc,
            responses=codes,
            name=name,
        )

    add(
        "POST",
        Body(openapi_examples={"example": {"value": analysis.example}}),
        f"analysis_{analysis.name}",
    )
    if analysis.get:
        add("GET", Query(), f"analysis_{analysis.name}_get")


def build_router() -> APIRouter:
    router = APIRouter(prefix=_PREFIX, tags=["analysis"])

    @router.get("", summary="The analyses the twin offers")
    def list_analyses() -> list[dict[str, Any]]:
        out = []
        for name in names():
            a = get_analysis(name)
            out.append(
                {
                    "name": name,
                    "title": a.title,
                    "href": f"{_PREFIX}/{name}",
                    "layers": list(a.layers),
                    "slow": a.slow,
                    "parameters": a.Params.model_json_schema(),
                }
            )
        return out

    @router.get(
        "/jobs/{job_id}",
        summary="A slow analysis' progress, then its result",
        responses=problems(401, 403, 404),
    )
    async def job(job_id: JobId, request: Request, user: CurrentUser) -> dict[str, Any]:
        jobs: JobRunner = request.app.state.analysis_jobs
        state = await run_in_threadpool(jobs.read, job_id, user)
        if state["status"] == "done" and state["key"]:
            stored = store_for(_context(request, user)).get(state["key"])
            if stored is not None:
                state["result"] = result_document(stored)
        return state

    @router.get(
        "/results/{key}/{filename}",
        summary="A file of an analysis' result (a panorama, a raster, a report)",
        response_class=FileResponse,
        responses=problems(401, 403, 404),
    )
    def result_file(
        key: Key, filename: FileName, request: Request, user: CurrentUser
    ) -> FileResponse:
        store = store_for(_context(request, user))
        stored = store.get(key)
        if stored is None:
            from geodata.errors import NotFound

            raise NotFound(
                f"no analysis result {key!r}: results are kept by their inputs; ask again"
            )
        check_visibility(user, stored.visibility, f"analysis result {key}")
        audit_access(request, user, "read", f"analysis result {key}", stored.visibility)
        return FileResponse(
            store.file(key, filename), headers={"Cache-Control": "private, max-age=3600"}
        )

    for name in names():
        _add_routes(router, get_analysis(name))
    return router
