"""``twin devices add|import|list|adopt``: the device registry."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from twin.cli.common import console, out, settings, user_errors

devices_app = typer.Typer(help="The device registry (sensors bound to features of the twin).")


@devices_app.command("add")
def devices_add(
    device_id: Annotated[str, typer.Argument(metavar="ID")],
    protocol: Annotated[str, typer.Option(help="mqtt, http, chirpstack, tts or gtfs.")],
    type_: Annotated[str, typer.Option("--type", help="parking_sensor, lamp, gauge, co2...")],
    external_id: Annotated[
        str | None,
        typer.Option(help="Its network server's id: DevEUI (chirpstack, tts), GTFS stop id."),
    ] = None,
    visibility: Annotated[str, typer.Option(help="public, agent or confidential.")] = "public",
    feature: Annotated[
        str | None, typer.Option(metavar="LAYER:ID", help="The twin feature it is bound to.")
    ] = None,
) -> None:
    """Register a device (bound to a feature with --feature LAYER:ID)."""
    from sensors_bridge.registry import DeviceSpec, add_devices
    from twin.runtime import Runtime

    spec = DeviceSpec(device_id, protocol, type_, external_id, visibility, feature)
    with user_errors(), Runtime(settings()) as rt:
        rt.check()
        add_devices(rt.engine, [spec])
        console.print(f"device {device_id!r} registered")


@devices_app.command("import")
def devices_import(
    file: Annotated[
        Path,
        typer.Argument(
            help="A .csv (id,protocol,external_id,type,visibility[,feature][,attrs]) or .geojson."
        ),
    ],
) -> None:
    """Register the devices of a CSV or GeoJSON file (all or none)."""
    from sensors_bridge.registry import add_devices, read_devices_file
    from twin.runtime import Runtime

    with user_errors(), Runtime(settings()) as rt:
        specs = read_devices_file(file)
        rt.check()
        n = add_devices(rt.engine, specs)
        console.print(f"{n} devices registered from {file}")


@devices_app.command("list")
def devices_list(
    quarantined: Annotated[
        bool, typer.Option("--quarantined", help="Only devices heard from but not registered.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object a line.")] = False,
) -> None:
    """List devices (the CLI runs as an admin: quarantined ones included)."""
    import json

    from rich.table import Table

    from geodata.access import Principal
    from sensors_bridge.registry import list_devices
    from twin.runtime import Runtime

    with user_errors(), Runtime(settings()) as rt:
        rt.check()
        rows = list_devices(
            rt.engine, Principal("cli", "admin"), status="quarantined" if quarantined else None
        )
        if as_json:
            for d in rows:
                out.print(json.dumps(d), highlight=False, soft_wrap=True)
            return
        table = Table(
            "id", "protocol", "external id", "type", "status", "visibility", "feature", "last seen"
        )
        for d in rows:
            feature = f"{d['layer']}:{d['feature_id']}" if d["layer"] else ""
            table.add_row(
                d["id"],
                d["protocol"],
                d["external_id"] or "",
                d["type"],
                d["status"],
                d["visibility"],
                feature,
                d["last_seen"] or "",
            )
        out.print(table)


@devices_app.command("adopt")
def devices_adopt(
    device_id: Annotated[str, typer.Argument(metavar="ID")],
    type_: Annotated[str | None, typer.Option("--type", help="Its type, now known.")] = None,
    visibility: Annotated[
        str | None, typer.Option(help="public, agent or confidential (kept: confidential).")
    ] = None,
) -> None:
    """Make a quarantined device active; its observations were kept all along."""
    from sensors_bridge.registry import adopt
    from twin.audit import record
    from twin.cli.users import cli_actor
    from twin.runtime import Runtime

    detail = {"change": "adopt", "type": type_, "visibility": visibility}
    with user_errors(), Runtime(settings()) as rt:
        rt.check()
        adopt(
            rt.engine,
            device_id,
            type_=type_,
            visibility=visibility,
            audit=lambda conn: record(conn, "device", cli_actor(), device_id, detail),
        )
        console.print(f"device {device_id!r} adopted")
