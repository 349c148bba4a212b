"""The one place that turns errors into HTTP responses (OGC API exception JSON).

Every answer that is not a success has the same shape, ``{code, status, description}``:
a :class:`~geodata.errors.TwinError` with its own status and message, a request that does not
validate (400 naming the parameter), a route or method that does not exist, and, last of
all, any exception nobody expected: a 500 in the same shape that says where to look (the
server log, with the traceback) and never shows the traceback to the client.
"""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from geodata.errors import RetryLater, TwinError

LOGGER = logging.getLogger(__name__)

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
UNEXPECTED = (
    "the server met an unexpected error and could not answer; it is logged on the server "
    "with the time of this request: please report it with what you asked for"
)


def problem(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": 'Bearer realm="twin"'}
    return JSONResponse(
        {"code": _TITLES.get(status, str(status)), "status": status, "description": detail},
        status_code=status,
        headers=headers,
    )


_VERBS = frozenset({"get", "put", "post", "delete", "patch"})


def _allowed_methods(request: Request) -> list[str]:
    """The methods the OpenAPI document gives this path (GET implies HEAD); none when the
    path is not the API's (the viewer's mount then answers for itself)."""
    methods: set[str] = set()
    for template, ops in request.app.openapi().get("paths", {}).items():
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, request.url.path):
            methods |= {m.upper() for m in ops if m in _VERBS}
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def install(app: FastAPI) -> None:
    @app.exception_handler(TwinError)
    async def _twin_error(_: Request, exc: TwinError) -> JSONResponse:
        if exc.http_status >= 500 and not isinstance(exc, RetryLater):
            LOGGER.error("%s", exc)
        headers = exc.headers if isinstance(exc, RetryLater) else None
        return problem(exc.http_status, str(exc), headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [
            f"{'.'.join(str(p) for p in e['loc'][1:]) or e['loc'][0]}: {e['msg']}"
            + (f", got {e['input']!r}" if isinstance(e.get("input"), str) else "")
            for e in exc.errors()
        ]
        return problem(400, "; ".join(parts))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        detail = exc.detail
        headers = dict(exc.headers or {})
        status = exc.status_code
        generic = detail in ("Not Found", "Method Not Allowed")
        allowed = _allowed_methods(request) if status in (404, 405) and generic else []
        if allowed and request.method not in allowed:  # not the viewer mount's answer
            status, headers["Allow"] = 405, ", ".join(allowed)
        if status == 404 and detail == "Not Found":
            detail = f"no such resource {request.url.path!r}: GET / lists what this API serves"
        elif status == 405 and generic:
            detail = f"{request.method} is not allowed on {request.url.path!r}"
        return problem(status, str(detail), headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette answers this from its outermost middleware, then re-raises so the server
        # logs the traceback too; log here with the request so the two can be matched
        LOGGER.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem(500, UNEXPECTED)
