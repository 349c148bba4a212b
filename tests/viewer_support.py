"""What the browser tests share: the tools they need, an app served on a free port in a
thread, and one check of a Node runner (``viewer/tests/*.mjs``) run against it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
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
