"""OGC API - Features Parts 2 and 3 over a world of known buildings: every CQL2 operator
(text and JSON) against the same condition written as SQL, queryables, sortby and properties,
the output CRS in its own axis order, and filters that try to be SQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Transformer
from sqlalchemy import Engine, text

from geodata.cql import parse_filter, to_sql
from geodata.errors import InputError
from geodata.layers import LAYERS
from geodata.queryables import queryables
from geodata.working_crs import get_working_crs, set_working_crs
from twin.app import create_app
from twin.settings import Settings as TwinSettings

X0, Y0 = 385_000.0, 6_672_000.0
USAGES = ["residential", "office", "retail", None]
TO_LONLAT = Transformer.from_crs(3067, 4326, always_xy=True)
EPSG = "http://www.opengis.net/def/crs/EPSG/0/{}"


@pytest.fixture
def client(settings: TwinSettings, engine: Engine) -> Iterator[TestClient]:
    with engine.begin() as conn:
        set_working_crs(conn, 3067)
        for i in range(24):
            x, y = X0 + 40 * (i % 6), Y0 + 40 * (i // 6)
            conn.execute(
                text(
                    "INSERT INTO buildings (source, source_id, footprint, height, levels, usage, "
                    "name, year_built) VALUES ('t', :sid, ST_Multi(ST_MakeEnvelope(:x, :y, "
                    ":x + 20, :y + 20, 3067)), :h, :lv, :u, :n, :yb)"
                ),
                {
                    "sid": f"b{i}",
                    "x": x,
                    "y": y,
                    "h": 3.0 + 2 * i,
                    "lv": i % 7 or None,
                    "u": USAGES[i % 4],
                    "n": f"{'Tower' if i % 5 == 0 else 'House'} {i}",
                    "yb": 1900 + 5 * i,
                },
            )
        conn.execute(
            text("UPDATE buildings SET updated_at = '2020-01-01T00:00:00Z' WHERE height < 20")
        )
    with TestClient(create_app(settings, engine=engine)) as c:
        yield c


def _ids(c: TestClient, **params: Any) -> list[int]:
    got = c.get("/collections/buildings/items", params={"limit": 1000, **params})
    assert got.status_code == 200, got.text
    doc = got.json()
    assert doc["numberMatched"] == len(doc["features"])
    return sorted(f["id"] for f in doc["features"])


def _sql(engine: Engine, where: str) -> list[int]:
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT id FROM buildings WHERE {where} ORDER BY id"))
        return [r[0] for r in rows]


LON, LAT = TO_LONLAT.transform(X0 + 50, Y0 + 50)
CASES = [
    ("height > 20", "height > 20"),
    ("height >= 21 AND height <= 31", "height BETWEEN 21 AND 31"),
    ("height BETWEEN 10 AND 20", "height BETWEEN 10 AND 20"),
    ("height NOT BETWEEN 10 AND 20", "NOT height BETWEEN 10 AND 20"),
    ("usage = 'office'", "usage = 'office'"),
    ("usage <> 'office'", "usage <> 'office'"),
    ("usage IN ('office', 'retail')", "usage IN ('office', 'retail')"),
    ("usage NOT IN ('office', 'retail')", "usage NOT IN ('office', 'retail')"),
    ("usage IS NULL", "usage IS NULL"),
    ("usage IS NOT NULL AND levels IS NULL", "usage IS NOT NULL AND levels IS NULL"),
    ("name LIKE 'Tower%'", "name LIKE 'Tower%'"),
    ("name LIKE 'House _'", "name LIKE 'House _'"),
    ("NOT (name LIKE 'Tower%') OR height < 5", "NOT name LIKE 'Tower%' OR height < 5"),
    ("CASEI(name) LIKE 'tower%'", "lower(name) LIKE 'tower%'"),
    ("levels * 3 > height", "levels * 3 > height"),
    ("year_built < 1950 AND usage = 'residential'", "year_built < 1950 AND usage = 'residential'"),
    ("id > 0", "TRUE"),
    (
        f"S_INTERSECTS(geometry, POINT({LON} {LAT}))",
        f"ST_Intersects(footprint, ST_SetSRID(ST_MakePoint({X0 + 50}, {Y0 + 50}), 3067))",
    ),
    (
        f"S_INTERSECTS(geometry, BBOX({LON - 0.0005}, {LAT - 0.0005}, {LON + 0.0005}, "
        f"{LAT + 0.0005}))",
        "ST_Intersects(footprint, ST_Transform(ST_MakeEnvelope("
        f"{LON - 0.0005}, {LAT - 0.0005}, {LON + 0.0005}, {LAT + 0.0005}, 4326), 3067))",
    ),
    (
        f"S_WITHIN(geometry, POLYGON(({LON - 0.01} {LAT - 0.01}, {LON + 0.01} {LAT - 0.01}, "
        f"{LON + 0.01} {LAT + 0.01}, {LON - 0.01} {LAT + 0.01}, {LON - 0.01} {LAT - 0.01})))",
        "ST_Within(footprint, ST_Transform(ST_MakeEnvelope("
        f"{LON - 0.01}, {LAT - 0.01}, {LON + 0.01}, {LAT + 0.01}, 4326), 3067))",
    ),
    ("updated_at T_BEFORE TIMESTAMP('2021-01-01T00:00:00Z')", "updated_at < '2021-01-01Z'"),
    ("updated_at T_AFTER TIMESTAMP('2021-01-01T00:00:00Z')", "updated_at > '2021-01-01Z'"),
    (
        "updated_at T_DURING INTERVAL('2019-06-01T00:00:00Z','2020-06-01T00:00:00Z')",
        "updated_at > '2019-06-01Z' AND updated_at < '2020-06-01Z'",
    ),
]


@pytest.mark.parametrize(("cql", "sql"), CASES, ids=[c[0][:40] for c in CASES])
def test_every_operator_matches_its_sql(
    client: TestClient, engine: Engine, cql: str, sql: str
) -> None:
    want = _sql(engine, sql)
    assert _ids(client, filter=cql) == want
    assert _ids(client, filter=cql, **{"filter-lang": "cql2-text"}) == want


def test_cql2_json_and_filter_crs(client: TestClient, engine: Engine) -> None:
    doc = {
        "op": "and",
        "args": [
            {"op": ">", "args": [{"property": "height"}, 10]},
            {"op": "in", "args": [{"property": "usage"}, ["office", "retail"]]},
        ],
    }
    want = _sql(engine, "height > 10 AND usage IN ('office', 'retail')")
    assert _ids(client, filter=json.dumps(doc), **{"filter-lang": "cql2-json"}) == want
    # the same point in the working CRS, and in EPSG:4326's own lat,lon order
    point = f"S_INTERSECTS(geometry, POINT({X0 + 50} {Y0 + 50}))"
    here = _sql(
        engine, f"ST_Intersects(footprint, ST_SetSRID(ST_MakePoint({X0 + 50}, {Y0 + 50}), 3067))"
    )
    assert len(here) == 1
    assert _ids(client, filter=point, **{"filter-crs": EPSG.format(3067)}) == here
    latlon = f"S_INTERSECTS(geometry, POINT({LAT} {LON}))"
    assert _ids(client, filter=latlon, **{"filter-crs": EPSG.format(4326)}) == here


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        ("colour = 'red'", "colour"),
        ("height >", "malformed"),
        ("height = 'tall'", "compares"),
        ("name > 3", "compares"),
        ("usage LIKE 3", "LIKE"),
        ("height = 1; DROP TABLE buildings", "malformed"),
        ("height = 1 OR 1=1 --", "malformed"),
        ("name = 'x OR 1=1; DROP TABLE buildings'", None),
        ('"height; DELETE FROM buildings" > 1', "unknown property"),
        ("S_INTERSECTS(height, POINT(0 0))", "geometry"),
        ("attrs = 'x'", "attrs"),
    ],
)
def test_bad_filters_are_400_and_change_nothing(
    client: TestClient, engine: Engine, bad: str, named: str | None
) -> None:
    got = client.get("/collections/buildings/items", params={"filter": bad})
    if named is None:  # a quote inside a string literal is a value, never SQL
        assert got.status_code == 200 and got.json()["numberMatched"] == 0
    else:
        assert got.status_code == 400, got.text
        assert named in got.json()["description"]
    assert len(_sql(engine, "TRUE")) == 24


def test_queryables_and_conformance(client: TestClient) -> None:
    q = client.get("/collections/buildings/queryables")
    assert q.status_code == 200 and q.headers["content-type"] == "application/schema+json"
    props = q.json()["properties"]
    assert props["geometry"]["x-ogc-role"] == "primary-geometry"
    assert props["height"] == {"type": "number"} and props["name"] == {"type": "string"}
    assert props["levels"] == {"type": "integer"} and "attrs" not in props
    assert client.get("/collections/networks/queryables").status_code == 401
    classes = client.get("/conformance").json()["conformsTo"]
    for c in (
        "ogcapi-features-3/1.0/conf/filter",
        "ogcapi-features-3/1.0/conf/features-filter",
        "ogcapi-features-3/1.0/conf/queryables",
        "cql2/1.0/conf/cql2-text",
        "cql2/1.0/conf/cql2-json",
        "ogcapi-features-2/1.0/conf/crs",
    ):
        assert f"http://www.opengis.net/spec/{c}" in classes


def test_sortby_and_properties(client: TestClient, engine: Engine) -> None:
    got = client.get(
        "/collections/buildings/items",
        params={"sortby": "-height", "limit": 3, "properties": "name,height"},
    ).json()
    heights = [f["properties"]["height"] for f in got["features"]]
    assert heights == [49.0, 47.0, 45.0]
    assert all(set(f["properties"]) == {"name", "height"} for f in got["features"])
    by_usage = client.get(
        "/collections/buildings/items", params={"sortby": "usage,-year_built", "limit": 30}
    ).json()["features"]
    keys = [(f["properties"]["usage"] is None, f["properties"]["usage"] or "",
             -f["properties"]["year_built"]) for f in by_usage]  # fmt: skip
    assert keys == sorted(keys)
    bad = client.get("/collections/buildings/items", params={"sortby": "geometry"})
    assert bad.status_code == 400 and "sortby takes" in bad.json()["description"]


def test_output_crs_in_its_axis_order(client: TestClient, engine: Engine) -> None:
    doc = client.get("/collections/buildings").json()
    assert doc["storageCrs"] == EPSG.format(3067) and EPSG.format(3067) in doc["crs"]
    first = _sql(engine, "source_id = 'b0'")[0]
    url = f"/collections/buildings/items/{first}"
    default = client.get(url)
    assert default.headers["Content-Crs"] == "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"
    native = client.get(url, params={"crs": EPSG.format(3067)})
    assert native.headers["Content-Crs"] == f"<{EPSG.format(3067)}>"
    xs = {tuple(p[:2]) for p in native.json()["geometry"]["coordinates"][0][0]}
    assert (X0, Y0) in xs and (X0 + 20, Y0 + 20) in xs
    lon, lat = TO_LONLAT.transform(X0, Y0)
    latlon = client.get(url, params={"crs": EPSG.format(4326)}).json()["geometry"]
    assert any(p[0] == pytest.approx(lat) and p[1] == pytest.approx(lon)
               for p in latlon["coordinates"][0][0])  # fmt: skip
    page = client.get("/collections/buildings/items", params={"crs": EPSG.format(3067)})
    assert page.headers["Content-Crs"] == f"<{EPSG.format(3067)}>"
    refused = client.get(url, params={"crs": EPSG.format(2154)})
    assert refused.status_code == 400 and "not offered" in refused.json()["description"]


_NAMES = ["height", "levels", "name", "usage", "year_built", "id", "updated_at", "nope"]
_LITERALS = st.one_of(
    st.integers(-(2**40), 2**40).map(str),
    st.floats(-1e6, 1e6, allow_nan=False).map(repr),
    st.text(st.characters(codec="utf-8", exclude_characters="'\x00"), max_size=8).map(
        lambda t: f"'{t}'"
    ),
    st.sampled_from(["TRUE", "NULL", "TIMESTAMP('2020-01-01T00:00:00Z')", "POINT(24.9 60.1)"]),
)
_ATOMS = st.builds(
    lambda a, op, b: f"{a} {op} {b}",
    st.sampled_from(_NAMES),
    st.sampled_from(["=", "<>", "<", ">=", "LIKE", "IS NULL --", "+ 1 >", "T_AFTER"]),
    _LITERALS,
)
_FILTERS = st.recursive(
    _ATOMS,
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"({a}) AND ({b})", inner, inner),
        st.builds(lambda a, b: f"{a} OR {b}", inner, inner),
        st.builds(lambda a: f"NOT ({a})", inner),
    ),
    max_leaves=4,
)


@given(text_filter=st.one_of(_FILTERS, st.text(max_size=40)))
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
def test_any_filter_is_sql_postgis_runs_or_a_400(module_engine: Engine, text_filter: str) -> None:
    """Whatever the text, the filter is refused with an InputError or becomes SQL that the
    database runs: never a database error (a 500)."""
    with module_engine.begin() as conn:
        if get_working_crs(conn) is None:
            set_working_crs(conn, 3067)
    try:
        flt = to_sql(parse_filter(text_filter, None), queryables(LAYERS["buildings"]), srid=3067)
    except InputError:
        return
    with module_engine.connect() as conn:
        conn.execute(text(f"SELECT count(*) FROM buildings WHERE {flt.sql}"), flt.params)
