"""The FastAPI application, built from explicit settings (never at import time)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.types import ASGIApp

from geodata.db import check_migrated, make_engine
from sensors_bridge.store import BatchWriter
from twin.analysis.jobs import JobRunner
from twin.api import alerts as alerts_api
from twin.api import analysis as analysis_api
from twin.api import audit as audit_api
from twin.api import (
    datasets,
    devices,
    errors,
    features,
    ingest,
    live,
    lorawan,
    meta,
    openapi,
    signin,
    sta,
    stops,
)
from twin.api import rules as rules_api
from twin.api import scenarios as scenarios_api
from twin.api import terrain as terrain_api
from twin.api import tiles as tiles_api
from twin.api.http import HTTPEdge, NegotiatedGZip, viewer_csp
from twin.audit import AuditWriter
from twin.auth import TokenVerifier, dummy_hash
from twin.forwarded import ForwardedHeaders
from twin.listeners import close_all, listeners_for
from twin.live.service import LiveService
from twin.settings import Settings
from twin.throttle import RateLimits

LOGGER = logging.getLogger(__name__)
VIEWER_DIST = Path(__file__).resolve().parent.parent / "viewer" / "dist"


class TwinAPI(FastAPI):
    """FastAPI with :class:`~twin.api.http.HTTPEdge` outside even its error middleware, so the
    500 page gets the security headers and HEAD works everywhere."""

    def build_middleware_stack(self) -> ASGIApp:
        settings: Settings = self.state.settings
        return HTTPEdge(
            super().build_middleware_stack(),
            max_body_bytes=settings.max_body_bytes,
            viewer_csp=viewer_csp(settings.oidc_origin),
        )


def create_app(settings: Settings, engine: Engine | None = None) -> FastAPI:
    """Build the app. The database must be migrated: start-up fails with the fixing command."""
    own_engine = engine is None
    engine = engine or make_engine(settings.sqlalchemy_url)
    audit = AuditWriter(engine, settings.audit_flush_seconds)
    listeners = listeners_for(settings, engine)
    live_service = LiveService(engine, settings) if settings.live else None
    analysis_jobs = JobRunner(settings.analysis_dir / "jobs", settings.analysis_jobs)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        check_migrated(engine)
        dummy_hash()  # made now, so the first unknown token id costs what any other does
        audit.start()
        if live_service is not None:
            await live_service.start()
        yield
        if live_service is not None:
            await live_service.stop()
        analysis_jobs.close()
        audit.stop()
        close_all(listeners)
        if own_engine:
            engine.dispose()

    app = TwinAPI(
        title="Urban twin",
        summary="A city's digital twin: OGC API - Features, OGC 3D Tiles and live IoT state.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.audit = audit
    app.state.listeners = listeners
    app.state.live = live_service
    app.state.analysis_jobs = analysis_jobs
    app.state.hub = live_service.hub if live_service is not None else None
    app.state.verifier = TokenVerifier(engine, settings, audit)
    app.state.ingest_writer = BatchWriter(engine, "http", listeners)
    app.state.ingest_writers = {p: BatchWriter(engine, p, listeners) for p in ("tts", "chirpstack")}
    app.state.ingest_limits = RateLimits(
        {
            "requests": settings.ingest_requests_per_token,
            "observations": settings.ingest_observations_per_token,
        },
        "ingest",
    )
    app.add_middleware(NegotiatedGZip, minimum_size=1024, compresslevel=5)
    if settings.cors_origins:  # closed unless origins are configured
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "HEAD"],
            allow_headers=["Authorization", "If-None-Match", "Range"],
            expose_headers=["ETag", "Content-Length", "Content-Range"],
            max_age=600,
        )
    # outermost: links are built from the public scheme, host and port behind docker/nginx
    app.add_middleware(ForwardedHeaders, trusted=settings.forwarded_allow_ips)
    errors.install(app)
    app.include_router(meta.router)
    app.include_router(signin.router)
    app.include_router(datasets.router)
    app.include_router(features.router)
    app.include_router(tiles_api.router)
    app.include_router(terrain_api.router)
    app.include_router(audit_api.router)
    app.include_router(stops.router)
    app.include_router(ingest.router)
    app.include_router(lorawan.router)
    app.include_router(devices.router)
    app.include_router(alerts_api.router)
    app.include_router(rules_api.router)
    app.include_router(scenarios_api.router)
    app.include_router(sta.router)
    app.include_router(live.router)
    app.include_router(analysis_api.build_router())
    _mount_viewer(app)
    openapi.install(app)
    return app


def app_from_environment() -> FastAPI:
    """The factory each ``twin serve --workers N`` process calls: the settings are read again
    from the same environment, and each worker gets its own engine and live hub."""
    from twin.settings import get_settings

    return create_app(get_settings())


def _mount_viewer(app: FastAPI) -> None:
    if (VIEWER_DIST / "index.html").exists():
        app.mount("/", StaticFiles(directory=VIEWER_DIST, html=True), name="viewer")
        return

    @app.get("/viewer-missing", include_in_schema=False)
    def _missing() -> HTMLResponse:  # pragma: no cover - shown only without a built viewer
        return HTMLResponse("<p>The viewer is not built: run <code>make viewer</code>.</p>")
