"""Browser tests of Planner mode (``/#/planner``) against the real server and the demo district.

One module-scoped server: a fresh database, the demo loaded with every tileset built, a
planner's token, and the app with the built viewer served on a free port. Each test runs one
check of ``viewer/tests/planner.mjs`` in Debian's Chromium: the time slider moves the shadows
and the sun matches the API (the shadow camera covering the whole visible ground), and a
footprint drawn in the panel shows up in the 3D view with its floor area in the comparison.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import _drop_db, _fresh_db, free_port
from tests.viewer_support import ROOT, VIEWER, require_browser_tools, run_check, serve

RUNNER = VIEWER / "tests" / "planner.mjs"


@pytest.fixture(scope="module")
def planner_server(pg_cluster, template_db, tmp_path_factory) -> Iterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    require_browser_tools()
    subprocess.run(["bash", str(ROOT / "scripts" / "build-viewer.sh")], check=True)

    from geodata.db import make_engine
    from geodata.demo import load_demo
    from tiles.build import build_all
    from twin.accounts import create_user
    from twin.app import create_app
    from twin.settings import Settings

    name = _fresh_db(pg_cluster, template_db)
    settings = Settings(
        database_url=f"postgresql+psycopg://twin@127.0.0.1:{pg_cluster.port}/{name}",
        data_dir=tmp_path_factory.mktemp("planner") / "var",
        live=False,
        _env_file=None,
    )
    engine = make_engine(settings.sqlalchemy_url)
    load_demo(engine)
    build_all(engine, settings.tiles_dir)
    token = create_user(engine, "viewer-test-planner", "planner")
    try:
        with serve(create_app(settings, engine), free_port()) as base:
            yield base, token
    finally:
        engine.dispose()
        _drop_db(pg_cluster, name)


@pytest.mark.parametrize("check", ["sun", "edit"])
def test_planner(planner_server: tuple[str, str], check: str, tmp_path: Path) -> None:
    base, token = planner_server
    run_check(RUNNER, check, {"TWIN_URL": base, "TWIN_PLANNER_TOKEN": token}, tmp_path)
