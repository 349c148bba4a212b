"""Accounts, bearer tokens and the one visibility rule of the twin.

Tokens look like ``twin_<id>_<secret>``: the id finds the account, the secret is checked
against its Argon2 hash (argon2-cffi). Verified tokens are remembered for a minute by hash so a
viewer fetching hundreds of tiles does not pay Argon2 each time; revocation is still checked
on every request (one primary-key lookup).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, text

from geodata.errors import Forbidden, InputError, NotFound, Unauthorized
from geodata.vocab import ROLES, VISIBILITIES

#: what each role may see; anonymous users are treated as citizens
ROLE_SEES: dict[str, frozenset[str]] = {
    "citizen": frozenset({"public"}),
    "agent": frozenset({"public", "agent"}),
    "planner": frozenset({"public", "agent"}),
    "operator": frozenset({"public", "agent"}),
    "admin": frozenset({"public", "agent", "confidential"}),
}
_HASHER = PasswordHasher()


@dataclass(frozen=True)
class Principal:
    """Who is asking: an account, or anonymous (``name`` None, role citizen)."""

    name: str | None
    role: str = "citizen"

    @property
    def anonymous(self) -> bool:
        return self.name is None

    def may_see(self, visibility: str) -> bool:
        return visibility in ROLE_SEES[self.role]


ANONYMOUS = Principal(None)


def check_visibility(principal: Principal, visibility: str, what: str) -> None:
    """The rule, in one place: 401 for anonymous, 403 for a role that may not see it."""
    if visibility not in VISIBILITIES:
        raise ValueError(f"unknown visibility {visibility!r}")
    if principal.may_see(visibility):
        return
    needed = sorted(r for r, sees in ROLE_SEES.items() if visibility in sees)
    if principal.anonymous:
        raise Unauthorized(
            f"{what} is visible to {', '.join(needed)} accounts only: sign in with a token "
            "(`Authorization: Bearer <token>`, created by `twin users add NAME --role agent`)"
        )
    raise Forbidden(
        f"{what} is visible to {', '.join(needed)} accounts; your role is {principal.role}"
    )


def check_role(principal: Principal, *roles: str) -> None:
    if principal.role in roles:
        return
    if principal.anonymous:
        raise Unauthorized(f"this needs a {' or '.join(roles)} token")
    raise Forbidden(f"this needs a {' or '.join(roles)} account; your role is {principal.role}")


def _split(token: str) -> tuple[str, str]:
    parts = token.split("_")
    if len(parts) != 3 or parts[0] != "twin" or not parts[1] or not parts[2]:
        raise Unauthorized(
            "malformed token: expected twin_<id>_<secret> as printed by `twin users add`"
        )
    return parts[1], parts[2]


def create_user(engine: Engine, name: str, role: str) -> str:
    """Create an account and return its token; only the hash is stored."""
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    if not name or len(name) > 100:
        raise InputError("a user name must have 1 to 100 characters")
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32).replace("_", "-")
    with engine.begin() as conn:
        exists = conn.execute(text("SELECT 1 FROM users WHERE name = :n"), {"n": name}).first()
        if exists:
            raise InputError(f"user {name!r} exists: revoke it first or choose another name")
        conn.execute(
            text("INSERT INTO users (name, role, token_id, token_hash) VALUES (:n, :r, :i, :h)"),
            {"n": name, "r": role, "i": token_id, "h": _HASHER.hash(secret)},
        )
        audit(conn, "cli", "users.add", name, {"role": role})
    return f"twin_{token_id}_{secret}"


def revoke_user(engine: Engine, name: str) -> None:
    with engine.begin() as conn:
        res = conn.execute(
            text("UPDATE users SET revoked_at = now() WHERE name = :n AND revoked_at IS NULL"),
            {"n": name},
        )
        if res.rowcount == 0:
            raise NotFound(f"no active user {name!r}: see `twin users list`")
        audit(conn, "cli", "users.revoke", name, {})


def list_users(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT name, role, created_at, revoked_at FROM users ORDER BY name")
        ).mappings()
        return [dict(r) for r in rows]


def audit(conn, actor: str, action: str, target: str | None, detail: dict) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import bindparam
    from sqlalchemy.dialects.postgresql import JSONB

    conn.execute(
        text(
            "INSERT INTO audit_log (actor, action, target, detail) VALUES (:a, :c, :t, :d)"
        ).bindparams(bindparam("d", type_=JSONB)),
        {"a": actor, "c": action, "t": target, "d": detail},
    )


class TokenVerifier:
    """Resolves bearer tokens to principals; holds a short-lived cache of verified secrets."""

    def __init__(self, engine: Engine, ttl: float = 60.0) -> None:
        self.engine = engine
        self.ttl = ttl
        self._cache: dict[str, float] = {}
        self._lock = threading.Lock()

    def principal(self, token: str | None) -> Principal:
        if not token:
            return ANONYMOUS
        token_id, secret = _split(token)
        with self.engine.connect() as conn:
            row = conn.execute(
                text("SELECT name, role, token_hash, revoked_at FROM users WHERE token_id = :i"),
                {"i": token_id},
            ).first()
        if row is None or row.revoked_at is not None:
            raise Unauthorized("unknown or revoked token: ask an admin for a new one")
        key = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            fresh = self._cache.get(key, 0) > now
        if not fresh:
            try:
                _HASHER.verify(row.token_hash, secret)
            except (VerificationError, InvalidHashError):
                raise Unauthorized("unknown or revoked token: ask an admin for a new one") from None
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[key] = now + self.ttl
        return Principal(row.name, row.role)
