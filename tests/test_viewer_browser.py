"""Browser tests of the web and VR viewer, against the real server and the demo district.

One module-scoped server: a fresh database from the migrated template, the demo loaded
(``geodata.demo.load_demo``), every tileset built (``tiles.build.build_all``), an agent token,
OpenID Connect sign-in against the tests' provider (``tests.oidc_issuer``), and the app (with
the built viewer at ``/``) served by uvicorn on a free port in a thread.
Each test then runs one check of ``viewer/tests/run.mjs``, which drives Debian's Chromium
headless through playwright-core (never a downloaded browser) and saves its screenshots to
``tests/.artifacts/screenshots/`` (``make screenshots`` writes them to ``docs/screenshots/``, the
README's pictures, through ``TWIN_SCREENSHOTS``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import _drop_db, _fresh_db, free_port
from tests.oidc_issuer import Issuer

ROOT = Path(__file__).resolve().parent.parent
VIEWER = ROOT / "viewer"
RUNNER = VIEWER / "tests" / "run.mjs"
SHOTS = Path(os.environ.get("TWIN_SCREENSHOTS") or ROOT / "tests" / ".artifacts" / "screenshots")
CHECKS = [
    "explore",
    "unreachable",
    "phone",
    "underground_anonymous",
    "underground_agent",
    "project",
    "vr",
    "oidc_signin",
    "oidc_expiry",
    "oidc_wrong_state",
]
#: the viewer's client at the tests' provider, and how long its tokens last (short, so the
#: browser checks see a renewal and an expiry)
OIDC_CLIENT = "twin-viewer"
OIDC_TOKEN_SECONDS = 12


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _require_browser_tools() -> None:
    if shutil.which("node") is None:
        pytest.fail("node is not installed: run make setup (scripts/setup.sh installs Node.js)")
    if _chromium() is None:
        pytest.fail("Debian's chromium is not installed: run make setup")
    if not (VIEWER / "node_modules" / "playwright-core").exists():
        if shutil.which("npm") is None:
            pytest.fail("npm is not installed: run make setup")
        subprocess.run(["bash", str(ROOT / "scripts" / "build-viewer.sh")], check=True)
    if not (VIEWER / "dist" / "index.html").exists():
        subprocess.run(["bash", str(ROOT / "scripts" / "build-viewer.sh")], check=True)


@dataclass
class Server:
    url: str
    token: str


@pytest.fixture(scope="module")
def viewer_server(pg_cluster, template_db, tmp_path_factory) -> Iterator[Server]:  # type: ignore[no-untyped-def]
    _require_browser_tools()
    import uvicorn

    from geodata.db import make_engine
    from geodata.demo import load_demo
    from tiles.build import build_all
    from twin.accounts import create_user
    from twin.app import create_app
    from twin.settings import Settings

    name = _fresh_db(pg_cluster, template_db)
    url = f"postgresql+psycopg://twin@127.0.0.1:{pg_cluster.port}/{name}"
    port = free_port()
    issuer = Issuer()
    issuer.token_seconds = OIDC_TOKEN_SECONDS
    issuer.register(OIDC_CLIENT, f"http://127.0.0.1:{port}/")
    # OpenID Connect on for every check: pasted tokens must keep working beside it
    settings = Settings(
        database_url=url,
        data_dir=tmp_path_factory.mktemp("viewer") / "var",
        oidc_issuer=issuer.url,
        oidc_audience=issuer.audience,
        oidc_jwks_url=f"{issuer.url}/jwks.json",
        oidc_client_id=OIDC_CLIENT,
        _env_file=None,
    )
    engine = make_engine(settings.sqlalchemy_url)
    load_demo(engine)
    build_all(engine, settings.tiles_dir)
    token = create_user(engine, "viewer-test-agent", "agent")
    app = create_app(settings, engine)
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
        yield Server(f"http://127.0.0.1:{port}", token)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        engine.dispose()
        issuer.close()
        _drop_db(pg_cluster, name)


@pytest.mark.parametrize("check", CHECKS)
def test_viewer(viewer_server: Server, check: str, tmp_path: Path) -> None:
    """One browser check (see viewer/tests/run.mjs): it fails with the runner's own message."""
    results = tmp_path / "results.json"
    env = {
        **os.environ,
        "TWIN_URL": viewer_server.url,
        "TWIN_AGENT_TOKEN": viewer_server.token,
        "TWIN_SCREENSHOTS": str(SHOTS),
        "TWIN_RESULTS": str(results),
        "CHROMIUM": _chromium() or "",
    }
    proc = subprocess.run(
        ["node", str(RUNNER), f"--only={check}"],
        cwd=VIEWER,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    out = proc.stdout + proc.stderr
    assert results.exists(), f"the browser runner did not report:\n{out}"
    result = json.loads(results.read_text())[check]
    assert result["ok"], f"{check}: {result.get('error')}\n{out}"
    assert proc.returncode == 0, out


def test_viewer_unit_and_types() -> None:
    """The viewer's own checks: `tsc --noEmit` and the vitest unit tests of its core."""
    if shutil.which("npm") is None or not (VIEWER / "node_modules").exists():
        pytest.fail("the viewer's npm packages are not installed: run make viewer")
    for script in ("typecheck", "test"):
        proc = subprocess.run(
            ["npm", "run", "--silent", script],
            cwd=VIEWER,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert proc.returncode == 0, f"npm run {script}:\n{proc.stdout}\n{proc.stderr}"
