"""The one coordinate rule of an import (#14 defect 3): coordinates must be finite, heights
must be heights, and every point must lie in the area of use of the file's CRS and of the
twin's working CRS (margin included). A file that breaks it is refused naming the feature, a
sample coordinate and the EPSG codes, with nothing written; a CityJSON transform is checked
field by field (optional in CityJSON 1.0 only)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from geodata.errors import ImportFailed
from geodata.importers import run_import
from geodata.importers.base import ImportOptions
from geodata.working_crs import set_working_crs
from tests.import_data import (
    DELFT_RD,
    HELSINKI_LONLAT,
    CityModel,
    feature,
    project,
    rect,
    rows,
    snapshot,
    write_geojson,
)
from twin.app import create_app
from twin.settings import Settings

X, Y = project(*HELSINKI_LONLAT, 3067)
RX, RY = DELFT_RD


def _city(tmp_path: Path, name: str = "delft.city.json", **changes: Any) -> Path:
    """A one-house CityJSON 2.0 in RD New + NAP, with header members replaced or removed
    (a value of ``...`` removes the member)."""
    m = CityModel(scale=0.001, translate=(RX, RY, 0.0))
    m.house("NL.1", RX, RY, 1.0)
    path = m.write(tmp_path / name)
    doc = json.loads(path.read_text())
    for key, value in changes.items():
        if value is ...:
            doc.pop(key)
        else:
            doc[key] = value
    path.write_text(json.dumps(doc))
    return path


def _houses(tmp_path: Path, name: str, x: float, y: float, crs: str) -> Path:
    return write_geojson(
        tmp_path / name,
        [feature(rect(x, y), gml_id="a", height=10), feature(rect(x + 40, y), gml_id="b")],
        crs=crs,
    )


def _refused(engine: Engine, path: Path, match: str, **kwargs: Any) -> str:
    before = snapshot(engine)
    with pytest.raises(ImportFailed, match=match) as err:
        run_import(engine, path, layer="buildings", **kwargs)
    assert path.name in str(err.value)
    assert snapshot(engine) == before
    return str(err.value)


def test_an_absurd_cityjson_scale_is_refused_and_the_api_keeps_answering(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """The file of #14: scale 1e300 in x and y imported with success, then /collections
    answered 500 to everyone."""
    path = _city(tmp_path, transform={"scale": [1e300, 1e300, 0.001], "translate": [RX, RY, 0]})
    message = _refused(engine, path, r"delft\.city\.json, CityObject 'NL\.1': \(")
    assert "EPSG:28992" in message and "area of use" in message
    with TestClient(create_app(settings)) as client:
        for url in ("/collections", "/collections/buildings", "/collections/buildings/items"):
            assert client.get(url).status_code == 200


def test_a_scale_that_overflows_is_a_non_finite_coordinate(engine: Engine, tmp_path: Path) -> None:
    path = _city(tmp_path, transform={"scale": [1e305, 1e305, 1e-3], "translate": [0, 0, 0]})
    _refused(
        engine,
        path,
        r"delft\.city\.json: vertex 1 \[10000\.0, .* times transform\.scale .* is not a finite",
    )


def test_absurd_heights_are_refused(engine: Engine, tmp_path: Path) -> None:
    path = _city(tmp_path, transform={"scale": [1e-3, 1e-3, 1e30], "translate": [RX, RY, 0]})
    _refused(engine, path, r"CityObject 'NL\.1': height .* is not a height in metres")


def test_metres_labelled_with_the_wrong_crs_name_both_codes(engine: Engine, tmp_path: Path) -> None:
    """EPSG:3067 metres (Helsinki) labelled EPSG:2154 land in western France, which Lambert-93
    covers: only the twin's working CRS (EPSG:3067, Finland) tells them apart."""
    with engine.begin() as conn:
        set_working_crs(conn, 3067)
    path = _houses(tmp_path, "mislabelled.geojson", X, Y, "urn:ogc:def:crs:EPSG::2154")
    message = _refused(
        engine,
        path,
        r"mislabelled\.geojson, feature 0: \(3857\d\d\.\d+, 667\d+\.?\d*\) in EPSG:2154 is "
        r"lon -1\.\d+, lat 47\.\d+, outside the area of use of the twin's working CRS: "
        r"EPSG:3067 covers Finland",
    )
    assert "is EPSG:2154 really the file's CRS?" in message and "--crs EPSG:XXXX" in message


def test_metres_outside_the_files_own_crs_are_refused_on_an_empty_twin(
    engine: Engine, tmp_path: Path
) -> None:
    """RD New metres (Delft) labelled EPSG:3067 lie near the equator: refused before they can
    fix the working CRS."""
    path = _houses(tmp_path, "delft-as-finland.geojson", RX, RY, "urn:ogc:def:crs:EPSG::3067")
    _refused(
        engine,
        path,
        r"delft-as-finland\.geojson, feature 0: .* in EPSG:3067 is lon .*, lat .*, outside the "
        r"area of use of the file's CRS: EPSG:3067 covers Finland",
    )
    assert rows(engine, "SELECT count(*) FROM twin_meta WHERE key = 'crs'") == [(0,)]


