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

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import _drop_db, _fresh_db, free_port
from tests.oidc_issuer import Issuer
from tests.viewer_support import VIEWER, require_browser_tools, run_check, serve

RUNNER = VIEWER / "tests" / "run.mjs"
CHECKS = [
    "explore",
    "terrain",
    "unreachable",
    "phone",
    "underground_anonymous",
    "underground_agent",
    "project",
    "tour",
    "vr",
    "oidc_signin",
    "oidc_expiry",
    "oidc_wrong_state",
]
#: the viewer's client at the tests' provider, and how long its tokens last (short, so the
#: browser checks see a renewal and an expiry)
OIDC_CLIENT = "twin-viewer"
OIDC_TOKEN_SECONDS = 12


@dataclass
class Server:
    url: str
    token: str


@pytest.fixture(scope="module")
def viewer_server(pg_cluster, template_db, tmp_path_factory) -> Iterator[Server]:  # type: ignore[no-untyped-def]
    require_browser_tools()

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
        live=False,  # no broker here: test_viewer_live.py checks the live modes
        _env_file=None,
    )
    engine = make_engine(settings.sqlalchemy_url)
    load_demo(engine)
    build_all(engine, settings.tiles_dir)
    token = create_user(engine, "viewer-test-agent", "agent")
    app = create_app(settings, engine)
    try:
        with serve(app, port) as base:
            yield Server(base, token)
    finally:
        engine.dispose()
        issuer.close()
        _drop_db(pg_cluster, name)


@pytest.mark.parametrize("check", CHECKS)
def test_viewer(viewer_server: Server, check: str, tmp_path: Path) -> None:
    """One browser check (see viewer/tests/run.mjs): it fails with the runner's own message."""
    env = {"TWIN_URL": viewer_server.url, "TWIN_AGENT_TOKEN": viewer_server.token}
    run_check(RUNNER, check, env, tmp_path)


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
