"""``twin serve``: the API, the tiles and the viewer (FastAPI and uvicorn load only here)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from twin.cli.common import console, settings, user_errors

if TYPE_CHECKING:
    from twin.runtime import Runtime


def serve_runtime(rt: Runtime, host: str, port: int) -> None:
    """Serve the twin of a running ``Runtime`` until Ctrl-C (``twin serve``, ``demo --serve``)."""
    import uvicorn

    from twin.app import create_app

    rt.check()
    application = create_app(rt.settings, engine=rt.engine)
    console.print(f"serving the twin on http://{host}:{port} (Ctrl-C stops)")
    # forwarded headers are twin.forwarded's business (scheme, host, port and client, from
    # TWIN_FORWARDED_ALLOW_IPS): uvicorn's partial version is turned off
    uvicorn.run(application, host=host, port=port, log_level="warning", proxy_headers=False)


def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (TWIN_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (TWIN_PORT).")] = None,
) -> None:
    """Serve the API, the tiles and the viewer; stops what it started on Ctrl-C."""
    from twin.runtime import Runtime

    with user_errors():
        s = settings()
        with Runtime(s) as rt:
            serve_runtime(rt, host or s.host, port or s.port)
