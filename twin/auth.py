"""Checking bearer tokens; accounts are :mod:`twin.accounts`, who may see what is
:mod:`geodata.access`.

Tokens look like ``twin_<id>_<secret>``: the id finds the account, the secret is checked
against its Argon2 hash (argon2-cffi). A token may expire.

:class:`TokenVerifier` makes every failure cost the same and stay rare: an unknown id is
checked against a dummy hash (so the answer's time does not tell whether an id exists),
failures are limited per token id and per client address, hashing is capped
(:mod:`twin.throttle`), and identical concurrent checks share one hash. A verified token
is remembered for ``auth_cache_seconds`` under a BLAKE2 digest of the whole token (never the
secret itself), and its row is still read on every request (one primary-key lookup), so a
revoked, rotated or expired token is refused on the very next request. OpenID Connect
tokens (JWTs) go to :mod:`twin.oidc` when it is configured.
"""

from __future__ import annotations

import copy
import hashlib
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from argon2.exceptions import InvalidHashError, VerificationError
from cachetools import TTLCache
from sqlalchemy import Engine, Row, text

from geodata.access import ANONYMOUS, Principal
from geodata.errors import (
    Busy,
    TooManyRequests,
    TwinError,
    Unauthorized,
)
from twin.accounts import HASHER
from twin.audit import AuditWriter
from twin.oidc import OIDCVerifier, looks_like_jwt
from twin.settings import Settings
from twin.throttle import HashGate, SignInLimits

REFUSED = "unknown or revoked token: ask an admin for a new one"


def _split(token: str) -> tuple[str, str]:
    parts = token.split("_")
    if len(parts) != 3 or parts[0] != "twin" or not parts[1] or not parts[2]:
        raise Unauthorized(
            "malformed token: expected twin_<id>_<secret> as printed by `twin users add`"
        )
    return parts[1], parts[2]


# -- verifying tokens ---------------------------------------------------------------------------
@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """A hash no secret matches, made like every token's: what an unknown id is checked
    against, so that it costs what a known id with a wrong secret costs."""
    return HASHER.hash(secrets.token_urlsafe(32))


def _expired_message(expires_at: datetime) -> str:
    return (
        f"token expired on {expires_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC: ask an admin for "
        "a new one (`twin users rotate NAME`)"
    )


@dataclass
class _Flight:
    """One hash verification that identical concurrent requests wait for and share."""

    done: threading.Event = field(default_factory=threading.Event)
    result: Principal | None = None
    error: TwinError | None = None


