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

from tests.viewer_support import ROOT, VIEWER, run_check, served_twin

RUNNER = VIEWER / "tests" / "planner.mjs"


@pytest.fixture(scope="module")
def planner_server(pg_cluster, template_db, tmp_path_factory) -> Iterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    subprocess.run(["bash", str(ROOT / "scripts" / "build-viewer.sh")], check=True)
    folder = tmp_path_factory.mktemp("planner")
    with served_twin(pg_cluster, template_db, folder, {"planner": "viewer-test-planner"}) as twin:
        yield twin.url, twin.tokens["planner"]


@pytest.mark.parametrize("check", ["sun", "edit"])
def test_planner(planner_server: tuple[str, str], check: str, tmp_path: Path) -> None:
    base, token = planner_server
    run_check(RUNNER, check, {"TWIN_URL": base, "TWIN_PLANNER_TOKEN": token}, tmp_path)
