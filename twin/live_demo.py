"""The demo, alive: the broker, the bridge, the simulator and the GTFS-realtime poller beside
the server (``twin demo --serve --live``, what ``make demo`` runs).

Why child processes and not threads: each is the command a user would run by hand (``twin
bridge``, ``twin simulate``, ``twin gtfs rt``), with its own signals, logs and restart, so the
demo shows the deployment as it is. They log to ``$TWIN_DATA_DIR/demo/logs``. :meth:`stop`
sends SIGTERM (the bridge finishes its batch, the simulator its message), then kills what
has not left after a grace period; the broker is left running like ``twin broker start``
leaves it (its sessions and queues persist), and ``twin broker stop`` stops it.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from sensors_bridge.simulate.demo import FEED, live_dir, realtime_file
from twin.settings import Settings

LOGGER = logging.getLogger(__name__)
#: how ``twin`` is run in a child: the same interpreter and code as this process
TWIN = (sys.executable, "-c", "from twin.cli import main; main()")


@dataclass
class LiveDemo:
    """The live side of the demo; ``start()`` returns at once, ``stop()`` ends it."""

    settings: Settings
    rate: float = 20.0
    protocols: str = "mqtt,http,tts,chirpstack,gtfs"
    storm_in_minutes: float = 10.0
    url: str | None = None
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _logs: list[IO[bytes]] = field(default_factory=list)

    @property
    def log_dir(self) -> Path:
        return live_dir(self.settings.data_dir) / "logs"

    def commands(self) -> dict[str, list[str]]:
        """Each child's ``twin`` arguments (the poller only when buses are simulated)."""
        s = self.settings
        url = self.url or f"http://{s.host}:{s.port}"
        simulate = ["simulate", "--duration", "0", "--rate", f"{self.rate:g}"]
        simulate += ["--protocols", self.protocols, "--storm-in", f"{self.storm_in_minutes:g}"]
        commands = {
            "bridge": ["bridge", "--instance", "demo"],
            "simulate": [*simulate, "--url", url],
        }
        if "gtfs" in self.protocols.split(","):
            poll = ["gtfs", "rt", str(realtime_file(s.data_dir)), "--feed", FEED, "--interval", "5"]
            commands["gtfs-rt"] = poll
        return commands

    def environment(self) -> dict[str, str]:
        """The children's environment: this one, with the settings that say where things are
        (so a twin configured by arguments, not variables, reaches the same database)."""
        s = self.settings
        env = {**os.environ, "TWIN_DATA_DIR": str(s.data_dir), "TWIN_PG_PORT": str(s.pg_port)}
        env["TWIN_MQTT_PORT"] = str(s.mqtt_port)
        for name, value in (
            ("TWIN_DATABASE_URL", s.database_url),
            ("TWIN_MQTT_URL", s.mqtt_url),
            ("TWIN_MQTT_TOPICS", s.mqtt_topics),
        ):
            if value:
                env[name] = value
        return env

    def start(self) -> None:
        """Start the broker (unless TWIN_MQTT_URL names one), then every child."""
        from twin.services.mosquitto import EmbeddedMosquitto

        if not self.settings.mqtt_url:
            EmbeddedMosquitto.of(self.settings).start(detach=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = self.environment()
        for name, args in self.commands().items():
            log = (self.log_dir / f"{name}.log").open("ab")
            self._logs.append(log)
            self.children[name] = subprocess.Popen(
                [*TWIN, *args], stdout=log, stderr=subprocess.STDOUT, env=env
            )
            LOGGER.info("live demo: %s started (log %s)", name, log.name)

    def running(self) -> dict[str, bool]:
        return {name: p.poll() is None for name, p in self.children.items()}

    def stop(self, grace: float = 10.0) -> dict[str, int]:
        """SIGTERM every child, then SIGKILL what is left after ``grace``; their exit codes."""
        for p in self.children.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        codes: dict[str, int] = {}
        for name, p in self.children.items():
            try:
                codes[name] = p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                LOGGER.warning("live demo: %s did not stop in %.0f s: killed", name, grace)
                p.kill()
                codes[name] = p.wait()
        for log in self._logs:
            log.close()
        self.children.clear()
        self._logs.clear()
        return codes
