"""``twin serve``: the API, the tiles and the viewer (FastAPI and uvicorn load only here)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from twin.cli.common import console, settings, user_errors

if TYPE_CHECKING:
    from twin.runtime import Runtime


def serve_runtime(rt: Runtime, host: str, port: int, workers: int = 1) -> None:
    """Serve the twin of a running ``Runtime`` until Ctrl-C (``twin serve``, ``demo --serve``).

    With ``workers`` above 1, uvicorn starts that many processes on the one socket, each
    building its own app from the same settings (environment) and running its own live hub;
    the broker feeds them all, so a WebSocket client may land on any of them.
    """
    import uvicorn

    from twin.app import create_app

    rt.check()
    plural = f" with {workers} worker processes" if workers > 1 else ""
    console.print(f"serving the twin on http://{host}:{port}{plural} (Ctrl-C stops)")
    # forwarded headers are twin.forwarded's business (scheme, host, port and client, from
    # TWIN_FORWARDED_ALLOW_IPS): uvicorn's partial version is turned off
    if workers > 1:
        uvicorn.run(
            "twin.app:app_from_environment",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            log_level="warning",
            proxy_headers=False,
        )
        return
    application = create_app(rt.settings, engine=rt.engine)
    uvicorn.run(application, host=host, port=port, log_level="warning", proxy_headers=False)


def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (TWIN_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (TWIN_PORT).")] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="Worker processes, each its own live hub (TWIN_WORKERS)."),
    ] = None,
) -> None:
    """Serve the API, the tiles and the viewer; stops what it started on Ctrl-C."""
    from twin.runtime import Runtime

    with user_errors():
        s = settings()
        with Runtime(s) as rt:
            serve_runtime(rt, host or s.host, port or s.port, workers or s.workers)
