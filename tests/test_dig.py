"""Digging safety on a hand-built scene: a 10 × 2 m trench and pipes at known distances.

Known answers (DT-DICT bands): a gas pipe 1.0 m from the trench conflicts in class B
(1.5 m) and not in class A rigid (0.40 m); a flexible class-A cable 0.45 m away conflicts
(0.50 m) where a rigid one would not; class C follows --class-c-radius; a sewer 5 m deep
under a 1.5 m trench is out of reach in depth. Networks are imported through the real
import (GeoJSON in EPSG:3067), the dig given in lon/lat as RFC 7946 says."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from geodata.access import Principal
from geodata.errors import ImportFailed, InputError
from geodata.importers import run_import
from geodata.vocab import material_rigidity
from tests.import_data import feature, write_geojson
from twin.accounts import create_user
from twin.analysis.base import AnalysisContext
from twin.analysis.dig.rule import band_m, gap
from twin.analysis.registry import get_analysis
from twin.analysis.runner import parse_params, run_analysis
from twin.app import create_app
from twin.cli import app as cli_app
from twin.settings import Settings

X0, Y0 = 385_000.0, 6_672_000.0
TRENCH = shapely.box(X0, Y0, X0 + 10, Y0 + 2)


def _line(y: float) -> shapely.LineString:
    return shapely.LineString([(X0 - 5, Y0 + y), (X0 + 15, Y0 + y)])


def _to_lonlat(geom: shapely.Geometry) -> dict[str, Any]:
    from geodata.crs import transformer

    t = transformer(3067, 4326)
    out = shapely.transform(geom, lambda xy: __import__("numpy").column_stack(t.transform(*xy.T)))
    return json.loads(shapely.to_geojson(out))


@pytest.fixture
def scene(engine: Engine, tmp_path: Path) -> Engine:
    segs = [
        # 1.0 m north of the trench's edge (y = 2): the known answer
        feature(_line(3.0), "gas-b", network="gas", material="steel", location_class="B",
                depth=1.0, operator="GasCo"),
        feature(_line(3.0), "gas-a", network="gas", material="steel", location_class="A",
                depth=1.0, operator="GasCo"),
        # 0.45 m south: flexible class A (0.50 m band) conflicts, rigid class A does not
        feature(_line(-0.45), "tel-a", network="telecom", material="PE", location_class="a",
                depth=0.6),
        feature(_line(-0.45), "water-a", network="water", material="cast iron",
                location_class="A", depth=1.0),
        # 2.5 m north: class C, inside the default 3 m radius, outside a 2 m one
        feature(_line(4.5), "water-c", network="water", material="PVC", depth=1.2),
        # right under the trench, but 5 m deep: 3.5 m below its bottom
        feature(_line(1.0), "sewer-deep", network="wastewater", material="concrete",
                location_class="B", depth=5.0),
    ]  # fmt: skip
    nodes = [
        feature(shapely.Point(X0 + 5, Y0 + 1), "valve-1", network="gas", kind="valve",
                location_class="B", depth=1.0),
    ]  # fmt: skip
    run_import(engine, write_geojson(tmp_path / "n.geojson", segs, "EPSG:3067"), layer="networks")
    run_import(
        engine, write_geojson(tmp_path / "v.geojson", nodes, "EPSG:3067"), layer="network-nodes"
    )
    return engine


def _run(engine: Engine, settings: Settings, **params: Any) -> dict[str, Any]:
    analysis = get_analysis("dig")
    ctx = AnalysisContext(engine, settings, Principal("tester", "admin"))
    raw = {"polygon": _to_lonlat(TRENCH), "depth": 1.5, **params}
    return run_analysis(analysis, ctx, parse_params(analysis, raw)).stored.data


def test_bands_are_dt_dicts() -> None:
    assert band_m("A", "steel", 3.0) == 0.40
    assert band_m("A", "PE", 3.0) == 0.50
    assert band_m("A", None, 3.0) == 0.50  # unknown material: the stricter (wider) band
    assert band_m("B", "steel", 3.0) == 1.5
    assert band_m("C", "steel", 2.2) == 2.2
    assert material_rigidity("Ductile-Iron") == "rigid"
    assert material_rigidity("pre-insulated steel") == "rigid"
    assert material_rigidity("PVC") == "flexible"
    # the known answer, on the rule alone
    assert gap(1.0, None, 1.0, 1.5, band_m("B", "steel", 3.0)).conflicts
    assert not gap(1.0, None, 1.0, 1.5, band_m("A", "steel", 3.0)).conflicts
    # in depth: 1 m horizontally and 1 m below the bottom is √2 away
    assert gap(1.0, None, 2.5, 1.5, 1.5).distance_m == pytest.approx(2**0.5)


def test_dig_finds_what_its_bands_reach(scene: Engine, settings: Settings) -> None:
    doc = _run(scene, settings)
    found = {c["source_id"]: c for c in doc["conflicts"]}
    assert set(found) == {"gas-b", "tel-a", "water-c", "valve-1"}, found.keys()
    gas = found["gas-b"]
    assert gas["distance_m"] == pytest.approx(1.0, abs=1e-3)
    assert gas["investigations"] is True and gas["location_class"] == "B"
    assert (gas["network"], gas["operator"], gas["material"]) == ("gas", "GasCo", "steel")
    assert gas["depth_m"] == 1.0 and gas["diameter_mm"] is None
    assert found["tel-a"]["investigations"] is False  # telecom is not a sensitive network
    assert found["tel-a"]["location_class"] == "A"  # "a" imported as A
    assert found["water-c"]["investigations"] is False and found["water-c"]["band_m"] == 3.0
    assert found["valve-1"]["distance_m"] == 0.0 and found["valve-1"]["investigations"]
    assert doc["investigations_needed"] == 2
    assert [c["distance_m"] for c in doc["conflicts"]] == sorted(
        c["distance_m"] for c in doc["conflicts"]
    )
    narrower = _run(scene, settings, class_c_radius=2.0)
    assert "water-c" not in {c["source_id"] for c in narrower["conflicts"]}


def test_a_bad_polygon_is_named(scene: Engine, settings: Settings) -> None:
    bowtie = shapely.Polygon([(X0, Y0), (X0 + 10, Y0 + 2), (X0 + 10, Y0), (X0, Y0 + 2)])
    with pytest.raises(InputError, match="Self-intersection"):
        _run(scene, settings, polygon=_to_lonlat(bowtie))
    with pytest.raises(InputError, match="lon/lat"):
        _run(scene, settings, polygon=json.loads(shapely.to_geojson(TRENCH)))
    with pytest.raises(InputError, match="Polygon"):
        _run(scene, settings, polygon={"type": "Point", "coordinates": [24.9, 60.1]})


def test_an_unknown_location_class_is_refused(engine: Engine, tmp_path: Path) -> None:
    bad = [feature(_line(0.0), "x", network="gas", location_class="D", depth=1.0)]
    with pytest.raises(ImportFailed, match="location_class 'D'"):
        run_import(
            engine, write_geojson(tmp_path / "b.geojson", bad, "EPSG:3067"), layer="networks"
        )


def test_cli_writes_the_reports(
    scene: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWIN_DATABASE_URL", db_url)
    monkeypatch.setenv("TWIN_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("COLUMNS", "500")
    poly = tmp_path / "dig.geojson"
    poly.write_text(
        json.dumps({"type": "Feature", "properties": {}, "geometry": _to_lonlat(TRENCH)})
    )
    html, pdf = tmp_path / "r.html", tmp_path / "r.pdf"
    args = ["analyse", "dig", "--polygon", str(poly), "--depth", "1.5", "--json"]
    got = CliRunner().invoke(cli_app, [*args, "--html", str(html), "--pdf", str(pdf)])
    assert got.exit_code == 0, got.output
    doc = json.loads(got.stdout)
    assert doc["count"] == 4 and set(doc["files"]) == {"dig.html", "dig.pdf"}
    assert pdf.read_bytes().startswith(b"%PDF") and b"gas-b" in html.read_bytes()
    assert b"complementary investigations" in html.read_bytes()


@pytest.fixture
def client(scene: Engine, settings: Settings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    tokens = {r: create_user(scene, f"u-{r}", r) for r in ("citizen", "agent")}
    with TestClient(create_app(settings, engine=scene)) as c:
        yield c, tokens


def test_dig_over_http_is_for_agents(client: tuple[TestClient, dict[str, str]]) -> None:
    c, tokens = client
    body = {"polygon": _to_lonlat(TRENCH), "depth": 1.5}
    assert c.post("/api/analysis/dig", json=body).status_code == 401
    citizen = {"Authorization": f"Bearer {tokens['citizen']}"}
    assert c.post("/api/analysis/dig", json=body, headers=citizen).status_code == 403
    agent = {"Authorization": f"Bearer {tokens['agent']}"}
    got = c.post("/api/analysis/dig", json=body, headers=agent)
    assert got.status_code == 200, got.text
    doc = got.json()
    assert {x["source_id"] for x in doc["conflicts"]} == {"gas-b", "tel-a", "water-c", "valve-1"}
    assert c.get(doc["files"]["dig.pdf"], headers=agent).content.startswith(b"%PDF")
    bad = c.post("/api/analysis/dig", json={**body, "depth": -1}, headers=agent)
    assert bad.status_code == 400 and "depth" in bad.text
