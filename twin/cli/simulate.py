"""``twin simulate``: the demo's devices and buses, alive; realistic streams into the twin.

Only Typer and rich at module level, like every command group: paho-mqtt, the database and
the Protobuf bindings load when the command runs.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from twin.cli.common import console, out, progress_bar, settings, user_errors

#: the integration the simulator's HTTP posts are signed in as
INTEGRATION = "simulator"


def simulate(
    rate: Annotated[
        float,
        typer.Option(
            min=0.001,
            help="Observations per second over mqtt, http, tts and chirpstack together. GTFS is "
            "not counted: the buses' FeedMessage is a file rewritten every second whatever the "
            "rate, which `twin gtfs rt` polls at its own interval; the observations it gives "
            "(each stop's next departure, when it changes) are the poller's, not sent here.",
        ),
    ] = 20.0,
    duration: Annotated[
        float, typer.Option(min=0, help="Seconds to run; 0: until Ctrl-C or SIGTERM.")
    ] = 60.0,
    protocols: Annotated[
        str, typer.Option(help="Any of mqtt,http,tts,chirpstack,gtfs, comma-separated.")
    ] = "mqtt,http,tts,chirpstack,gtfs",
    seed: Annotated[
        int, typer.Option(help="Seed of the streams' noise (same seed, same values).")
    ] = 10,
    url: Annotated[
        str | None,
        typer.Option(help="The twin for HTTP posts (default http://TWIN_HOST:TWIN_PORT)."),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            help="An integration token for HTTP (default: a new 'simulator' integration token).",
        ),
    ] = None,
    lorawan_via: Annotated[
        str, typer.Option(help="TTS and ChirpStack uplinks over mqtt (their integrations) or http.")
    ] = "mqtt",
    storm_in: Annotated[
        float, typer.Option(help="Minutes until the storm surge reaches the flood gauge.")
    ] = 0.0,
    gtfs_file: Annotated[
        Path | None,
        typer.Option(
            help="Where the buses' GTFS-realtime goes (default TWIN_DATA_DIR/demo/gtfs-rt.pb)."
        ),
    ] = None,
) -> None:
    """Publish realistic streams for the demo's devices: parking bays (TTS), lamps, the flood
    gauge, cameras and network sensors (MQTT), school CO2 (ChirpStack), air quality (HTTP), and
    the buses' GTFS-realtime (a file `twin gtfs rt` polls). Run `twin bridge` beside it."""
    from datetime import UTC, datetime, timedelta

    from geodata.errors import InputError
    from sensors_bridge.simulate.demo import load_lines, realtime_file, simulated_devices
    from sensors_bridge.simulate.profiles import Scenario
    from sensors_bridge.simulate.publish import HTTPPublisher, MQTTPublisher
    from sensors_bridge.simulate.run import Simulation, parse_protocols
    from twin.runtime import Runtime
    from twin.services.mosquitto import EmbeddedMosquitto

    if lorawan_via not in ("mqtt", "http"):
        raise typer.BadParameter("--lorawan-via: mqtt or http")
    with user_errors():
        s = settings()
        wanted = parse_protocols(protocols)
        stop = threading.Event()
        with Runtime(s, keep_db=True) as rt:
            rt.check()
            with rt.engine.connect() as conn:
                devices = simulated_devices(conn)
            over_http = "http" in wanted or (
                lorawan_via == "http" and {"tts", "chirpstack"} & set(wanted)
            )
            if over_http and token is None:
                token = _integration_token(rt.engine)
        sim = Simulation(
            devices,
            wanted,
            rate,
            duration or None,
            Scenario(seed=seed, storm_start=datetime.now(UTC) + timedelta(minutes=storm_in)),
            lorawan_via=lorawan_via,
            lines=load_lines(s.data_dir),
            gtfs_file=gtfs_file or realtime_file(s.data_dir),
            stop=stop.is_set,
        )
        sim.check()
        over_mqtt = "mqtt" in wanted or (
            lorawan_via == "mqtt" and {"tts", "chirpstack"} & set(wanted)
        )
        if over_mqtt:
            if not s.mqtt_url:
                EmbeddedMosquitto.of(s).start(detach=True)
            host, port = s.mqtt_address
            user, password = s.mqtt_login
            sim.mqtt = MQTTPublisher(host, port, username=user, password=password)
        if over_http:
            if token is None:
                raise InputError("no integration token for HTTP: give --token")
            sim.http = HTTPPublisher(url or f"http://{s.host}:{s.port}", token)
        for sig in (signal.SIGTERM, signal.SIGINT):  # finish the message, then leave
            signal.signal(sig, lambda *_: stop.set())
        what = f"{rate:g} observations/s" + (f" for {duration:g} s" if duration else "")
        console.print(f"simulating {', '.join(wanted)}: {len(devices)} devices, {what}")
        with progress_bar("simulating") as advance:
            report = sim.run(advance)
        for line in report.lines():
            out.print(line, highlight=False)


def _integration_token(engine: object) -> str:
    """A fresh token of the simulator's integration (created, or rotated when it exists)."""
    from sqlalchemy import Engine, text

    from twin.accounts import create_user, rotate_user

    assert isinstance(engine, Engine)
    with engine.connect() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM users WHERE name = :n AND revoked_at IS NULL"),
            {"n": INTEGRATION},
        ).first()
    if exists:
        return rotate_user(engine, INTEGRATION, actor="twin simulate")
    return create_user(engine, INTEGRATION, "citizen", actor="twin simulate", kind="integration")
