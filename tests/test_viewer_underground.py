"""Browser tests of Underground mode's dig tool and renewal-score colouring, against the real
server with the demo district, its synthetic breaks and stored renewal scores
(``twin.analysis.ageing.demo``), every tileset built: see viewer/tests/underground.mjs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import _drop_db, _fresh_db, free_port
from tests.viewer_support import VIEWER, require_browser_tools, run_check, serve

RUNNER = VIEWER / "tests" / "underground.mjs"


@pytest.fixture(scope="module")
def served(pg_cluster, template_db, tmp_path_factory) -> Iterator[dict[str, str]]:  # type: ignore[no-untyped-def]
    require_browser_tools()

    from geodata.db import make_engine
    from geodata.demo import load_demo
    from tiles.build import build_all
    from twin.accounts import create_user
    from twin.analysis.ageing.demo import load_demo_ageing
    from twin.app import create_app
    from twin.settings import Settings

    name = _fresh_db(pg_cluster, template_db)
    settings = Settings(
        database_url=f"postgresql+psycopg://twin@127.0.0.1:{pg_cluster.port}/{name}",
        data_dir=tmp_path_factory.mktemp("underground") / "var",
        live=False,
        _env_file=None,
    )
    engine = make_engine(settings.sqlalchemy_url)
    load_demo(engine)
    load_demo_ageing(engine)
    build_all(engine, settings.tiles_dir)
    token = create_user(engine, "dig-test-agent", "agent")
    try:
        with serve(create_app(settings, engine), free_port()) as base:
            yield {"TWIN_URL": base, "TWIN_AGENT_TOKEN": token}
    finally:
        engine.dispose()
        _drop_db(pg_cluster, name)


@pytest.mark.parametrize("check", ["dig", "renewal"])
def test_underground(served: dict[str, str], check: str, tmp_path: Path) -> None:
    run_check(RUNNER, check, served, tmp_path)
