"""Browser test of the operator's flood view: the demo district with its DEM (synthetic, from
OSM spot heights and the coastline), its live side and the shipped rules, served for real
with the tests' Mosquitto; ``viewer/tests/flood.mjs`` pushes the flood gauge over its red
level and waits for the extent the rule's flood action streams to Operations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import _drop_db, _fresh_db, free_port
from tests.viewer_support import VIEWER, require_browser_tools, run_check, serve

RUNNER = VIEWER / "tests" / "flood.mjs"


@pytest.fixture(scope="module")
def flood_server(
    pg_cluster, template_db, mqtt_broker, tmp_path_factory
) -> Iterator[tuple[str, dict[str, str]]]:  # type: ignore[no-untyped-def]
    require_browser_tools()

    from geodata.db import make_engine
    from geodata.demo import load_demo
    from geodata.importers.base import ImportOptions
    from sensors_bridge.simulate.demo import load_live_demo
    from tiles.build import build_all
    from twin.accounts import create_user
    from twin.app import create_app
    from twin.rules.examples import load_examples
    from twin.settings import Settings

    name = _fresh_db(pg_cluster, template_db)
    url = f"postgresql+psycopg://twin@127.0.0.1:{pg_cluster.port}/{name}"
    settings = Settings(
        database_url=url,
        data_dir=tmp_path_factory.mktemp("viewer-flood") / "var",
        mqtt_port=mqtt_broker.port,
        _env_file=None,
    )
    engine = make_engine(settings.sqlalchemy_url)
    load_demo(engine)
    load_live_demo(engine, settings.data_dir, ImportOptions.from_settings())
    build_all(engine, settings.tiles_dir)
    load_examples(engine)
    tokens = {role: create_user(engine, f"flood-{role}", role) for role in ("operator", "admin")}
    app = create_app(settings, engine)
    try:
        with serve(app, free_port()) as base:
            yield base, tokens
    finally:
        engine.dispose()
        _drop_db(pg_cluster, name)


def test_the_flood_view(flood_server: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    base, tokens = flood_server
    env = {"TWIN_URL": base} | {f"TWIN_{r.upper()}_TOKEN": t for r, t in tokens.items()}
    run_check(RUNNER, "flood", env, tmp_path)
