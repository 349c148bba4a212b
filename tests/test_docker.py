"""docker/compose.yaml is a valid Compose file and refuses to run without a database password."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

COMPOSE = Path(__file__).resolve().parent.parent / "docker" / "compose.yaml"


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


def test_compose_config_is_valid() -> None:
    proc = _config({"TWIN_DB_PASSWORD": "s3cret"})
    assert proc.returncode == 0, proc.stderr
    for service in ("db:", "mqtt:", "app:", "nginx:"):
        assert service in proc.stdout
    assert "postgresql://twin:s3cret@db:5432/twin" in proc.stdout


def test_compose_refuses_missing_password() -> None:
    env = {k: v for k, v in os.environ.items() if k != "TWIN_DB_PASSWORD"}
    proc = subprocess.run(
        [*_compose_cmd(), "-f", str(COMPOSE), "config"],
        capture_output=True,
        text=True,
        env=env,
        cwd=COMPOSE.parent,
    )
    assert proc.returncode != 0
    assert "TWIN_DB_PASSWORD" in proc.stderr
