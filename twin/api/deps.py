"""Typed dependencies shared by every router: the engine, the caller, the visible layer."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

from geodata.access import Principal, check_visibility
from geodata.layers import LAYERS, Layer, get_layer
from twin.api.openapi import BEARER
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
    return verifier.principal(credentials.credentials.strip() if credentials else None)


EngineDep = Annotated[Engine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
CurrentUser = Annotated[Principal, Depends(get_principal)]


def visible_layer(
    collection_id: Annotated[
        str,
        Path(description="A collection of the twin", json_schema_extra={"enum": list(LAYERS)}),
    ],
    user: CurrentUser,
) -> Layer:
    """Path dependency: the layer named in the path, if the caller may see it (else 401/403)."""
    layer = get_layer(collection_id)
    check_visibility(user, layer.visibility, f"collection {layer.id!r}")
    return layer


VisibleLayer = Annotated[Layer, Depends(visible_layer)]
