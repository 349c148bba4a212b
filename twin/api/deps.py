"""Typed dependencies shared by every router: the engine, the caller, the visible layer."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine

from geodata.access import Principal, check_visibility
from geodata.layers import Layer, get_layer
from twin.auth import TokenVerifier
from twin.settings import Settings


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_principal(request: Request) -> Principal:
    """The caller, from ``Authorization: Bearer <token>``; anonymous without one."""
    verifier: TokenVerifier = request.app.state.verifier
    header = request.headers.get("authorization", "")
    token = None
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
    return verifier.principal(token)


EngineDep = Annotated[Engine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
CurrentUser = Annotated[Principal, Depends(get_principal)]


def visible_layer(collection_id: str, user: CurrentUser) -> Layer:
    """Path dependency: the layer named in the path, if the caller may see it (else 401/403)."""
    layer = get_layer(collection_id)
    check_visibility(user, layer.visibility, f"collection {layer.id!r}")
    return layer


VisibleLayer = Annotated[Layer, Depends(visible_layer)]
