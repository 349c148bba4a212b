"""A real OGC client (OWSLib) against the twin served by a real uvicorn on a free port."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from owslib.ogcapi.features import Features
from sqlalchemy import Engine

from tests.conftest import free_port
from tests.test_features_api import X0, Y0, lonlat, seed
from twin.app import create_app
from twin.settings import Settings


@pytest.fixture
def seeded(engine: Engine) -> dict[str, list[int]]:
    return seed(engine)


@pytest.fixture
def server_url(settings: Settings, seeded: dict[str, list[int]]) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on port {port}")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(timeout=10)


def test_owslib_reads_landing_conformance_and_collections(server_url: str) -> None:
    api = Features(server_url)
    assert any(link["rel"] == "data" for link in api.links)
    classes = api.conformance()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in classes
    ids = {c["id"] for c in api.collections()["collections"]}
    assert "buildings" in ids and "networks" not in ids
    assert "buildings" in api.feature_collections()
    assert api.collection("buildings")["extent"]["spatial"]["bbox"]
    assert api.api()["paths"]  # the service-desc link leads to the OpenAPI document


def test_owslib_pages_and_filters_items(server_url: str, seeded: dict[str, list[int]]) -> None:
    api = Features(server_url)
    page = api.collection_items("buildings", limit=2)
    assert page["numberMatched"] == 3 and page["numberReturned"] == 2
    lo, hi = lonlat(X0 + 90, Y0 - 5), lonlat(X0 + 130, Y0 + 25)
    boxed = api.collection_items("buildings", limit=5, bbox=[lo[0], lo[1], hi[0], hi[1]])
    assert [f["id"] for f in boxed["features"]] == [seeded["buildings"][1]]
    one = api.collection_item("buildings", str(seeded["buildings"][2]))
    assert one["id"] == seeded["buildings"][2]
    assert one["geometry"]["coordinates"][0][0][0][2] == 12.0


def test_owslib_is_refused_agent_collections(server_url: str) -> None:
    api = Features(server_url)
    with pytest.raises(RuntimeError, match="visible to"):
        api.collection_items("networks", limit=1)
