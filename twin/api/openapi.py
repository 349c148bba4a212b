"""The OpenAPI document, made to say what the server really answers.

FastAPI declares 200 and 422 for every route; this server never answers 422 (validation errors
are the project's 400, ``twin.api.errors``) and does answer 400, 401, 403, 404, 304 and 206.
So routes declare their own answers with :func:`problems`, and :func:`finish` adds the ones
that follow from a route's shape, in one place:

- 400 on every route that takes a parameter (it may not validate), with the error body;
- 401 on every route that reads the caller (an unknown or revoked token is refused), whose
  bearer scheme is *optional*: ``security: [{}, {bearer: []}]``, anonymous callers are
  citizens, so ``/docs`` can send a token without making one required;
- 500 everywhere (the unexpected, in the same shape); every error is ``application/json``;
- no FastAPI 422 and no FastAPI validation schemas (the ingest route's own 422 stays);
- an optional parameter is its value's schema, not "that or null": a query string has no
  null, leaving the parameter out is how a client says "none".

The document is built once per app, lazily, like FastAPI's own.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

#: the name of the bearer scheme in ``components.securitySchemes`` (``twin.api.deps``)
BEARER = "bearer"


class Problem(BaseModel):
    """The body of every answer that is not a success (OGC API exception shape)."""

    code: str = Field(description="the status's title, e.g. `Not Found`")
    status: int = Field(description="the HTTP status code, again")
    description: str = Field(description="what is wrong and what to do about it")


_WHY = {
    400: "A parameter does not validate: the description names it and what is accepted.",
    401: "No token where one is needed, or an unknown or revoked one.",
    403: "Your role may not see this resource.",
    404: "No such resource, or one you may not know of.",
    409: "The resource is not in a state that allows this (an alert handled already).",
    413: "The request body is over the server's limit (TWIN_MAX_BODY_BYTES).",
    422: "Readable, but every observation in it was refused: `rejected` says why.",
    429: "Over this token's rate (TWIN_INGEST_*_PER_TOKEN): retry after `Retry-After` seconds.",
    500: "The server met an unexpected error (logged on the server).",
}


_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before sending again",
        "schema": {"type": "integer", "minimum": 1},
    }
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for error statuses, each with the :class:`Problem` body."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        out[status] = {"model": Problem, "description": _WHY[status]}
        if status == 429:
            out[status]["headers"] = _RETRY_AFTER
    return out


def _problem_response(doc: dict[str, Any], status: int) -> dict[str, Any]:
    ref = {"$ref": "#/components/schemas/Problem"}
    doc.setdefault("components", {}).setdefault("schemas", {}).setdefault(
        "Problem", Problem.model_json_schema()
    )
    return {"description": _WHY[status], "content": {"application/json": {"schema": ref}}}


def finish(doc: dict[str, Any]) -> dict[str, Any]:
    """Apply the rules of the module docstring to a document FastAPI generated."""
    for ops in doc.get("paths", {}).values():
        for op in ops.values():
            for parameter in op.get("parameters", []):
                parameter["schema"] = _without_null(parameter["schema"])
            responses: dict[str, Any] = op["responses"]
            if responses.get("422", {}).get("description") == "Validation Error":
                del responses["422"]  # FastAPI's, never answered; a route's own 422 stays
            wanted = [500]
            if op.get("parameters"):
                wanted.append(400)
            if op.get("security"):
                op["security"] = [{}, {BEARER: []}]
                wanted.append(401)
            for status in wanted:
                responses.setdefault(str(status), _problem_response(doc, status))
            for code, response in responses.items():
                # FastAPI gives a route's errors its own media type (GeoJSON); they are JSON
                if code.isdigit() and int(code) >= 400 and "content" in response:
                    (media,) = response["content"].values()
                    response["content"] = {"application/json": media}
            op["responses"] = dict(sorted(responses.items()))
    schemas = doc.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return doc


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``{anyOf: [S, {type: null}], ...extra}`` as ``S`` with the extra keywords."""
    branches = schema.get("anyOf")
    if not branches:
        return schema
    kept = [b for b in branches if b != {"type": "null"}]
    if len(kept) != 1 or len(kept) == len(branches):
        return schema
    rest = {k: v for k, v in schema.items() if k != "anyOf"}
    return {**kept[0], **rest}


def install(app: FastAPI) -> None:
    """Serve the finished document at the app's ``openapi_url``."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = finish(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    summary=app.summary,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
