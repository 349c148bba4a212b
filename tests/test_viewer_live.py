"""Browser tests of the viewer's Live and Operations modes, against the real server, the real
broker and the demo district with its live side (``load_live_demo``: parking bays, lamps, a
flood gauge, air quality, classroom CO2, bus stops) and the shipped example rules.

One module-scoped server: a fresh database, the demo and its devices, every tileset, a first
value for every simulated device (the profiles' value at start, through the batch writer),
an account per role, and the app (its ingest routes publishing to the tests' Mosquitto, its
``/ws/live`` reading from it). Each test runs one check of ``viewer/tests/live.mjs``; a check
changes the picture by posting an observation to ``/api/ingest``, the path a sensor's
integration takes, and waits for the browser to show it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.viewer_support import VIEWER, run_check, served_twin

RUNNER = VIEWER / "tests" / "live.mjs"
CHECKS = ["live", "alerts", "live_phone", "ops", "ops_admin", "ops_denied"]


ROLES = ("citizen", "agent", "operator", "admin")


@dataclass
class LiveServer:
    url: str
    tokens: dict[str, str]


def _seed_values(engine) -> int:  # type: ignore[no-untyped-def]
    """Every simulated device's values over the last six hours (every 10 minutes, up to now),
    as `twin simulate` would have sent them: the charts have a history, the pins a state."""
    from sensors_bridge.model import Observation
    from sensors_bridge.simulate.demo import simulated_devices
    from sensors_bridge.simulate.profiles import METRICS, Scenario, value
    from sensors_bridge.store import BatchWriter

    now = datetime.now(UTC).replace(microsecond=0)
    with engine.connect() as conn:
        devices = simulated_devices(conn)
    times = [now - timedelta(minutes=10 * k) for k in range(36, -1, -1)]
    obs = [
        Observation(d.id, metric, value(d.kind, metric, d.id, at, Scenario()), at, unit=unit)
        for at in times
        for d in devices
        for metric, unit in METRICS[d.kind].items()
    ]
    BatchWriter(engine, "http").write(obs, now=now)
    return len(obs)


@pytest.fixture(scope="module")
def live_server(pg_cluster, template_db, mqtt_broker, tmp_path_factory) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    def seed(engine) -> None:  # type: ignore[no-untyped-def]
        assert _seed_values(engine) > 1000

    folder = tmp_path_factory.mktemp("viewer-live")
    accounts = {role: f"live-{role}" for role in ROLES}
    with served_twin(
        pg_cluster, template_db, folder, accounts, mqtt_broker=mqtt_broker, prepare=seed
    ) as twin:
        yield LiveServer(twin.url, twin.tokens)


@pytest.mark.parametrize("check", CHECKS)
def test_live_viewer(live_server: LiveServer, check: str, tmp_path: Path) -> None:
    """One browser check of viewer/tests/live.mjs."""
    env = {"TWIN_URL": live_server.url}
    env |= {f"TWIN_{role.upper()}_TOKEN": t for role, t in live_server.tokens.items()}
    run_check(RUNNER, check, env, tmp_path)
