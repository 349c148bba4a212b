"""Accounts and bearer tokens; who may see what is :mod:`geodata.access`.

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

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Engine, bindparam, text
from sqlalchemy.dialects.postgresql import JSONB

from geodata.access import ANONYMOUS, Principal
from geodata.errors import InputError, NotFound, Unauthorized
from geodata.vocab import ROLES

_HASHER = PasswordHasher()


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


def audit(
    conn: Connection, actor: str, action: str, target: str | None, detail: dict[str, object]
) -> None:
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
