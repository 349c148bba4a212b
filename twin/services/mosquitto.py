"""The MQTT broker: the configured one, a local one on 1883, or a project-managed Mosquitto.

The embedded broker is a plain ``mosquitto`` process bound to 127.0.0.1 on its own port, with
its config and log under ``$TWIN_DATA_DIR/mqtt``; it lives as long as the process that started it.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from geodata.errors import ConfigError
from twin.services.postgres import port_open

LOGGER = logging.getLogger(__name__)


def find_mosquitto() -> str:
    exe = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if not exe:
        raise ConfigError("mosquitto not found: run `make setup` or set TWIN_MQTT_URL")
    return exe


@dataclass
class EmbeddedMosquitto:
    root: Path
    port: int
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10) -> bool:
        if port_open(self.port):
            return False
        self.root.mkdir(parents=True, exist_ok=True)
        conf = self.root / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            f"log_dest file {self.root / 'mosquitto.log'}\n"
        )
        LOGGER.info("starting Mosquitto on 127.0.0.1:%s", self.port)
        self.proc = subprocess.Popen(
            [find_mosquitto(), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while not port_open(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise ConfigError(f"mosquitto did not start: see {self.root / 'mosquitto.log'}")
            time.sleep(0.05)
        return True

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None


def broker_url(mqtt_url: str | None, fallback: EmbeddedMosquitto) -> tuple[str, bool]:
    """Pick the broker: configured URL, else 127.0.0.1:1883 if it answers, else embedded.

    Returns (url, needs_embedded).
    """
    if mqtt_url:
        return mqtt_url, False
    if port_open(1883):
        return "mqtt://127.0.0.1:1883", False
    return fallback.url, True
