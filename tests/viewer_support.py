"""What the browser tests share: the tools they need, an app served on a free port in a
thread, and one check of a Node runner (``viewer/tests/*.mjs``) run against it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
VIEWER = ROOT / "viewer"
SHOTS = Path(os.environ.get("TWIN_SCREENSHOTS") or ROOT / "tests" / ".artifacts" / "screenshots")


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def require_browser_tools() -> None:
    if shutil.which("node") is None:
        pytest.fail("node is not installed: run make setup (scripts/setup.sh installs Node.js)")
    if chromium() is None:
        pytest.fail("Debian's chromium is not installed: run make setup")
    if not (VIEWER / "node_modules" / "playwright-core").exists():
        if shutil.which("npm") is None:
            pytest.fail("npm is not installed: run make setup")
        subprocess.run(["bash", str(ROOT / "scripts" / "build-viewer.sh")], check=True)
    if not (VIEWER / "dist" / "index.html").exists():
        subprocess.run(["bash", str(ROOT / "scripts" / "build-viewer.sh")], check=True)


@contextmanager
def serve(app: Any, port: int) -> Iterator[str]:
    """The app under uvicorn on ``port`` in a daemon thread; its base URL."""
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="viewer-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@dataclass
class ServedTwin:
    """A twin served for a browser test: the demo district and its tiles, maybe its live side."""

    url: str
    engine: Any
    #: a token per account asked for, by role
    tokens: dict[str, str]


@contextmanager
def served_twin(
    pg_cluster: Any,
    template_db: str,
    folder: Path,
    accounts: dict[str, str],
    *,
    mqtt_broker: Any = None,
    prepare: Callable[[Any], None] | None = None,
) -> Iterator[ServedTwin]:
    """A database of its own with the demo and, given the tests' ``mqtt_broker``, the live
    demo and the shipped rules; ``prepare(engine)`` before the tiles are built; an account
    per role of ``accounts`` (role -> name); served on a free port, dropped afterwards."""
    from geodata.db import make_engine
    from geodata.demo import load_demo
    from geodata.importers.base import ImportOptions
    from sensors_bridge.simulate.demo import load_live_demo
    from tests.conftest import _drop_db, _fresh_db, free_port
    from tiles.build import build_all
    from twin.accounts import create_user
    from twin.app import create_app
    from twin.rules.examples import load_examples
    from twin.settings import Settings

    require_browser_tools()
    live = mqtt_broker is not None
    name = _fresh_db(pg_cluster, template_db)
    settings = Settings(
        database_url=f"postgresql+psycopg://twin@127.0.0.1:{pg_cluster.port}/{name}",
        data_dir=folder / "var",
        live=live,
        _env_file=None,
        **({"mqtt_port": mqtt_broker.port} if live else {}),
    )
    engine = make_engine(settings.sqlalchemy_url)
    try:
        load_demo(engine)
        if live:
            load_live_demo(engine, settings.data_dir, ImportOptions.from_settings())
        if prepare is not None:
            prepare(engine)
        build_all(engine, settings.tiles_dir)
        if live:
            load_examples(engine)
        tokens = {role: create_user(engine, who, role) for role, who in accounts.items()}
        with serve(create_app(settings, engine), free_port()) as base:
            yield ServedTwin(base, engine, tokens)
    finally:
        engine.dispose()
        _drop_db(pg_cluster, name)


def run_check(runner: Path, check: str, env: dict[str, str], tmp_path: Path) -> None:
    """One browser check of ``runner``: it fails with the runner's own message."""
    results = tmp_path / "results.json"
    proc = subprocess.run(
        ["node", str(runner), f"--only={check}"],
        cwd=VIEWER,
        env={
            **os.environ,
            **env,
            "TWIN_SCREENSHOTS": str(SHOTS),
            "TWIN_RESULTS": str(results),
            "CHROMIUM": chromium() or "",
        },
        capture_output=True,
        text=True,
        timeout=240,
    )
    out = proc.stdout + proc.stderr
    assert results.exists(), f"the browser runner did not report:\n{out}"
    result = json.loads(results.read_text())[check]
    assert result["ok"], f"{check}: {result.get('error')}\n{out}"
    assert proc.returncode == 0, out
