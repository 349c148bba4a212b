"""Every answer that is not a success has the OGC exception shape, the unexpected included:
a bare 500 text page or a traceback never reaches a client."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from geodata.errors import NotFound
from tests.test_features_api import seed
from tiles.build import build_all
from tiles.catalog import TilesetEntry, resolve_file
from twin.api.errors import UNEXPECTED
from twin.app import create_app
from twin.settings import Settings


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    seed(engine)
    with TestClient(create_app(settings, engine=engine), raise_server_exceptions=False) as c:
        yield c


def _ogc(r: object, status: int) -> str:
    assert r.status_code == status, r.text  # type: ignore[attr-defined]
    body = r.json()  # type: ignore[attr-defined]
    assert set(body) == {"code", "status", "description"} and body["status"] == status
    return str(body["description"])


def test_unexpected_error_is_a_formatted_500_and_logged(
    client: TestClient, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    # a real fault below the service: the catalogue table has gone from under the app
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE datasets RENAME TO datasets_gone"))
    with caplog.at_level(logging.ERROR, logger="twin.api.errors"):
        r = client.get("/api/datasets")
    assert _ogc(r, 500) == UNEXPECTED
    assert r.headers["content-type"] == "application/json"
    assert "Traceback" not in r.text and "datasets" not in r.text  # nothing internal leaks
    (record,) = [rec for rec in caplog.records if rec.name == "twin.api.errors"]
    assert "GET /api/datasets" in record.getMessage() and record.exc_info is not None


def test_bbox_crs_unknown_to_postgis_is_a_400(client: TestClient) -> None:
    # PROJ knows EPSG:9518, PostGIS's spatial_ref_sys does not: once a bare 500
    r = client.get("/collections/buildings/items?bbox=0,0,1,1&bbox-crs=EPSG:9518")
    says = _ogc(r, 400)
    assert "bbox-crs EPSG:9518 is not one the database can reproject from" in says
    assert "the twin's own EPSG:3067" in says  # what is accepted, by name


@pytest.mark.parametrize(
    ("crs", "kind"),
    [
        ("EPSG:5773", "vertical crs"),  # EGM96 height: PROJ knows it, a box has no meaning in it
        ("EPSG:5714", "vertical crs"),  # mean sea level height
        ("EPSG:4978", "geocentric crs"),  # WGS 84 X, Y, Z: spatial_ref_sys has it, PROJ fails
        ("http://www.opengis.net/def/crs/EPSG/0/5773", "vertical crs"),
    ],
)
def test_bbox_crs_without_a_horizontal_part_is_a_400(
    client: TestClient, crs: str, kind: str
) -> None:
    r = client.get("/collections/buildings/items", params={"bbox": "0,0,1,1", "bbox-crs": crs})
    says = _ogc(r, 400)
    assert f"is a {kind}, not a horizontal one" in says and "geographic or projected" in says


@pytest.mark.parametrize(
    "path",
    [
        "/tiles/" + "a" * 300 + "/tileset.json",  # too long for the file system: once a 500
        "/tiles/buildings/" + "b" * 300,
        "/tiles/buildings/content/" + "c" * 300 + ".glb",
        "/tiles/bu%01ildings/tileset.json",
        "/tiles/buildings/tileset.json%00",
        "/tiles/buildings/content/%1b%7f.glb",
        "/tiles/%0d%0a/tileset.json",
    ],
)
def test_odd_tile_paths_are_404_never_500(
    client: TestClient, engine: Engine, settings: Settings, path: str
) -> None:
    build_all(engine, settings.tiles_dir, layer="buildings", workers=1)
    assert "no " in _ogc(client.get(path), 404)


def test_unknown_route_and_method_have_the_ogc_shape(client: TestClient) -> None:
    assert "no such resource '/nothing'" in _ogc(client.get("/nothing"), 404)
    assert "POST is not allowed on '/collections'" in _ogc(client.post("/collections"), 405)


@pytest.mark.parametrize(
    ("url", "status", "says"),
    [
        ("/api/datasets/not-a-number", 400, "dataset_id"),
        ("/api/datasets/99999999999999999999", 404, "no dataset"),
        ("/collections/buildings/items?limit=abc", 400, "limit"),
        ("/collections/buildings/items/99999999999999999999", 404, "no feature"),
        ("/collections/buildings/items?bbox=%00,1,2,3", 400, "is not a number"),
        ("/tiles/bu%00ildings/tileset.json", 404, "no tileset"),
    ],
)
def test_odd_input_gets_a_clear_4xx(client: TestClient, url: str, status: int, says: str) -> None:
    assert says in _ogc(client.get(url), status)


@pytest.mark.parametrize("rel", ["content/a\x00.glb", "x" * 5000, "../../etc/passwd", "build.json"])
def test_tile_file_lookup_refuses_odd_names_with_404(tmp_path: Path, rel: str) -> None:
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "tileset.json").write_text("{}")
    entry = TilesetEntry("t", "T", "buildings", "public", 0, 0, "", tmp_path / "t")
    with pytest.raises(NotFound, match="tileset 't' has no file"):
        resolve_file(entry, rel)


@pytest.mark.parametrize(
    ("bbox", "found"),
    [
        ("-54,0,0,0", 0),  # wholly outside ETRS-TM35FIN's domain: once a 500 from ST_Transform
        ("-100,-80,-60,80", 0),
        ("-100,50,30,70", 3),  # partly outside, the three buildings inside: they are found
    ],
)
def test_bbox_outside_the_working_crs_domain_matches_what_is_inside(
    client: TestClient, bbox: str, found: int
) -> None:
    r = client.get("/collections/buildings/items", params={"bbox": bbox})
    assert r.status_code == 200, r.text
    assert r.json()["numberMatched"] == found
