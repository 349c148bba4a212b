"""``twin tokens add --integration NAME | --device ID``: bearer tokens for systems that send
observations (a LoRaWAN network server's webhook, a city's data platform) or for one device
that posts its own, not for people."""

from __future__ import annotations

from typing import Annotated

import typer

from twin.cli.common import console, out, settings, user_errors
from twin.cli.users import ExpiresIn, cli_actor

tokens_app = typer.Typer(help="Integration and device tokens (for POST /api/ingest).")


@tokens_app.command("add")
def tokens_add(
    integration: Annotated[
        str | None,
        typer.Option("--integration", metavar="NAME", help="An integration's name."),
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(
            "--device",
            metavar="ID",
            help="A device of the registry: this token may send its observations only.",
        ),
    ] = None,
    expires_in: ExpiresIn = None,
) -> None:
    """Create a token and print it on the last line (shown once, stored hashed).

    An integration token may send observations of any device to /api/ingest (and the LoRaWAN
    routes); a device token (`--device ID`) those of its device only, to /api/ingest. Both see
    only public data. Revoke with `twin users revoke NAME` (a device token's name is
    `device:ID`)."""
    from geodata.errors import InputError
    from twin.accounts import create_user, device_token_name
    from twin.runtime import Runtime

    with user_errors(), Runtime(settings()) as rt:
        if (integration is None) == (device is None):
            raise InputError("give one of --integration NAME or --device ID")
        rt.check()
        if device is not None:
            name = device_token_name(device)
            token = create_user(
                rt.engine,
                name,
                "citizen",
                expires_in_days=expires_in,
                actor=cli_actor(),
                kind="device",
                device_id=device,
            )
            console.print(f"device token {name!r} created; shown only now:")
        else:
            assert integration is not None
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
