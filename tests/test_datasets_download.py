"""Dataset downloads (GeoJSON, CSV, GeoPackage) through the one access rule, with the licence
and attribution inside the file, read back with json, csv and pyogrio and compared with the
stored rows; and the catalogue as DCAT-AP JSON-LD, parsed as RDF with rdflib.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyogrio
import pytest
import shapely
from fastapi.testclient import TestClient
from rdflib import Graph, Namespace, URIRef
from rdflib import namespace as ns
from sqlalchemy import Engine, text

from geodata import export
from geodata.access import ANONYMOUS
from geodata.vocab import ROLES
from tests.test_tiles_support import helsinki
from tiles import synthetic
from twin.accounts import create_user
from twin.app import create_app
from twin.settings import Settings

__all__ = ["helsinki"]
SPDX = Namespace("http://spdx.org/licenses/")
#: the rule written out by hand: who may download a dataset of each visibility
DOWNLOADS = {
    "public": {"anonymous", "citizen", "agent", "planner", "operator", "admin"},
    "agent": {"agent", "planner", "operator", "admin"},
    "confidential": set(),  # personal data: never exported, not even for admins
}
SEES = {"public": DOWNLOADS["public"], "agent": DOWNLOADS["agent"], "confidential": {"admin"}}
PRINCIPALS = ["anonymous", *ROLES]
X0, Y0 = synthetic.HELSINKI


def _dataset(conn: Any, source: str, layer: str, visibility: str, **terms: str | None) -> int:
    return int(
        conn.execute(
            text(
                "INSERT INTO datasets (source, layer, title, licence, attribution, visibility, "
                "features) VALUES (:s, :l, :t, :lic, :att, :v, 0) RETURNING id"
            ),
            {
                "s": source,
                "l": layer,
                "t": f"{source} {layer}",
                "v": visibility,
                "lic": terms.get("licence"),
                "att": terms.get("attribution"),
            },
        ).scalar_one()
    )


@pytest.fixture
def ids(helsinki: Engine) -> dict[str, int]:
    """Buildings of a public, an agent and a confidential dataset; a public furniture dataset
    with a camera in it; a networks dataset marked public (the layer is agent-only)."""
    with helsinki.begin() as conn:
        out = {}
        for i, vis in enumerate(DOWNLOADS):
            synthetic.insert_buildings(conn, 5, source=f"b-{vis}", origin=(X0 + 1000 * i, Y0))
            out[vis] = _dataset(
                conn, f"b-{vis}", "buildings", vis, licence="CC-BY-4.0", attribution=f"City {vis}"
            )
        conn.execute(
            text(
                "INSERT INTO furniture (source, source_id, kind, geom, height, attrs) "
                "SELECT 'street', k, k, ST_SetSRID(ST_MakePoint(:x + n, :y, 2), 3067), 3, "
                "jsonb_build_object('note', k || ', \"quoted\"') "
                "FROM unnest(ARRAY['bench', 'camera', 'lamp']) WITH ORDINALITY AS u(k, n)"
            ),
            {"x": X0, "y": Y0 - 500},
        )
        out["furniture"] = _dataset(
            conn,
            "street",
            "furniture",
            "public",
            licence="ODbL-1.0",
            attribution="© OpenStreetMap contributors\nand the city",
        )
        synthetic.insert_network(conn, "water", 3, source="pipes")
        out["pipes"] = _dataset(conn, "pipes", "networks", "public", licence=None)
    return out


@pytest.fixture
def client(helsinki: Engine, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine=helsinki)) as c:
        yield c


@pytest.fixture
def auth(helsinki: Engine) -> dict[str, dict[str, str]]:
    headers = {r: {"Authorization": f"Bearer {create_user(helsinki, f'u-{r}', r)}"} for r in ROLES}
    return {"anonymous": {}, **headers}


def _expected(principal: str, visibility: str) -> int:
    if principal in DOWNLOADS[visibility]:
        return 200
    if principal == "anonymous":
        return 401
    return 403


def test_role_matrix_on_downloads(
    client: TestClient, ids: dict[str, int], auth: dict[str, dict[str, str]]
) -> None:
    got, want = {}, {}
    for visibility in DOWNLOADS:
        for principal in PRINCIPALS:
            for fmt in export.DATASET_FORMATS:
                url = f"/api/datasets/{ids[visibility]}/download?format={fmt}"
                got[visibility, principal, fmt] = client.get(url, headers=auth[principal])
                want[visibility, principal, fmt] = _expected(principal, visibility)
    assert {k: r.status_code for k, r in got.items()} == want
    admin_secret = got["confidential", "admin", "csv"].json()["description"]
    assert admin_secret.endswith("is confidential: confidential data is never exported")
    # a public dataset of an agent-only layer is agent-only data
    pipes = f"/api/datasets/{ids['pipes']}/download"
    assert client.get(pipes).status_code == 401
    assert client.get(pipes, headers=auth["citizen"]).status_code == 403
    assert client.get(pipes, headers=auth["agent"]).status_code == 200
    assert client.get("/api/datasets/999999/download").status_code == 404
    bad = client.get(f"/api/datasets/{ids['public']}/download?format=shp")
    assert bad.status_code == 400
    assert bad.json()["description"] == (
        "format: Input should be 'geojson', 'csv', 'gpkg' or 'json', got 'shp'"
    )


def _stored(engine: Engine, source: str) -> dict[int, dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, source_id, height, levels, ST_AsBinary(ST_Force3DZ(footprint, "
                "base_z)) AS wkb, ST_AsBinary(ST_Transform(ST_Force3DZ(footprint, base_z), "
                "4326)) AS lonlat FROM buildings WHERE source = :s ORDER BY id"
            ),
            {"s": source},
        )
        return {r.id: r._asdict() for r in rows}


def test_geojson_csv_and_gpkg_read_back_as_stored(
    client: TestClient, ids: dict[str, int], helsinki: Engine, tmp_path: Path
) -> None:
    stored = _stored(helsinki, "b-public")
    url = f"/api/datasets/{ids['public']}/download?format="
    # GeoJSON: the terms as members, CRS84 with heights
    r = client.get(url + "geojson")
    assert r.headers["content-type"] == "application/geo+json"
    assert 'filename="b-public-buildings.geojson"' in r.headers["content-disposition"]
    doc = json.loads(r.content)
    assert (doc["licence"], doc["attribution"], doc["source"]) == (
        "CC-BY-4.0",
        "City public",
        "b-public",
    )
    assert [f["id"] for f in doc["features"]] == list(stored)
    for f in doc["features"]:
        row = stored[f["id"]]
        assert f["properties"]["source_id"] == row["source_id"]
        assert f["properties"]["height"] == pytest.approx(row["height"])
        geom = shapely.geometry.shape(f["geometry"])
        assert geom.has_z and geom.equals_exact(shapely.from_wkb(row["lonlat"]), 1e-8)
    # CSV: comment lines with the terms, then rows; geometry as WKT in CRS84
    r = client.get(url + "csv")
    lines = r.text.splitlines()
    assert lines[:3] == [
        "# title: b-public buildings",
        "# source: b-public",
        "# licence: CC-BY-4.0",
    ]
    table = list(csv.DictReader(io.StringIO("\n".join(x for x in lines if not x.startswith("#")))))
    assert [int(t["id"]) for t in table] == list(stored)
    for t in table:
        row = stored[int(t["id"])]
        assert (t["source_id"], float(t["height"])) == (row["source_id"], row["height"])
        assert shapely.from_wkt(t["geometry"]).equals_exact(shapely.from_wkb(row["lonlat"]), 1e-8)
    # GeoPackage: the working CRS, exact geometries, terms in the GeoPackage metadata
    r = client.get(url + "gpkg")
    assert r.headers["content-type"] == "application/geopackage+sqlite3"
    path = tmp_path / "out.gpkg"
    path.write_bytes(r.content)
    info = pyogrio.read_info(path)
    assert info["crs"] == "EPSG:3067" and info["geometry_type"] == "MultiPolygon Z"
    for meta in (info["dataset_metadata"], info["layer_metadata"]):
        assert meta["LICENCE"] == "CC-BY-4.0" and meta["ATTRIBUTION"] == "City public"
    frame = pyogrio.read_dataframe(path)
    assert frame["id"].tolist() == list(stored)
    for _, f in frame.iterrows():
        row = stored[f["id"]]
        assert (f["source_id"], f["height"], f["levels"]) == (
            row["source_id"],
            row["height"],
            row["levels"],
        )
        assert f.geometry.equals_exact(shapely.from_wkb(row["wkb"]), 1e-9)
    assert not list((client.app.state.settings.data_dir / "tmp").iterdir())  # type: ignore[attr-defined]


def test_a_citizen_gets_no_camera_of_a_public_furniture_dataset(
    client: TestClient, ids: dict[str, int], auth: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    url = f"/api/datasets/{ids['furniture']}/download?format="
    features = {w: client.get(url + "geojson", headers=auth[w]).json()["features"] for w in auth}
    kinds = {
        w: sorted(f["properties"]["kind"] for f in features[w]) for w in ("anonymous", "agent")
    }
    assert kinds == {"anonymous": ["bench", "lamp"], "agent": ["bench", "camera", "lamp"]}
    r = client.get(url + "csv", headers=auth["citizen"])
    assert "# attribution: © OpenStreetMap contributors and the city" in r.text.splitlines()
    rows = list(csv.DictReader(x for x in r.text.splitlines() if not x.startswith("#")))
    assert [row["kind"] for row in rows] == ["bench", "lamp"]
    assert json.loads(rows[0]["attrs"]) == {"note": 'bench, "quoted"'}
    path = tmp_path / "f.gpkg"
    path.write_bytes(client.get(url + "gpkg", headers=auth["agent"]).content)
    assert sorted(pyogrio.read_dataframe(path)["kind"]) == ["bench", "camera", "lamp"]


def test_granted_downloads_are_exports_in_the_audit_log(
    client: TestClient, helsinki: Engine, ids: dict[str, int], auth: dict[str, dict[str, str]]
) -> None:
    """Signed-in callers' downloads and downloads of non-public data are exports in the log
    (the feature pages' rule); a refused one is not, nor an anonymous public one."""
    client.get(f"/api/datasets/{ids['agent']}/download?format=csv", headers=auth["agent"])
    client.get(f"/api/datasets/{ids['agent']}/download?format=csv")  # refused: not an export
    client.get(f"/api/datasets/{ids['public']}/download?format=gpkg")  # anonymous, public
    client.get(f"/api/datasets/{ids['public']}/download?format=gpkg", headers=auth["citizen"])
    client.app.state.audit.flush()  # type: ignore[attr-defined]
    with helsinki.connect() as conn:
        logged = conn.execute(
            text("SELECT actor, target FROM audit_log WHERE kind = 'export' ORDER BY id")
        ).all()
    assert [tuple(r) for r in logged] == [
        ("u-agent", f"dataset {ids['agent']} as csv"),
        ("u-citizen", f"dataset {ids['public']} as gpkg"),
    ]


def test_geojson_is_written_in_batches(helsinki: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    with helsinki.begin() as conn:
        synthetic.insert_buildings(conn, 25, source="many")
        dataset_id = _dataset(conn, "many", "buildings", "public")
    monkeypatch.setattr(export.plan, "BATCH", 10)
    with helsinki.connect() as conn:
        plan = export.plan_download(conn, ANONYMOUS, dataset_id, "geojson")
    chunks = list(export.geojson_chunks(helsinki, plan))
    assert len(chunks) == 5  # head, three batches of at most 10 features, tail
    assert len(json.loads(b"".join(chunks))["features"]) == 25


def _graph(client: TestClient, headers: dict[str, str]) -> Graph:
    r = client.get("/api/datasets?f=jsonld", headers=headers)
    assert r.status_code == 200 and r.headers["content-type"] == "application/ld+json"
    return Graph().parse(data=r.text, format="json-ld")


def test_dcat_catalogue_shows_each_caller_what_it_may_see(
    client: TestClient, ids: dict[str, int], auth: dict[str, dict[str, str]]
) -> None:
    base = "http://testserver/api/datasets/"
    for who, listed in (
        ("anonymous", {"public", "furniture", "pipes"}),
        ("agent", {"public", "agent", "furniture", "pipes"}),
        ("admin", set(ids)),
    ):
        g = _graph(client, auth[who])
        (cat,) = g.subjects(ns.RDF.type, ns.DCAT.Catalog)
        assert g.value(cat, ns.DCTERMS.publisher) is not None
        datasets = set(g.objects(cat, ns.DCAT.dataset))
        assert datasets == {URIRef(f"{base}{ids[k]}") for k in listed}
        for ds in datasets:
            for term in (ns.DCTERMS.title, ns.DCTERMS.publisher, ns.DCTERMS.modified):
                assert g.value(ds, term) is not None, (who, ds, term)
            formats = {
                str(g.value(d, ns.DCAT.downloadURL)) for d in g.objects(ds, ns.DCAT.distribution)
            }
            downloadable = ds != URIRef(f"{base}{ids['confidential']}") and not (
                who == "anonymous" and ds == URIRef(f"{base}{ids['pipes']}")
            )
            assert formats == (
                {f"{ds}/download?format={f}" for f in export.DATASET_FORMATS}
                if downloadable
                else set()
            )
            for url in formats:  # every advertised download is one the caller gets
                assert client.get(url, headers=auth[who]).status_code == 200
    g = _graph(client, {})
    public = URIRef(f"{base}{ids['public']}")
    assert g.value(public, ns.DCTERMS.license) == SPDX["CC-BY-4.0"]
    assert str(g.value(g.value(public, ns.DCTERMS.rightsHolder), ns.FOAF.name)) == "City public"
    assert g.value(URIRef(f"{base}{ids['pipes']}"), ns.DCTERMS.license) is None  # none stated
