"""Browser test of the operator's flood view: the demo district with its DEM (synthetic, from
OSM spot heights and the coastline), its live side and the shipped rules, served for real
with the tests' Mosquitto; ``viewer/tests/flood.mjs`` pushes the flood gauge over its red
level and waits for the extent the rule's flood action streams to Operations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.viewer_support import VIEWER, run_check, served_twin

RUNNER = VIEWER / "tests" / "flood.mjs"


@pytest.fixture(scope="module")
def flood_server(
    pg_cluster, template_db, mqtt_broker, tmp_path_factory
) -> Iterator[tuple[str, dict[str, str]]]:  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("viewer-flood")
    accounts = {"operator": "flood-operator", "admin": "flood-admin"}
    with served_twin(pg_cluster, template_db, folder, accounts, mqtt_broker=mqtt_broker) as twin:
        yield twin.url, twin.tokens


def test_the_flood_view(flood_server: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    base, tokens = flood_server
    env = {"TWIN_URL": base} | {f"TWIN_{r.upper()}_TOKEN": t for r, t in tokens.items()}
    run_check(RUNNER, "flood", env, tmp_path)
