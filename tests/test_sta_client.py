"""A real SensorThings client (Fraunhofer IOSB's frost-sta-client, from PyPI) reads the twin's
/sta/v1.1 served by a real uvicorn on a free port: entity sets, one entity, navigation,
$filter, $expand, $orderby and paging through @iot.nextLink, anonymous and with a token."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import frost_sta_client as fsc
import pytest
import requests
import uvicorn
from sqlalchemy import Engine

from tests.conftest import free_port
from tests.sta_data import N_TEMPERATURE, StaWorld, seed_sta
from twin.accounts import create_user
from twin.app import create_app
from twin.settings import Settings

#: the client's URL library (furl) warns about its own deprecated call
pytestmark = pytest.mark.filterwarnings("ignore:furl.pathstr is deprecated:DeprecationWarning")


class BearerAuth(requests.auth.AuthBase):
    """The twin's ``Authorization: Bearer`` header, for the client's requests session."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.token}"
        return r


class TokenHandler(fsc.AuthHandler):  # type: ignore[misc]
    def __init__(self, token: str) -> None:
        super().__init__(username="", password="")
        self.token = token

    def add_auth_header(self) -> BearerAuth:
        return BearerAuth(self.token)


@pytest.fixture
def served(settings: Settings, engine: Engine) -> Iterator[tuple[str, StaWorld, str]]:
    world = seed_sta(engine)
    settings = settings.model_copy(update={"sta_default_top": 7})
    token = create_user(engine, "sta-agent", "agent")
    port = free_port()
    config = uvicorn.Config(
        create_app(settings, engine=engine), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-sta", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on port {port}")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/sta/v1.1", world, token
    server.should_exit = True
    thread.join(timeout=10)


def test_frost_client_reads_the_twin(served: tuple[str, StaWorld, str]) -> None:
    url, world, _ = served
    service = fsc.SensorThingsService(url)
    things = list(service.things().query().list())
    assert sorted(t.name for t in things) == ["air-1", "air-2"]
    air1 = service.things().find(world.thing["air-1"])
    assert air1.name == "air-1" and air1.id == world.thing["air-1"]
    streams = list(
        service.datastreams().query().filter("Thing/name eq 'air-1'").expand("Thing").list()
    )
    assert sorted(s.name for s in streams) == ["air-1 pm10", "air-1 temperature"]
    assert {s.thing.name for s in streams} == {"air-1"}
    temp = next(s for s in streams if s.name.endswith("temperature"))
    assert temp.unit_of_measurement.symbol == "Cel"
    # 30 observations in pages of 7: the client follows @iot.nextLink to the end
    obs = list(
        service.observations()
        .query()
        .filter(f"Datastream/@iot.id eq {temp.id}")
        .orderby("phenomenonTime", "ASC")
        .list()
    )
    assert [o.result for o in obs] == [10.0 + i for i in range(N_TEMPERATURE)]
    assert obs[0].phenomenon_time == "2026-11-30T10:00:00Z"
    located = service.locations().query().list()
    assert all(loc.encoding_type == "application/geo+json" for loc in located)
    history = list(service.historical_locations().query().expand("Thing,Locations").list())
    assert sorted(h.thing.name for h in history) == ["air-1", "air-2"]
    assert {h.locations.entities[0].id for h in history} == {
        world.location[d] for d in ("air-1", "air-2")
    }


def test_frost_client_with_a_token_sees_what_its_role_sees(
    served: tuple[str, StaWorld, str],
) -> None:
    url, _, token = served
    anonymous = fsc.SensorThingsService(url)
    agent = fsc.SensorThingsService(url, auth_handler=TokenHandler(token))
    assert "gauge-agent" not in {t.name for t in anonymous.things().query().list()}
    assert "gauge-agent" in {t.name for t in agent.things().query().list()}
    with pytest.raises(Exception, match="404"):
        anonymous.things().find(3)  # the agent-only gauge: as if it did not exist
