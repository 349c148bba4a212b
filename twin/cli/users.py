"""``twin users add|rotate|list|revoke`` and ``twin audit``: accounts, their bearer tokens,
and the log of who did what."""

from __future__ import annotations

from typing import Annotated

import typer

from twin.cli.common import console, out, settings, user_errors

users_app = typer.Typer(help="Accounts and bearer tokens.")

ExpiresIn = Annotated[
    float | None,
    typer.Option("--expires-in", metavar="DAYS", help="The token expires after DAYS days."),
]
_USER_DATES = ("created_at", "revoked_at", "expires_at")


def cli_actor() -> str:
    """Who runs a command, for the audit log: ``cli:`` and the system user."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "cli"


@users_app.command("add")
def users_add(
    name: str,
    role: Annotated[str, typer.Option(help="citizen, agent, planner, operator or admin")],
    expires_in: ExpiresIn = None,
) -> None:
    """Create an account and print its bearer token (shown once, stored hashed).

    A revoked name may be added again."""
    from twin.accounts import create_user
    from twin.runtime import Runtime

    with user_errors(), Runtime(settings()) as rt:
        rt.check()
        token = create_user(rt.engine, name, role, expires_in_days=expires_in, actor=cli_actor())
        console.print(f"user {name!r} ({role}) created; its token, shown only now:")
        out.print(token, highlight=False)


@users_app.command("rotate")
def users_rotate(name: str, expires_in: ExpiresIn = None) -> None:
    """Give an account a new token and revoke its old one; prints the new token."""
    from twin.accounts import rotate_user
    from twin.runtime import Runtime

    with user_errors(), Runtime(settings()) as rt:
        rt.check()
        token = rotate_user(rt.engine, name, expires_in_days=expires_in, actor=cli_actor())
        console.print(f"user {name!r} has a new token, shown only now (the old one is revoked):")
        out.print(token, highlight=False)


@users_app.command("list")
def users_list() -> None:
    """List accounts (never their tokens)."""
    from rich.table import Table

    from twin.accounts import list_users
    from twin.runtime import Runtime

    with user_errors(), Runtime(settings()) as rt:
        rt.check()
        table = Table("name", "role", "created", "revoked", "expires")
        for u in list_users(rt.engine):
            table.add_row(
                str(u["name"]),
                str(u["role"]),
                *(f"{u[c]:%Y-%m-%d %H:%M}" if u[c] else "" for c in _USER_DATES),
            )
        out.print(table)


@users_app.command("revoke")
def users_revoke(name: str) -> None:
    """Revoke an account's token at once."""
    from twin.accounts import revoke_user
    from twin.runtime import Runtime

    with user_errors(), Runtime(settings()) as rt:
        rt.check()
        revoke_user(rt.engine, name, actor=cli_actor())
        console.print(f"user {name!r} revoked")


def audit_(
    kind: Annotated[
        str | None,
        typer.Option(help="sign-in, sign-in-failed, account, import, export or read."),
    ] = None,
    actor: Annotated[str | None, typer.Option(help="An account name, or cli:USER.")] = None,
    since: Annotated[
        str | None, typer.Option(help="A duration ago (30m, 12h, 7d) or an ISO 8601 time.")
    ] = None,
    limit: Annotated[int, typer.Option(help="Entries to show (newest first).")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object a line.")] = False,
) -> None:
    """Show the audit log: sign-ins, refusals, account changes, imports, exports, reads."""
    import json

    from rich.table import Table

    from twin import audit
    from twin.runtime import Runtime

    with user_errors(), Runtime(settings()) as rt:
        rt.check()
        at = audit.parse_since(since) if since else None
        with rt.engine.connect() as conn:
            entries = audit.query(conn, kind=kind, actor=actor, since=at, limit=limit)
        if as_json:
            for e in entries:
                out.print(json.dumps(e.public_dict()), highlight=False, soft_wrap=True)
            return
        table = Table("at", "kind", "actor", "target", "client", "n", "detail")
        for e in entries:
            detail = ", ".join(f"{k}={v}" for k, v in e.detail.items())
            table.add_row(
                f"{e.at:%Y-%m-%d %H:%M:%S}",
                e.kind,
                e.actor,
                e.target or "",
                e.client or "",
                str(e.count),
                detail,
            )
        out.print(table)
