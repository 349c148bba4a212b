"""No stored row can take a read route down (#14 defect 3).

Rows are written straight with SQL, past the importer's checks, as an old import, a script or
a restore could have left them: coordinates far outside the working CRS's area of use (1e300,
1e12, the other side of the Earth), infinite and NaN heights, a degenerate sliver, a huge box,
attrs that are not an object or hold numbers orjson cannot read. Every read route of the
Features API must still answer 200, for the odd row itself too (its geometry may be null)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Transformer
from sqlalchemy import Engine, text

from geodata.working_crs import set_working_crs
from twin.app import create_app
from twin.settings import Settings

X0, Y0 = 385_000.0, 6_672_000.0  # central Helsinki in EPSG:3067
READ_ROUTES = (
    "/collections",
    "/collections/{c}",
    "/collections/{c}/items?limit=100",
    "/collections/{c}/items?bbox=24.9,60.1,25.0,60.2",
    "/collections/{c}/items?bbox=-180,-90,180,90&limit=100",
)


def _box(x0: float, y0: float, x1: float, y1: float) -> str:
    return shapely.MultiPolygon([shapely.box(x0, y0, x1, y1)]).wkt


#: footprints the buildings table's constraints accept (valid, not empty) but no reprojection
#: to CRS84 can handle, or only barely
ODD_FOOTPRINTS = {
    "1e300": _box(X0, Y0, 1e300, Y0 + 10),
    "light-years": _box(1e200, 1e200, 2e200, 2e200),
    "1e12": _box(X0, Y0, 1e12, Y0 + 10),
    "antipodes": _box(-9e7, -9e7, -8e7, -8e7),
    "sliver": _box(X0, Y0, X0 + 1e-7, Y0 + 1e-7),
    "continent": _box(-5e6, -5e6, 5e6, 1.5e7),
}
#: points (no validity constraint on furniture) with non-finite coordinates
INF, NAN = float("inf"), float("nan")
ODD_POINTS = {
    "inf-z": (X0, Y0, INF),
    "nan-x": (NAN, Y0, 1.0),
    "inf-xy": (INF, -INF, 0.0),
}
#: attrs documents jsonb accepts but a reader may choke on
ODD_ATTRS = {
    "array": "[1, 2, 3]",
    "scalar": '"just text"',
    "huge-number": '{"n": 1' + "0" * 400 + "}",
    "big-int": '{"n": 123456789012345678901234567890}',
    "deep": "[" * 1500 + "]" * 1500,
    "deep-for-writing": "[" * 300 + "]" * 300,
    "null": "null",
}


@pytest.fixture
def odd(engine: Engine) -> dict[str, int]:
    """One good building, then a row per oddity; returns their ids by name."""
    ids: dict[str, int] = {}
    insert_building = text(
        "INSERT INTO buildings (source, source_id, footprint, base_z, height, attrs) "
        "VALUES ('odd', :sid, ST_GeomFromText(:wkt, 3067), :z, 10, CAST(:attrs AS jsonb)) "
        "RETURNING id"
    )
    with engine.begin() as conn:
        set_working_crs(conn, 3067)
        ids["good"] = conn.execute(
            insert_building,
            {"sid": "good", "wkt": _box(X0, Y0, X0 + 20, Y0 + 20), "z": 0, "attrs": "{}"},
        ).scalar_one()
        for name, wkt in ODD_FOOTPRINTS.items():
            ids[name] = conn.execute(
                insert_building, {"sid": name, "wkt": wkt, "z": 0, "attrs": "{}"}
            ).scalar_one()
        for name, doc in ODD_ATTRS.items():
            ids[name] = conn.execute(
                insert_building,
                {"sid": name, "wkt": _box(X0 + 50, Y0, X0 + 60, Y0 + 10), "z": 1, "attrs": doc},
            ).scalar_one()
        for name, xyz in ODD_POINTS.items():
            ids[name] = conn.execute(
                text(
                    "INSERT INTO furniture (source, source_id, kind, geom, height) VALUES "
                    "('odd', :sid, 'bench', ST_GeomFromWKB(:wkb, 3067), 'NaN') RETURNING id"
                ),
                {"sid": name, "wkb": shapely.to_wkb(shapely.Point(*xyz))},
            ).scalar_one()
    return ids


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def test_odd_rows_never_break_a_read_route(client: TestClient, odd: dict[str, int]) -> None:
    for collection in ("buildings", "furniture"):
        for route in READ_ROUTES:
            url = route.format(c=collection)
            r = client.get(url)
            assert r.status_code == 200, (url, r.text)
            json.loads(r.text)  # strict JSON: no NaN or Infinity tokens
    for name, fid in odd.items():
        collection = "furniture" if name in ODD_POINTS else "buildings"
        r = client.get(f"/collections/{collection}/items/{fid}")
        assert r.status_code == 200, (name, r.text)
        json.loads(r.text)


def test_odd_rows_keep_what_can_be_shown(client: TestClient, odd: dict[str, int]) -> None:
    """The good building keeps its geometry and the extent is a real lon/lat box around it;
    a row that cannot be placed on Earth answers with a null geometry, not an error."""
    page = client.get("/collections/buildings/items?limit=100").json()
    by_id = {f["id"]: f for f in page["features"]}
    assert by_id[odd["good"]]["geometry"]["type"] == "MultiPolygon"
    assert by_id[odd["1e300"]]["geometry"] is None
    assert by_id[odd["light-years"]]["geometry"] is None
    assert by_id[odd["sliver"]]["geometry"] is not None
    assert page["numberMatched"] == len(ODD_FOOTPRINTS) + len(ODD_ATTRS) + 1
    lon0, lat0, lon1, lat1 = client.get("/collections/buildings").json()["extent"]["spatial"][
        "bbox"
    ][0]
    lon, lat = Transformer.from_crs(3067, 4326, always_xy=True).transform(X0 + 10, Y0 + 10)
    assert lon0 < lon < lon1 and lat0 < lat < lat1  # the good building is inside
    assert lon1 - lon0 < 1 and lat1 - lat0 < 1  # and the unplaceable rows are not
    props = {f["id"]: f["properties"] for f in page["features"]}
    assert props[odd["array"]]["attrs"] == [1, 2, 3]
    assert props[odd["scalar"]]["attrs"] == "just text"
    assert props[odd["big-int"]]["n"] == pytest.approx(1.2345678901234568e29)  # as orjson reads it
    assert props[odd["good"]]["height"] == 10
