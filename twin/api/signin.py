"""How the viewer signs in: the OpenID Connect provider it should send people to, or none.

Public on purpose: the viewer asks before anyone has signed in, and nothing here is secret (a
public client has no secret; the issuer publishes its own discovery document). The viewer runs
the authorization code flow with PKCE against that issuer and sends the *access token* as its
bearer, the token :mod:`twin.oidc` verifies (``aud`` = ``TWIN_OIDC_AUDIENCE``); the ID token
only proves the sign-in to the viewer (its ``nonce``).
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from twin.api.deps import SettingsDep
from twin.settings import Settings

router = APIRouter(prefix="/api/auth", tags=["application"])


class SignInConfig(BaseModel):
    """What a browser needs to start an authorization code flow with PKCE (S256)."""

    issuer: str = Field(
        description="the issuer; its metadata is at /.well-known/openid-configuration"
    )
    client_id: str = Field(description="the viewer's public client (no secret) at the issuer")
    scopes: list[str] = Field(description="scopes to ask for; always has openid")
    role_claim: str = Field(description="the access-token claim the twin reads the role from")


def sign_in_config(settings: Settings) -> SignInConfig | None:
    """The viewer's OpenID Connect sign-in, or None when only pasted tokens are offered.

    None unless both the issuer (the server accepts its tokens) and a public client id (the
    viewer may start a flow) are configured: an issuer alone serves CLI and service clients.
    """
    if not (settings.oidc_issuer and settings.oidc_client_id):
        return None
    return SignInConfig(
        issuer=settings.oidc_issuer,
        client_id=settings.oidc_client_id,
        scopes=settings.oidc_scopes.split(),
        role_claim=settings.oidc_role_claim,
    )


@router.get(
    "/config",
    summary="The OpenID Connect provider the viewer signs in with (null: tokens only)",
)
def auth_config(settings: SettingsDep) -> SignInConfig | None:
    return sign_in_config(settings)
