"""docker/compose.yaml is a valid Compose file, refuses to run without its secrets, and publishes
only TLS ports for the broker (the nginx and Mosquitto configs are run for real in
test_deploy_nginx.py and test_deploy_mqtt.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

COMPOSE = Path(__file__).resolve().parent.parent / "docker" / "compose.yaml"
SECRETS = {
    "TWIN_DB_PASSWORD": "s3cret",
    "TWIN_MQTT_BRIDGE_PASSWORD": "b-secret",
    "TWIN_MQTT_APP_PASSWORD": "a-secret",
}


def _compose_cmd() -> list[str]:
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    assert legacy, "neither `docker compose` nor `docker-compose` is installed: run make setup"
    return [legacy]


def _config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_compose_cmd(), "-f", str(COMPOSE), "config"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=COMPOSE.parent,
    )


def _published(service: dict[str, object]) -> set[int]:
    """The container ports a service publishes on the host (either syntax of compose)."""
    ports: set[int] = set()
    for p in service.get("ports", []):  # type: ignore[attr-defined]
        ports.add(int(p["target"]) if isinstance(p, dict) else int(str(p).rsplit(":", 1)[1]))
    return ports


def test_compose_config_is_valid() -> None:
    proc = _config(SECRETS)
    assert proc.returncode == 0, proc.stderr
    services = yaml.safe_load(proc.stdout)["services"]
    assert set(services) == {"db", "mqtt", "app", "bridge", "nginx"}
    app = services["app"]["environment"]
    assert app["TWIN_DATABASE_URL"] == "postgresql://twin:s3cret@db:5432/twin"
    assert app["TWIN_MQTT_URL"] == "mqtt://app:a-secret@mqtt:1883"
    assert app["TWIN_WORKERS"] == "2"  # `twin serve` starts that many, each its own hub
    bridge = services["bridge"]["environment"]
    assert bridge["TWIN_MQTT_URL"] == "mqtts://mqtt:8883"  # TLS, with its own account
    assert (bridge["TWIN_MQTT_USERNAME"], bridge["TWIN_MQTT_PASSWORD"]) == ("bridge", "b-secret")
    assert bridge["TWIN_MQTT_CA_FILE"] == "/mosquitto/certs/tls.crt"
    assert "twin bridge" in " ".join(services["bridge"]["command"])
    # only nginx and the broker's TLS listener are reachable from outside
    assert _published(services["mqtt"]) == {8883}
    assert _published(services["nginx"]) == {80, 443}
    assert not _published(services["app"]) and not _published(services["db"])
    assert not _published(services["bridge"])


@pytest.mark.parametrize("secret", sorted(SECRETS))
def test_compose_refuses_missing_secrets(secret: str) -> None:
    env = {**os.environ, **SECRETS}
    env.pop(secret)
    proc = subprocess.run(
        [*_compose_cmd(), "-f", str(COMPOSE), "config"],
        capture_output=True,
        text=True,
        env=env,
        cwd=COMPOSE.parent,
    )
    assert proc.returncode != 0
    assert f"set {secret} in .env" in proc.stderr
