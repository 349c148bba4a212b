"""Accounts and their tokens: add, rotate, revoke, list; checking a token is :mod:`twin.auth`.

A token is one row of ``users``: rotating a name's token revokes its row and adds one in the
same transaction, so a name has at most one active token and may be added again once
revoked. Only the secret's Argon2 hash is stored (:data:`HASHER`, which the verifier shares,
so a dummy hash costs what a real one does). Every change is written to the audit log in the
transaction that makes it.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import Connection, Engine, Row, text
from sqlalchemy.exc import IntegrityError

from geodata.errors import InputError, NotFound
from geodata.vocab import ROLES
from sensors_bridge.registry import check_token_device
from twin.audit import record

HASHER = PasswordHasher()
MAX_EXPIRY_DAYS = 3650


def _expiry(days: float | None) -> datetime | None:
    if days is None:
        return None
    if not 0 < days <= MAX_EXPIRY_DAYS:
        raise InputError(
            f"--expires-in {days:g}: give a number of days from 1 to {MAX_EXPIRY_DAYS}"
        )
    return datetime.now(UTC) + timedelta(days=days)


def _insert_token(
    conn: Any,
    name: str,
    role: str,
    expires_at: datetime | None,
    kind: str = "account",
    device_id: str | None = None,
) -> tuple[str, str]:
    """Add an active token row for ``name``; (token id, token). Only the hash is stored."""
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32).replace("_", "-")
    conn.execute(
        text(
            "INSERT INTO users (name, role, token_id, token_hash, expires_at, kind, device_id) "
            "VALUES (:n, :r, :i, :h, :e, :k, :d)"
        ),
        {
            "n": name,
            "r": role,
            "i": token_id,
            "h": HASHER.hash(secret),
            "e": expires_at,
            "k": kind,
            "d": device_id,
        },
    )
    return token_id, f"twin_{token_id}_{secret}"


def create_user(
    engine: Engine,
    name: str,
    role: str,
    *,
    expires_in_days: float | None = None,
    actor: str = "cli",
    kind: str = "account",
    device_id: str | None = None,
) -> str:
    """Create an account (or bring back a revoked name) and return its token.

    ``kind="integration"``: a token for a system that sends observations (``twin tokens add
    --integration``); it may ingest and sees only what citizens see. ``kind="device"`` with
    ``device_id``: a token that may send that device's observations only.
    """
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    if not name or len(name) > 100:
        raise InputError("a user name must have 1 to 100 characters")
    expires_at = _expiry(expires_in_days)
    exists = InputError(
        f"user {name!r} exists: revoke it first, rotate its token or choose another name"
    )
    try:
        with engine.begin() as conn:
            active = "SELECT 1 FROM users WHERE name = :n AND revoked_at IS NULL"
            if conn.execute(text(active), {"n": name}).first():
                raise exists
            if device_id is not None:
                check_token_device(conn, device_id)
            token_id, token = _insert_token(conn, name, role, expires_at, kind, device_id)
            detail = {"change": "add", "role": role, "token_id": token_id}
            if kind != "account":
                detail["kind"] = kind
            if device_id is not None:
                detail["device"] = device_id
            record(conn, "account", actor, name, _with_expiry(detail, expires_at))
    except IntegrityError:  # added by someone else at the same moment
        raise exists from None
    return token


def device_token_name(device_id: str) -> str:
    """The account name of a device's token (``twin users revoke device:ID`` revokes it)."""
    return f"device:{device_id}"


def rotate_user(
    engine: Engine, name: str, *, expires_in_days: float | None = None, actor: str = "cli"
) -> str:
    """Give ``name`` a new token (same role) and revoke the old one in the same transaction."""
    expires_at = _expiry(expires_in_days)
    with engine.begin() as conn:
        old = _revoke_active(conn, name, "see `twin users list`, or `twin users add`")
        token_id, token = _insert_token(conn, name, old.role, expires_at, old.kind, old.device_id)
        detail = {"change": "rotate", "token_id": token_id, "revoked_token_id": old.token_id}
        record(conn, "account", actor, name, _with_expiry(detail, expires_at))
    return token


def _with_expiry(detail: dict[str, Any], expires_at: datetime | None) -> dict[str, Any]:
    return {**detail, "expires_at": expires_at.isoformat()} if expires_at else detail


def _revoke_active(conn: Connection, name: str, hint: str) -> Row[Any]:
    """Revoke ``name``'s active token; its (role, token_id). NotFound if it has none."""
    row = conn.execute(
        text(
            "UPDATE users SET revoked_at = now() WHERE name = :n AND revoked_at IS NULL "
            "RETURNING role, token_id, kind, device_id"
        ),
        {"n": name},
    ).first()
    if row is None:
        raise NotFound(f"no active user {name!r}: {hint}")
    return row


def revoke_user(engine: Engine, name: str, *, actor: str = "cli") -> None:
    with engine.begin() as conn:
        res = _revoke_active(conn, name, "see `twin users list`")
        record(conn, "account", actor, name, {"change": "revoke", "token_id": res.token_id})


def list_users(engine: Engine) -> list[dict[str, object]]:
    """Each name once, with its latest token's dates (never the token)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT DISTINCT ON (name) name, role, created_at, revoked_at, expires_at "
                "FROM users ORDER BY name, created_at DESC, id DESC"
            )
        ).mappings()
        return [dict(r) for r in rows]