class TokenVerifier:
    """Resolves bearer tokens to principals (see the module docstring for the defences)."""

    def __init__(
        self, engine: Engine, settings: Settings, audit: AuditWriter | None = None
    ) -> None:
        self.engine = engine
        self.audit = audit
        self.oidc = OIDCVerifier(settings) if settings.oidc_enabled else None
        self.limits = SignInLimits(
            settings.auth_failures_per_token, settings.auth_failures_per_client
        )
        self.gate = HashGate(settings.auth_hash_slots, settings.auth_hash_queue)
        ttl = settings.auth_cache_seconds
        self._accepted: TTLCache[bytes, str] = TTLCache(maxsize=10_000, ttl=ttl)
        self._refused: TTLCache[bytes, str] = TTLCache(maxsize=2_000, ttl=ttl)
        self._flights: dict[bytes, _Flight] = {}
        self._lock = threading.Lock()
        #: Argon2 verifications performed (for tests and the bench)
        self.hashes = 0

    def principal(self, token: str | None, client: str | None = None) -> Principal:
        """The caller a token stands for; anonymous without one.

        :raises Unauthorized: malformed, unknown, wrong, revoked or expired token.
        :raises TooManyRequests: too many failures for this token id or client address.
        :raises Busy: too many checks under way at once.
        """
        if not token:
            return ANONYMOUS
        if looks_like_jwt(token):
            return self._oidc_principal(token, client)
        token_id, secret = _split(token)
        key = hashlib.blake2b(token.encode(), digest_size=32).digest()
        with self._lock:
            refused = self._refused.get(key)
            accepted = self._accepted.get(key)
        if refused is not None:
            raise Unauthorized(refused)
        if accepted is not None:
            return self._still_valid(key, token_id, client)
        return self._shared(key, lambda: self._check(key, token_id, secret, client))

    def _oidc_principal(self, token: str, client: str | None) -> Principal:
        """An OpenID Connect token: checked each time (cheap); audited once per period."""
        if self.oidc is None:
            raise Unauthorized(
                "this twin accepts no OpenID Connect tokens (TWIN_OIDC_ISSUER is unset): "
                "use a token from `twin users add`"
            )
        try:
            who = self.oidc.principal(token)
        except Unauthorized as exc:
            if self.audit is not None:
                detail = {"reason": str(exc).split(":")[0]}
                self.audit.add("sign-in-failed", "oidc", detail=detail, client=client)
            raise
        key = hashlib.blake2b(token.encode(), digest_size=32).digest()
        with self._lock:
            first = self._accepted.get(key) is None
            self._accepted[key] = "oidc"
        if first and self.audit is not None:
            self.audit.add("sign-in", who.name or "", detail={"via": "oidc"}, client=client)
        return who

    def _row(self, token_id: str) -> Row[Any] | None:
        with self.engine.connect() as conn:
            return conn.execute(
                text(
                    "SELECT name, role, kind, device_id, token_hash, revoked_at, expires_at "
                    "FROM users WHERE token_id = :i"
                ),
                {"i": token_id},
            ).first()

    def _still_valid(self, key: bytes, token_id: str, client: str | None) -> Principal:
        """A cached token: its row decides (revoked, rotated or expired since)."""
        row = self._row(token_id)
        reason = "unknown token id" if row is None else _dead(row)
        if reason is None and row is not None:
            return _principal(row)
        with self._lock:
            self._accepted.pop(key, None)
        raise self._refuse(key, token_id, client, row, reason or "")

    def _shared(self, key: bytes, check: Callable[[], Principal]) -> Principal:
        """Run ``check`` once for concurrent identical tokens; the others wait and share."""
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
        if not leader:
            if not flight.done.wait(timeout=self.gate.wait + 5):
                raise Busy("this token is still being checked: retry in a moment")
            if flight.error is not None:
                raise copy.copy(flight.error) from None  # one instance per raising thread
            if flight.result is None:  # the leader met an unexpected error (logged there)
                raise Busy("this token could not be checked just now: retry in a moment")
            return flight.result
        try:
            flight.result = check()
            return flight.result
        except TwinError as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                del self._flights[key]
            flight.done.set()

    def _check(self, key: bytes, token_id: str, secret: str, client: str | None) -> Principal:
        self._within_limits(token_id, client)
        # the slot first: a refused check then costs no database round trip either
        with self.gate.slot():
            self._within_limits(token_id, client)  # others may have failed while this waited
            row = self._row(token_id)
            with self._lock:
                self.hashes += 1
            stored = row.token_hash if row is not None else dummy_hash()
            matches = self.gate.run(lambda: _verify(stored, secret))
            reason = _refusal(row, matches)
            if reason is not None:
                self.limits.failed(token_id, client)  # counted before the next one checks
        if reason is not None:
            raise self._refuse(key, token_id, client, row, reason)
        assert row is not None  # _refusal gave a reason otherwise
        with self._lock:
            self._accepted[key] = token_id
        if self.audit is not None:
            self.audit.add("sign-in", row.name, detail={"token_id": token_id}, client=client)
        return _principal(row)

    def _within_limits(self, token_id: str, client: str | None) -> None:
        """:meth:`SignInLimits.check`, with refusals in the audit log (coalesced there)."""
        try:
            self.limits.check(token_id, client)
        except TooManyRequests:
            if self.audit is not None:
                detail = {"token_id": token_id, "reason": "too many failures"}
                self.audit.add("sign-in-failed", f"token {token_id}", detail=detail, client=client)
            raise

    def _refuse(
        self, key: bytes, token_id: str, client: str | None, row: Row[Any] | None, reason: str
    ) -> Unauthorized:
        """Remember and audit a refusal (never the secret); the error to raise."""
        expired = reason == "expired" and row is not None
        message = _expired_message(row.expires_at) if expired and row is not None else REFUSED
        with self._lock:
            self._refused[key] = message
        if self.audit is not None:
            actor = row.name if row is not None else f"token {token_id}"
            detail = {"token_id": token_id, "reason": reason}
            self.audit.add("sign-in-failed", actor, detail=detail, client=client)
        return Unauthorized(message)


def _principal(row: Row[Any]) -> Principal:
    return Principal(
        row.name, row.role, integration=row.kind == "integration", device=row.device_id
    )


def _refusal(row: Row[Any] | None, matches: bool) -> str | None:
    """Why a checked token is refused, or None to let it in."""
    if row is None:
        return "unknown token id"
    return "wrong secret" if not matches else _dead(row)


def _dead(row: Row[Any]) -> str | None:
    """Why a token whose secret matched is refused all the same, or None."""
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= datetime.now(UTC):
        return "expired"
    return None


def _verify(token_hash: str, secret: str) -> bool:
    try:
        return bool(HASHER.verify(token_hash, secret))
    except (VerificationError, InvalidHashError):
        return False
