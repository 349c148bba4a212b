"""Typed dependencies shared by every router: the engine, the caller, the visible layer, and
the audit of what non-public data (or which export) a caller was given."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

from geodata.access import ANONYMOUS, Principal, check_visibility
from geodata.layers import LAYERS, Layer, get_layer
from twin.api.openapi import BEARER
from twin.audit import AuditWriter
from twin.auth import TokenVerifier
from twin.settings import Settings

#: declared in the OpenAPI document (so /docs can send a token), never required by itself
_BEARER = HTTPBearer(
    auto_error=False,
    scheme_name=BEARER,
    description="A token printed by `twin users add NAME --role ROLE`. Optional: without "
    "one you are anonymous and see what citizens see.",
)


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
) -> Principal:
    """The caller, from ``Authorization: Bearer <token>``; anonymous without one."""
    verifier: TokenVerifier = request.app.state.verifier
    token = credentials.credentials.strip() if credentials else None
    return verifier.principal(token, client_address(request))


def client_address(request: Request) -> str | None:
    """The caller's address: behind docker/nginx, :mod:`twin.forwarded` has already put the
    forwarded one in its place (for the proxies ``TWIN_FORWARDED_ALLOW_IPS`` trusts)."""
    return request.client.host if request.client else None


def audit_access(
    request: Request, user: Principal, kind: str, target: str, visibility: str
) -> None:
    """Note a read of non-public data or an export: batched, never fails the request.

    Reads of public data by anyone are not logged; an export (a page of features) is when
    the caller is signed in or the data is not public.
    """
    if ANONYMOUS.may_see(visibility) and (kind == "read" or user.anonymous):
        return
    writer: AuditWriter = request.app.state.audit
    actor = user.name or "anonymous"
    writer.add(kind, actor, target, {"visibility": visibility}, client_address(request))


EngineDep = Annotated[Engine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
CurrentUser = Annotated[Principal, Depends(get_principal)]
CollectionId = Annotated[
    str, Path(description="A collection of the twin", json_schema_extra={"enum": list(LAYERS)})
]


def _visible(collection_id: str, user: Principal, request: Request, kind: str) -> Layer:
    layer = get_layer(collection_id)
    check_visibility(user, layer.visibility, f"collection {layer.id!r}")
    audit_access(request, user, kind, f"collection {layer.id}", layer.visibility)
    return layer


def visible_layer(collection_id: CollectionId, user: CurrentUser, request: Request) -> Layer:
    """Path dependency: the layer named in the path, if the caller may see it (else 401/403)."""
    return _visible(collection_id, user, request, "read")


def exported_layer(collection_id: CollectionId, user: CurrentUser, request: Request) -> Layer:
    """:func:`visible_layer` for a page of features, which the audit log counts as an export."""
    return _visible(collection_id, user, request, "export")


VisibleLayer = Annotated[Layer, Depends(visible_layer)]
ExportedLayer = Annotated[Layer, Depends(exported_layer)]
