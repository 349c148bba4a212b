"""``twin tokens add --integration NAME``: bearer tokens for systems that send observations
(a LoRaWAN network server's webhook, a city's data platform), not for people."""

from __future__ import annotations

from typing import Annotated

import typer

from twin.cli.common import console, out, settings, user_errors
from twin.cli.users import ExpiresIn, cli_actor

tokens_app = typer.Typer(help="Integration tokens (for POST /api/ingest).")


@tokens_app.command("add")
def tokens_add(
    integration: Annotated[
        str, typer.Option("--integration", metavar="NAME", help="The integration's name.")
    ],
    expires_in: ExpiresIn = None,
) -> None:
    """Create an integration token and print it on the last line (shown once, stored hashed).

    It may send observations to /api/ingest and sees only public data; revoke it with
    `twin users revoke NAME`."""
    from twin.auth import create_user
    from twin.runtime import Runtime

    with user_errors(), Runtime(settings()) as rt:
        rt.check()
        token = create_user(
            rt.engine,
            integration,
            "citizen",
            expires_in_days=expires_in,
            actor=cli_actor(),
            kind="integration",
        )
        console.print(f"integration {integration!r} created; its token, shown only now:")
        out.print(token, highlight=False)
