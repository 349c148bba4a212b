"""The app as ``twin serve`` builds it, plus one test-only route that tells how many token
hashes the server performed: the load test (test_auth_load) runs it in a real uvicorn process.

Run with ``python -m uvicorn tests.auth_server:app --factory``; settings come from TWIN_*.
"""

from __future__ import annotations

from fastapi import FastAPI

from twin.app import create_app
from twin.auth import TokenVerifier
from twin.settings import get_settings


def app() -> FastAPI:
    application = create_app(get_settings())

    @application.get("/test/hashes", include_in_schema=False)
    def hashes() -> dict[str, int]:
        verifier: TokenVerifier = application.state.verifier
        return {"performed": verifier.hashes}

    # ahead of the viewer, which create_app mounts at / last
    application.router.routes.insert(0, application.router.routes.pop())
    return application
