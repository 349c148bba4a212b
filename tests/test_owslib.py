"""A real OGC client (OWSLib) against the twin served by a real uvicorn on a free port."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from owslib.ogcapi.features import Features
from pyproj import Transformer
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


def test_owslib_sends_a_cql2_filter(server_url: str, seeded: dict[str, list[int]]) -> None:
    api = Features(server_url)
    assert "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text" in api.conformance()["conformsTo"]
    tall = api.collection_items("buildings", filter="height > 10", limit=10)
    heights = sorted(f["properties"]["height"] for f in tall["features"])
    assert heights and all(h > 10 for h in heights)
    everything = api.collection_items("buildings", limit=10)["features"]
    assert tall["numberMatched"] == sum(f["properties"]["height"] > 10 for f in everything)
    assert "height" in api.collection_queryables("buildings")["properties"]


_GDAL_READ = """
import json, sys
import pyogrio
url, crs = sys.argv[1], sys.argv[2] or None
frame = pyogrio.read_dataframe(url, **({"CRS": crs} if crs else {}))
print(json.dumps({"epsg": frame.crs.to_epsg(), "wkb": [g.wkb_hex for g in frame.geometry]}))
"""


def _gdal_read(url: str, crs: str = "") -> dict[str, Any]:
    """GDAL in a child process: its HTTP reads hold the GIL, which the server thread needs."""
    done = subprocess.run(
        [sys.executable, "-c", _GDAL_READ, url, crs],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def test_gdal_reads_the_collection_in_crs84_and_in_the_working_crs(server_url: str) -> None:
    """GDAL's OAPIF driver (through pyogrio) reads the same buildings in CRS84 and in the
    working CRS: the working-CRS coordinates are the CRS84 ones reprojected."""
    import numpy as np
    import shapely

    url = f"OAPIF:{server_url}collections/buildings"
    crs84, native = _gdal_read(url, "OGC:CRS84"), _gdal_read(url, "EPSG:3067")
    assert len(crs84["wkb"]) == len(native["wkb"]) == 3
    assert native["epsg"] == 3067
    # without a CRS, GDAL reads the collection's storageCrs, as Part 2 lets a client do
    assert _gdal_read(url)["epsg"] == 3067
    there = Transformer.from_crs(4326, 3067, always_xy=True)
    for a, b in zip(crs84["wkb"], native["wkb"], strict=True):
        ga, gb = shapely.from_wkb(bytes.fromhex(a)), shapely.from_wkb(bytes.fromhex(b))
        moved = shapely.transform(ga, lambda c: np.column_stack(there.transform(c[:, 0], c[:, 1])))
        assert moved.equals_exact(gb, tolerance=0.01)
