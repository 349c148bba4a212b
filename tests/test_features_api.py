"""OGC API - Features against a real PostGIS: GeoJSON, CRS84 reprojection, bbox, paging, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pyproj import Transformer
from sqlalchemy import Engine, text

from geodata import feature_params, features
from geodata.access import Principal
from geodata.errors import InputError, NotFound
from geodata.layers import LAYERS
from geodata.working_crs import set_working_crs
from twin.accounts import create_user
from twin.app import create_app
from twin.settings import Settings

X0, Y0 = 385_000.0, 6_672_000.0  # central Helsinki in EPSG:3067
TO_CRS84 = Transformer.from_crs("EPSG:3067", "EPSG:4326", always_xy=True)


def lonlat(x: float, y: float) -> tuple[float, float]:
    return TO_CRS84.transform(x, y)


AGENT = Principal("anna", "agent")


def seed(engine: Engine) -> dict[str, list[int]]:
    """Three baseline buildings 100 m apart, one scenario building, two buried pipes, furniture."""
    ids: dict[str, list[int]] = {"buildings": [], "segments": [], "furniture": []}
    with engine.begin() as conn:
        set_working_crs(conn, 3067)
        for i in range(3):
            ids["buildings"].append(
                conn.execute(
                    text(
                        "INSERT INTO buildings (source, source_id, footprint, base_z, height, "
                        "levels, usage, attrs) VALUES ('test', :sid, ST_Multi(ST_SetSRID("
                        "ST_MakeEnvelope(:x, :y, :x + 20, :y + 20), 3067)), :z, 12, 4, "
                        "'residential', CAST(:attrs AS jsonb)) RETURNING id"
                    ),
                    {
                        "sid": f"b{i}",
                        "x": X0 + i * 100,
                        "y": Y0,
                        "z": 10.0 + i,
                        "attrs": json.dumps({"colour": "red", "height": 999}),
                    },
                ).scalar_one()
            )
        scenario = conn.execute(
            text("INSERT INTO scenarios (slug, name) VALUES ('tower', 'Tower') RETURNING id")
        ).scalar_one()
        ids["scenario_building"] = [
            conn.execute(
                text(
                    "INSERT INTO buildings (source, source_id, footprint, height, scenario_id) "
                    "VALUES ('test', 's1', ST_Multi(ST_SetSRID(ST_MakeEnvelope(:x, :y, :x + 20, "
                    ":y + 20), 3067)), 60, :s) RETURNING id"
                ),
                {"x": X0 + 50, "y": Y0 + 50, "s": scenario},
            ).scalar_one()
        ]
        for i, network in enumerate(("water", "gas")):
            ids["segments"].append(
                conn.execute(
                    text(
                        "INSERT INTO network_segments (source, source_id, network, geom, depth_m, "
                        "diameter_mm) VALUES ('test', :sid, :n, ST_SetSRID(ST_MakeLine("
                        "ST_MakePoint(:x, :y, -1.5), ST_MakePoint(:x + 50, :y + 10, -1.75)), 3067),"
                        " 1.5, 160) RETURNING id"
                    ),
                    {"sid": f"n{i}", "n": network, "x": X0, "y": Y0 + 30 + i * 5},
                ).scalar_one()
            )
        for i, kind in enumerate(("bench", "camera")):
            ids["furniture"].append(
                conn.execute(
                    text(
                        "INSERT INTO furniture (source, source_id, kind, geom) VALUES ('test', "
                        ":sid, :k, ST_SetSRID(ST_MakePoint(:x, :y, 2), 3067)) RETURNING id"
                    ),
                    {"sid": f"f{i}", "k": kind, "x": X0 + 5 + i, "y": Y0 - 10},
                ).scalar_one()
            )
    return ids


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture
def ids(engine: Engine) -> dict[str, list[int]]:
    return seed(engine)


def rels(doc: dict[str, Any]) -> dict[str, str]:
    return {link["rel"]: link["href"] for link in doc["links"]}


# -- landing, conformance, collections --------------------------------------------------------
def test_landing_page_json_has_ogc_links(client: TestClient) -> None:
    for kwargs in ({"headers": {"Accept": "application/json"}}, {"params": {"f": "json"}}, {}):
        r = client.get("/", **kwargs)  # type: ignore[arg-type]
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/json")
        links = rels(r.json())
        assert {"self", "service-desc", "conformance", "data"} <= set(links)
        assert links["service-desc"].endswith("/openapi.json")
        assert links["data"].endswith("/collections")
    assert client.get(rels(r.json())["service-desc"]).status_code == 200


def test_landing_page_html_for_browsers(client: TestClient) -> None:
    r = client.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert client.get("/?f=xml").status_code == 400


def test_conformance_lists_core_geojson_oas30(client: TestClient) -> None:
    classes = client.get("/conformance").json()["conformsTo"]
    for c in ("core", "geojson", "oas30"):
        assert f"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/{c}" in classes


def test_collection_metadata_has_extent_crs_and_links(
    client: TestClient, ids: dict[str, list[int]]
) -> None:
    doc = client.get("/collections/buildings").json()
    assert doc["id"] == "buildings" and doc["itemType"] == "feature"
    assert doc["crs"][0] == "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
    assert "http://www.opengis.net/def/crs/OGC/0/CRS84h" in doc["crs"]
    assert rels(doc)["items"].endswith("/collections/buildings/items")
    ((minx, miny, maxx, maxy),) = doc["extent"]["spatial"]["bbox"]
    # the baseline box (X0, Y0)-(X0 + 220, Y0 + 20) reprojected by pyproj: grid north is not
    # true north here, so the extremes come from different corners
    corners = [lonlat(x, y) for x in (X0, X0 + 220) for y in (Y0, Y0 + 20)]
    lons, lats = [c[0] for c in corners], [c[1] for c in corners]
    assert [minx, miny, maxx, maxy] == pytest.approx(
        [min(lons), min(lats), max(lons), max(lats)], abs=1e-8
    )


def test_empty_collection_has_no_extent(client: TestClient, ids: dict[str, list[int]]) -> None:
    doc = client.get("/collections/pois").json()
    assert "extent" not in doc
    page = client.get("/collections/pois/items").json()
    assert page["numberMatched"] == 0 and page["features"] == []


def test_twin_without_crs_serves_empty_collections(client: TestClient) -> None:
    listing = client.get("/collections").json()
    assert all("extent" not in c for c in listing["collections"])
    page = client.get("/collections/buildings/items").json()
    assert page["numberMatched"] == 0 and page["numberReturned"] == 0
    assert client.get("/collections/buildings/items/1").status_code == 404


# -- items ------------------------------------------------------------------------------------
def test_items_are_geojson_in_crs84_with_heights(
    client: TestClient, ids: dict[str, list[int]]
) -> None:
    r = client.get("/collections/buildings/items")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    assert fc["type"] == "FeatureCollection"
    assert fc["numberMatched"] == 3 and fc["numberReturned"] == 3  # scenario row left out
    assert "timeStamp" in fc
    assert [f["id"] for f in fc["features"]] == ids["buildings"]
    first = fc["features"][0]
    assert first["type"] == "Feature"
    assert first["geometry"]["type"] == "MultiPolygon"
    ring = first["geometry"]["coordinates"][0][0]
    assert all(len(p) == 3 and p[2] == 10.0 for p in ring)  # footprint at base_z
    lon, lat = lonlat(X0, Y0)
    assert (ring[0][0], ring[0][1]) == (pytest.approx(lon, abs=1e-8), pytest.approx(lat, abs=1e-8))
    props = first["properties"]
    assert props["height"] == 12 and props["levels"] == 4 and props["usage"] == "residential"
    assert props["colour"] == "red"  # attrs merged, but a column wins over attrs "height"
    assert props["source_id"] == "b0"


def test_network_segments_keep_3d_coordinates(engine: Engine, ids: dict[str, list[int]]) -> None:
    with engine.connect() as conn:
        page = features.query_items(conn=conn, layer=LAYERS["networks"], viewer=AGENT)
        water = features.query_items(conn=conn, layer=LAYERS["network-water"], viewer=AGENT)
    assert page.number_matched == 2
    coords = page.features[0]["geometry"]["coordinates"]
    assert [c[2] for c in coords] == [-1.5, -1.75]
    lon, lat = lonlat(X0 + 50, Y0 + 40)
    assert coords[1][0] == pytest.approx(lon, abs=1e-8)
    assert coords[1][1] == pytest.approx(lat, abs=1e-8)
    assert page.features[0]["properties"]["depth_m"] == 1.5
    assert [f["properties"]["network"] for f in water.features] == ["water"]


def test_get_one_item(client: TestClient, ids: dict[str, list[int]]) -> None:
    fid = ids["buildings"][1]
    doc = client.get(f"/collections/buildings/items/{fid}").json()
    assert doc["type"] == "Feature" and doc["id"] == fid
    assert doc["properties"]["base_z"] == 11.0
    assert rels(doc)["collection"].endswith("/collections/buildings")
    assert rels(doc)["self"].endswith(f"/collections/buildings/items/{fid}")


def test_bbox_filters_in_crs84_and_other_crs(client: TestClient, ids: dict[str, list[int]]) -> None:
    lo = lonlat(X0 - 5, Y0 - 5)
    hi = lonlat(X0 + 105, Y0 + 25)
    bbox = f"{lo[0]},{lo[1]},{hi[0]},{hi[1]}"
    fc = client.get("/collections/buildings/items", params={"bbox": bbox}).json()
    assert [f["id"] for f in fc["features"]] == ids["buildings"][:2]
    assert fc["numberMatched"] == 2
    # the same box in the working CRS, and in EPSG:4326 (lat,lon axis order)
    fc = client.get(
        "/collections/buildings/items",
        params={"bbox": f"{X0 + 150},{Y0},{X0 + 250},{Y0 + 10}", "bbox-crs": "EPSG:3067"},
    ).json()
    assert [f["id"] for f in fc["features"]] == ids["buildings"][2:]
    fc = client.get(
        "/collections/buildings/items",
        params={
            "bbox": f"{lo[1]},{lo[0]},{hi[1]},{hi[0]}",
            "bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/4326",
        },
    ).json()
    assert fc["numberMatched"] == 2
    far = client.get("/collections/buildings/items", params={"bbox": "2.2,48.8,2.4,48.9"}).json()
    assert far["numberMatched"] == 0 and far["features"] == []


def test_paging_links_walk_every_feature(client: TestClient, ids: dict[str, list[int]]) -> None:
    fc = client.get("/collections/buildings/items", params={"limit": 1}).json()
    assert fc["numberReturned"] == 1 and fc["numberMatched"] == 3
    assert "prev" not in rels(fc)
    seen = [f["id"] for f in fc["features"]]
    while "next" in rels(fc):
        fc = client.get(rels(fc)["next"]).json()
        seen += [f["id"] for f in fc["features"]]
    assert seen == ids["buildings"]
    assert "limit=1" in rels(fc)["prev"] and "offset=1" in rels(fc)["prev"]
    middle = client.get("/collections/buildings/items?limit=1&offset=1").json()
    assert "offset=2" in rels(middle)["next"] and "offset=0" in rels(middle)["prev"]
    beyond = client.get("/collections/buildings/items?offset=10").json()
    assert beyond["numberReturned"] == 0 and beyond["numberMatched"] == 3


def test_paging_keeps_bbox_and_clamps_limit(client: TestClient, ids: dict[str, list[int]]) -> None:
    lo, hi = lonlat(X0 - 5, Y0 - 5), lonlat(X0 + 300, Y0 + 25)
    bbox = f"{lo[0]},{lo[1]},{hi[0]},{hi[1]}"
    fc = client.get("/collections/buildings/items", params={"bbox": bbox, "limit": 2}).json()
    nxt = client.get(rels(fc)["next"]).json()
    assert [f["id"] for f in nxt["features"]] == ids["buildings"][2:]
    big = client.get("/collections/buildings/items", params={"limit": 50_000, "offset": 1}).json()
    assert "limit=10000" in rels(big)["prev"]


def test_scenario_rows_and_other_layers_rows_are_not_found(
    client: TestClient, ids: dict[str, list[int]]
) -> None:
    r = client.get(f"/collections/buildings/items/{ids['scenario_building'][0]}")
    assert r.status_code == 404
    camera = ids["furniture"][1]
    assert client.get(f"/collections/furniture/items/{camera}").status_code == 404
    fc = client.get("/collections/furniture/items").json()
    assert [f["properties"]["kind"] for f in fc["features"]] == ["bench"]


# -- errors -----------------------------------------------------------------------------------
def test_unknown_collection_and_feature_are_404_with_message(
    client: TestClient, ids: dict[str, list[int]]
) -> None:
    r = client.get("/collections/nope/items")
    assert r.status_code == 404
    assert "no collection 'nope'" in r.json()["description"]
    assert "/collections" in r.json()["description"]
    assert "networks" not in r.json()["description"]  # agent-only names are not listed
    r = client.get("/collections/buildings/items/999999")
    assert r.status_code == 404
    assert "no feature '999999' in collection 'buildings'" in r.json()["description"]
    assert client.get("/collections/buildings/items/abc").status_code == 404
    assert client.get(f"/collections/buildings/items/{10**30}").status_code == 404


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"bbox": "1,2,3"}, "bbox needs 4 numbers"),
        ({"bbox": "25,60,24,61"}, "not below and left"),
        ({"bbox": "24,60,abc,61"}, "'abc' is not a number"),
        ({"bbox": "60,24,61,95"}, "latitude 95.0 is outside -90..90"),
        ({"bbox": "24,60,25,61", "bbox-crs": "EPSG:999999"}, "unknown bbox-crs"),
        ({"limit": "0"}, "limit must be between 1 and 10000"),
        ({"limit": "-3"}, "limit must be between 1 and 10000"),
        ({"offset": "-1"}, "offset must be 0 or more"),
        ({"limit": "ten"}, "limit"),
        ({"bbbox": "1,2,3,4"}, "unknown query parameter 'bbbox'"),
        ({"f": "xml"}, "f: Input should be 'json', 'geojson', 'gpkg', 'csv', 'cityjson' or"),
    ],
)
def test_bad_parameters_are_400_with_message(
    client: TestClient, params: dict[str, str], message: str
) -> None:
    r = client.get("/collections/buildings/items", params=params)
    assert r.status_code == 400
    assert message in r.json()["description"]


def test_service_validates_without_http() -> None:
    assert feature_params.parse_bbox(None) is None
    box = feature_params.parse_bbox("60.1,24.9,60.2,25.0", crs="EPSG:4326")
    assert box == feature_params.BBox(24.9, 60.1, 25.0, 60.2, 4326)
    assert feature_params.parse_bbox([1, 2, 0, 3, 4, 10]) == feature_params.BBox(1, 2, 3, 4, 4326)
    assert feature_params.check_paging(limit=None, offset=None) == (10, 0)
    assert feature_params.check_paging(limit=10_001, offset=5) == (10_000, 5)
    with pytest.raises(InputError, match="offset"):
        feature_params.check_paging(limit=1, offset=-1)
    with pytest.raises(InputError, match=r"longitude 190\.0 is outside -180\.\.180"):
        feature_params.parse_bbox("190,10,200,20")


def test_get_item_service_names_the_collection(engine: Engine, ids: dict[str, list[int]]) -> None:
    with engine.connect() as conn, pytest.raises(NotFound, match="collection 'pois'"):
        features.get_item(
            conn=conn, layer=LAYERS["pois"], viewer=AGENT, feature_id=ids["buildings"][0]
        )


def test_agent_sees_network_items_over_http(
    client: TestClient, engine: Engine, ids: dict[str, list[int]]
) -> None:
    token = create_user(engine, "pipe-fitter", "agent")
    r = client.get("/collections/network-gas/items", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    (feature,) = r.json()["features"]
    assert feature["id"] == ids["segments"][1]
    assert feature["geometry"]["type"] == "LineString"
    assert feature["geometry"]["coordinates"][0][2] == -1.5


def test_landing_page_serves_built_viewer_without_hiding_its_files(tmp_path: Path) -> None:
    from fastapi import FastAPI
    from fastapi.staticfiles import StaticFiles

    from twin.api import errors
    from twin.api import features as features_api

    (tmp_path / "index.html").write_text("<!doctype html><title>viewer</title>")
    (tmp_path / "app.js").write_text("console.log('viewer')")
    app = FastAPI()
    errors.install(app)
    app.include_router(features_api.router)
    app.mount("/", StaticFiles(directory=tmp_path, html=True), name="viewer")
    with TestClient(app) as c:
        page = c.get("/", headers={"Accept": "text/html,*/*;q=0.8"})
        assert page.text == "<!doctype html><title>viewer</title>"
        assert c.get("/?f=html").text == page.text
        doc = c.get("/").json()
        assert rels(doc)["alternate"].endswith("/?f=html")
        assert c.get("/app.js").text == "console.log('viewer')"
