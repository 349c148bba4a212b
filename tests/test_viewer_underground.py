"""Browser tests of Underground mode's dig tool and renewal-score colouring, against the real
server with the demo district, its synthetic breaks and stored renewal scores
(``twin.analysis.ageing.demo``), every tileset built: see viewer/tests/underground.mjs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.viewer_support import VIEWER, run_check, served_twin

RUNNER = VIEWER / "tests" / "underground.mjs"


@pytest.fixture(scope="module")
def served(pg_cluster, template_db, tmp_path_factory) -> Iterator[dict[str, str]]:  # type: ignore[no-untyped-def]
    from twin.analysis.ageing.demo import load_demo_ageing

    folder = tmp_path_factory.mktemp("underground")
    accounts = {"agent": "dig-test-agent"}
    with served_twin(pg_cluster, template_db, folder, accounts, prepare=load_demo_ageing) as twin:
        yield {"TWIN_URL": twin.url, "TWIN_AGENT_TOKEN": twin.tokens["agent"]}


@pytest.mark.parametrize("check", ["dig", "renewal"])
def test_underground(served: dict[str, str], check: str, tmp_path: Path) -> None:
    run_check(RUNNER, check, served, tmp_path)
