"""``twin users add|list|revoke``: accounts and their bearer tokens."""

from __future__ import annotations

from typing import Annotated

import typer

from twin.cli.common import console, out, settings, user_errors

users_app = typer.Typer(help="Accounts and bearer tokens.")


@users_app.command("add")
def users_add(
    name: str,
    role: Annotated[str, typer.Option(help="citizen, agent, planner, operator or admin")],
) -> None:
    """Create an account and print its bearer token (shown once, stored hashed)."""
    from twin.auth import create_user
    from twin.runtime import Runtime

    with user_errors(), Runtime(settings()) as rt:
        rt.check()
        token = create_user(rt.engine, name, role)
        console.print(f"user {name!r} ({role}) created; its token, shown only now:")
        out.print(token, highlight=False)


@users_app.command("list")
def users_list() -> None:
    """List accounts (never their tokens)."""
    from rich.table import Table

    from twin.auth import list_users
    from twin.runtime import Runtime

    with user_errors(), Runtime(settings()) as rt:
        rt.check()
        table = Table("name", "role", "created", "revoked")
        for u in list_users(rt.engine):
            table.add_row(
                str(u["name"]),
                str(u["role"]),
                f"{u['created_at']:%Y-%m-%d %H:%M}",
                f"{u['revoked_at']:%Y-%m-%d %H:%M}" if u["revoked_at"] else "",
            )
        out.print(table)


@users_app.command("revoke")
def users_revoke(name: str) -> None:
    """Revoke an account's token at once."""
    from twin.auth import revoke_user
    from twin.runtime import Runtime

    with user_errors(), Runtime(settings()) as rt:
        rt.check()
        revoke_user(rt.engine, name)
        console.print(f"user {name!r} revoked")
