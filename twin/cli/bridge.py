"""``twin broker start|stop`` (the embedded Mosquitto) and ``twin bridge`` (MQTT into the twin).

Only Typer and rich at module level, like every command group: paho-mqtt and the database
load when a command runs.
"""

from __future__ import annotations

import signal
from typing import Annotated

import typer

from twin.cli.common import console, out, settings, user_errors

broker_app = typer.Typer(
    help="The embedded Mosquitto on 127.0.0.1:TWIN_MQTT_PORT (persistent, outlives commands).",
    no_args_is_help=True,
)


@broker_app.command("start")
def broker_start() -> None:
    """Start the embedded broker; returns once it answers. Nothing to do if it already runs."""
    from twin.services.mosquitto import EmbeddedMosquitto

    with user_errors():
        s = settings()
        broker = EmbeddedMosquitto.of(s)
        if broker.start(detach=True):
            out.print(f"broker started on {broker.url} (stop it with `twin broker stop`)")
        else:
            out.print(f"a broker already answers on {broker.url}")


@broker_app.command("stop")
def broker_stop() -> None:
    """Stop the broker `twin broker start` started (it saves its queued messages)."""
    from twin.services.mosquitto import EmbeddedMosquitto

    with user_errors():
        s = settings()
        broker = EmbeddedMosquitto.of(s)
        if broker.stop_detached():
            out.print("broker stopped")
        else:
            out.print(f"no broker started by `twin broker start` under {broker.root}")


def bridge(
    instance: Annotated[
        str,
        typer.Option(help="This bridge's name: its client id and persistent session."),
    ] = "default",
    batch_size: Annotated[int, typer.Option(min=1, max=10_000, help="Messages per batch.")] = 500,
    shared: Annotated[
        bool,
        typer.Option(
            "--shared/--alone",
            help="Share the subscription with other bridges (--alone: one bridge only, but "
            "its subscription outlives a restart of Mosquitto, which a shared one does not).",
        ),
    ] = True,
) -> None:
    """Bring MQTT messages into the twin until Ctrl-C or SIGTERM: twin/DEVICE/METRIC, The
    Things Stack and ChirpStack uplinks, or the mappings of TWIN_MQTT_TOPICS.

    Each message is acknowledged only after the batch holding it is committed; several
    bridges with different --instance names share the load.
    """
    from sensors_bridge.mqtt_bridge import MQTTBridge
    from twin.listeners import close_all, listeners_for
    from twin.runtime import Runtime
    from twin.services.mosquitto import EmbeddedMosquitto

    with user_errors():
        s = settings()
        if not s.mqtt_url:
            EmbeddedMosquitto.of(s).start(detach=True)
        host, port = s.mqtt_address
        user, password = s.mqtt_login
        with Runtime(s, keep_db=True) as rt:
            rt.check()
            listeners = listeners_for(s, rt.engine)
            worker = MQTTBridge(
                rt.engine,
                host,
                port,
                instance=instance,
                batch_size=batch_size,
                routes=s.mqtt_routes,
                shared=shared,
                tls=s.mqtt_tls,
                ca_file=s.mqtt_ca_file,
                username=user,
                password=password,
                listeners=listeners,
            )
            for sig in (signal.SIGTERM, signal.SIGINT):  # finish the batch, then leave
                signal.signal(sig, lambda *_: worker.request_stop())
            scheme = "mqtts" if s.mqtt_tls else "mqtt"
            mappings = ", ".join(r.entry for r in worker.routes)
            console.print(
                f"bridge {instance}: {scheme}://{host}:{port}, {mappings}", highlight=False
            )
            try:
                stats = worker.run()
            except KeyboardInterrupt:
                worker.request_stop()
                stats = worker.stats
            finally:
                close_all(listeners)
        out.print(
            f"stored {stats.stored}, duplicate {stats.duplicate}, rejected {stats.rejected} "
            f"in {stats.batches} batches"
        )
