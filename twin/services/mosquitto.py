"""The MQTT broker: the configured one (``TWIN_MQTT_URL``) or a project-managed Mosquitto.

The embedded broker is the machine's ``mosquitto`` binary bound to 127.0.0.1 on
``TWIN_MQTT_PORT`` (18830, never 1883: machines often run a system Mosquitto there, which is
not the twin's), with its config, pid file, log and persistence file under
``$TWIN_DATA_DIR/mqtt``. Persistence is on and the in-flight and queue limits are raised: the
bridge acknowledges a message only once its batch is committed (so many are in flight at
once), and a bridge that is down must find its messages queued when it comes back.
:meth:`EmbeddedMosquitto.start` with ``detach=True`` (``twin broker start``) leaves a broker
that outlives the command; ``twin broker stop`` ends it by its pid file.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from geodata.errors import ConfigError
from twin.services.postgres import port_open

if TYPE_CHECKING:
    from twin.settings import Settings

LOGGER = logging.getLogger(__name__)

#: messages sent to one client and not yet acknowledged: above the bridge's batch size
MAX_INFLIGHT = 2000
#: messages kept for one offline (persistent-session) client before Mosquitto drops them
MAX_QUEUED = 1_000_000


def find_mosquitto() -> str:
    exe = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if not exe:
        raise ConfigError("mosquitto not found: run `make setup` or set TWIN_MQTT_URL")
    return exe


def config_text(root: Path, port: int) -> str:
    """The embedded broker's mosquitto.conf: localhost only, persistent, generous queues."""
    return (
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "persistence true\n"
        f"persistence_location {root}/\n"
        "autosave_interval 5\n"
        f"max_inflight_messages {MAX_INFLIGHT}\n"
        f"max_queued_messages {MAX_QUEUED}\n"
        "max_queued_bytes 0\n"
        f"log_dest file {root / 'mosquitto.log'}\n"
    )


@dataclass
class EmbeddedMosquitto:
    root: Path
    port: int
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @classmethod
    def of(cls, settings: Settings) -> EmbeddedMosquitto:
        """The twin's embedded broker: under ``data_dir/mqtt``, on ``TWIN_MQTT_PORT``."""
        return cls(settings.data_dir / "mqtt", settings.mqtt_port)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.root / "mosquitto.pid"

    def start(self, timeout: float = 10, *, detach: bool = False) -> bool:
        """Start the broker unless something answers on its port; True when started.

        ``detach``: a session of its own and a pid file, so it outlives this process.
        """
        if port_open(self.port):
            return False
        self.root.mkdir(parents=True, exist_ok=True)
        conf = self.root / "mosquitto.conf"
        conf.write_text(config_text(self.root, self.port))
        if os.geteuid() == 0:
            _hand_to_broker_user(self.root)
        LOGGER.info("starting Mosquitto on 127.0.0.1:%s", self.port)
        proc = subprocess.Popen(
            [find_mosquitto(), "-c", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=detach,
        )
        deadline = time.monotonic() + timeout
        while not port_open(self.port):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise ConfigError(f"mosquitto did not start: see {self.root / 'mosquitto.log'}")
            time.sleep(0.05)
        if detach:
            self.pid_file.write_text(f"{proc.pid}\n")
        else:
            self.proc = proc
        return True

    def stop(self) -> None:
        """Stop the broker this object started (SIGTERM: Mosquitto saves its queues)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None

    def stop_detached(self, timeout: float = 10) -> bool:
        """Stop the broker ``start(detach=True)`` left running; False when none was."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return False
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            self.pid_file.unlink(missing_ok=True)
            return False
        deadline = time.monotonic() + timeout
        while _alive(pid):
            if time.monotonic() > deadline:
                raise ConfigError(f"mosquitto (pid {pid}) did not stop within {timeout:.0f} s")
            time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return True


def _hand_to_broker_user(root: Path) -> None:
    """Started as root, Mosquitto drops to the ``mosquitto`` user: without this it could
    write neither its log nor its persistence file, and would lose its queues silently on a
    restart. The folder goes to that user; its parents get o+x (traverse only)."""
    import pwd

    try:
        pw = pwd.getpwnam("mosquitto")
    except KeyError:
        return  # no such user: Mosquitto stays root and can write anyway
    for path in [root, *root.iterdir()]:
        os.chown(path, pw.pw_uid, pw.pw_gid)
    for parent in root.parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            LOGGER.info("allowing the mosquitto user to traverse %s (o+x)", parent)
            os.chmod(parent, mode | 0o001)


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)  # our own child: reap it
        if waited:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def broker_url(mqtt_url: str | None, fallback: EmbeddedMosquitto) -> tuple[str, bool]:
    """Pick the broker: the configured URL, else the embedded one on ``TWIN_MQTT_PORT``.

    Never 127.0.0.1:1883 by guess: a broker there belongs to someone else. Returns
    (url, needs_embedded).
    """
    if mqtt_url:
        return mqtt_url, False
    return fallback.url, True
