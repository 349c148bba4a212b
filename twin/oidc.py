"""OpenID Connect bearer tokens beside the twin's own: a JWT from the configured issuer,
signed by a key of its JWKS, for this twin's audience, not expired; the role comes from a
configurable claim (``TWIN_OIDC_ROLE_CLAIM``), the name from another.

Checking a signature costs well under a millisecond, so these tokens need neither the
Argon2 defences nor a cache. The JWKS is fetched when first needed and kept for
:data:`JWKS_TTL`; a key id it does not know makes one early refetch (the issuer rotated its
keys), at most every :data:`REFETCH_AFTER` seconds so forged key ids cannot make the twin
hammer the issuer. JOSE is joserfc, the layer Authlib itself moved to.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from typing import Any

from joserfc import jwt
from joserfc.errors import ExpiredTokenError, InvalidClaimError, InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from geodata.access import Principal
from geodata.errors import Busy, Unauthorized
from geodata.vocab import ROLES
from twin.settings import Settings

JWKS_TTL = 600.0
REFETCH_AFTER = 30.0
ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]
_AGAIN = "sign in again with the identity provider"


def looks_like_jwt(token: str) -> bool:
    """Three base64url parts: not a ``twin_<id>_<secret>`` token."""
    return token.count(".") == 2 and not token.startswith("twin_")


class OIDCVerifier:
    def __init__(self, settings: Settings) -> None:
        assert settings.oidc_issuer and settings.oidc_audience and settings.oidc_jwks_url
        self.issuer = settings.oidc_issuer
        self.jwks_url = settings.oidc_jwks_url
        self.role_claim = settings.oidc_role_claim
        self.name_claim = settings.oidc_name_claim
        self._claims = JWTClaimsRegistry(
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": settings.oidc_audience},
            exp={"essential": True},
        )
        self._keys: KeySet | None = None
        self._fetched = 0.0
        self._lock = threading.Lock()

    def _key_set(self, *, refresh: bool = False) -> KeySet:
        with self._lock:
            age = time.monotonic() - self._fetched
            if self._keys is None or age > JWKS_TTL or (refresh and age > REFETCH_AFTER):
                try:
                    with urllib.request.urlopen(self.jwks_url, timeout=5) as answer:
                        document: dict[str, Any] = json.load(answer)
                    self._keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
                except (OSError, ValueError, JoseError) as exc:
                    if self._keys is None:
                        raise Busy(
                            f"cannot read the identity provider's keys at {self.jwks_url} "
                            f"({exc}): retry later, or check TWIN_OIDC_JWKS_URL"
                        ) from None
                self._fetched = time.monotonic()
            assert self._keys is not None
            return self._keys

    def principal(self, token: str) -> Principal:
        """The caller a JWT stands for; :class:`Unauthorized` naming what is wrong."""
        try:
            try:
                decoded = jwt.decode(token, self._key_set(), algorithms=ALGORITHMS)
            except InvalidKeyIdError:
                decoded = jwt.decode(token, self._key_set(refresh=True), algorithms=ALGORITHMS)
            self._claims.validate(decoded.claims)
        except ExpiredTokenError:
            raise Unauthorized(f"the OpenID Connect token has expired: {_AGAIN}") from None
        except InvalidClaimError as exc:
            raise Unauthorized(
                f"the OpenID Connect token is not for this twin ({exc.description}): {_AGAIN}"
            ) from None
        except JoseError as exc:
            raise Unauthorized(
                f"the OpenID Connect token was refused ({exc.error}): {_AGAIN}"
            ) from None
        claims = decoded.claims
        role = claims.get(self.role_claim)
        if role not in ROLES:
            raise Unauthorized(
                f"the OpenID Connect token's {self.role_claim!r} claim is {role!r}: the "
                f"identity provider must give one of {', '.join(ROLES)}"
            )
        name = claims.get(self.name_claim) or claims.get("sub")
        if not isinstance(name, str) or not name:
            raise Unauthorized(f"the OpenID Connect token names nobody (no {self.name_claim!r})")
        return Principal(f"oidc:{name}", role)