def test_data_beyond_a_utm_band_but_near_it_is_kept(engine: Engine, tmp_path: Path) -> None:
    """Bergen (5.3°E) in ETRS89 / UTM 33N (12-18°E), as Norway's national data is published:
    the margin keeps it."""
    bx, by = project(5.32, 60.39, 25833)
    report = run_import(
        engine, _houses(tmp_path, "bergen.geojson", bx, by, "EPSG:25833"), layer="buildings"
    )
    assert report.inserted == 2


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"transform": ...}, r'no "transform": CityJSON 2\.0 requires one'),
        ({"transform": [1, 2, 3]}, r'"transform" must be an object .* not list \[1, 2, 3\]'),
        ({"transform": {"translate": [0, 0, 0]}}, r"transform\.scale must be 3 positive numbers"),
        (
            {"transform": {"scale": [0, 0, 0], "translate": [0, 0, 0]}},
            r"transform\.scale must be 3 positive numbers, found \[0, 0, 0\]",
        ),
        (
            {"transform": {"scale": [1, 1, 1], "translate": ["a", 0, 0]}},
            r"transform\.translate must be 3 finite numbers, found \['a', 0, 0\]",
        ),
        (
            {"transform": {"scale": [1, 1], "translate": [0, 0, 0]}},
            r"transform\.scale must be 3 positive numbers, found \[1, 1\]",
        ),
    ],
    ids=["missing", "a-list", "no-scale", "zero-scale", "text-translate", "two-numbers"],
)
def test_a_bad_transform_names_the_field(
    engine: Engine, tmp_path: Path, changes: dict[str, Any], match: str
) -> None:
    _refused(engine, _city(tmp_path, **changes), r"delft\.city\.json: " + match)


def test_a_cityjson_1_0_without_transform_has_real_coordinates(
    engine: Engine, tmp_path: Path
) -> None:
    m = CityModel(scale=1.0, translate=(0.0, 0.0, 0.0))
    m.house("NL.1", RX, RY, 1.0)
    path = m.write(tmp_path / "old.city.json", version="1.0")
    doc = json.loads(path.read_text())
    del doc["transform"]
    path.write_text(json.dumps(doc))

    assert run_import(engine, path, layer="buildings").inserted == 1
    ((x, y),) = rows(engine, "SELECT ST_XMin(footprint), ST_YMin(footprint) FROM buildings")
    assert (x, y) == pytest.approx((RX, RY))


def test_a_feature_with_too_many_coordinates_is_refused(engine: Engine, tmp_path: Path) -> None:
    """One huge polygon would weigh on every tile and page holding it: refused, named, with
    the setting that raises the limit; nothing is written. The same file passes under the
    default limit."""
    circle = shapely.Point(X, Y).buffer(15, quad_segs=500)  # 2,001 coordinates
    path = write_geojson(
        tmp_path / "round.geojson",
        [feature(rect(X + 40, Y), gml_id="small"), feature(circle, gml_id="round")],
        crs="urn:ogc:def:crs:EPSG::3067",
    )
    options = ImportOptions.from_settings(Settings(_env_file=None), max_vertices=1_000)
    message = _refused(
        engine, path, r"round\.geojson, feature 1: 2,001 coordinates", options=options
    )
    assert "1,000" in message and "TWIN_MAX_VERTICES" in message
    assert run_import(engine, path, layer="buildings").imported == 2


def test_a_batch_is_judged_by_its_box_and_else_feature_by_feature() -> None:
    """:func:`geodata.crs.box_in_area`: a box inside the areas of use passes whole; a box
    reaching out of them does not (the caller then checks each feature, naming the one out,
    as the refusals above show), nor does one in the wrong units or not finite."""
    from geodata.crs import box_in_area

    inside = (X - 5000, Y - 5000, X + 5000, Y + 5000)
    assert box_in_area(inside, src=3067, dst=3067)
    assert box_in_area(inside, src=3067, dst=None)
    # one corner 4,000 km east (Siberia): outside EPSG:3067's Finland, even with its margin
    assert not box_in_area((X, Y, X + 4_000_000, Y + 1000), src=3067, dst=3067)
    # Helsinki's metres read as degrees, and degrees read as metres
    assert not box_in_area(inside, src=4326, dst=3067)
    assert not box_in_area((24.9, 60.1, 25.0, 60.2), src=3067, dst=3067)
    assert box_in_area((24.9, 60.1, 25.0, 60.2), src=4326, dst=3067)
    # inside Finland's area but outside the working CRS's (Delft's RD New)
    assert not box_in_area(inside, src=3067, dst=28992)
    assert not box_in_area((X, Y, float("inf"), Y + 1), src=3067, dst=3067)
