"""Every kind of bad input is refused with one clear message naming the file (and the feature
where there is one), and leaves the database exactly as it was: row counts of every table,
twin_meta (the working CRS) and the geometry columns' SRIDs.

Each case runs on an empty twin (a refused first import must not fix the working CRS) and on
a twin that already holds an import (nothing of it may change)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
import shapely
from sqlalchemy import Engine

from geodata.errors import ImportFailed, InputError
from geodata.importers import run_import
from tests.import_data import (
    HELSINKI_LONLAT,
    buildings_gdf,
    feature,
    project,
    rect,
    snapshot,
    write_geojson,
)

X, Y = project(*HELSINKI_LONLAT, 3067)
FIN = "urn:ogc:def:crs:EPSG::3067"


@dataclass
class Case:
    path: Path
    match: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: the file the message must name (the mapping file for mapping errors)
    named: Path | None = None
    error: type[Exception] = ImportFailed


def _good(tmp_path: Path, name: str = "good.geojson") -> Path:
    return write_geojson(
        tmp_path / name,
        [
            feature(rect(X, Y), gml_id="a", height=10),
            feature(rect(X + 40, Y), gml_id="b", height=12),
        ],
        crs=FIN,
    )


def _with_second(tmp_path: Path, name: str, geom: Any, crs: str | None = FIN) -> Path:
    """A GeoJSON whose feature 1 carries ``geom`` (feature 0 is fine)."""
    feats = [feature(rect(X, Y), height=10), feature(None, height=12)]
    feats[1]["geometry"] = (
        shapely.geometry.mapping(geom) if isinstance(geom, shapely.Geometry) else geom
    )
    return write_geojson(tmp_path / name, feats, crs=crs)


def missing_file(t: Path) -> Case:
    return Case(t / "nowhere.geojson", r"nowhere\.geojson: no such file")


def unreadable_gpkg(t: Path) -> Case:
    path = t / "garbage.gpkg"
    path.write_bytes(b"\x00not a geopackage at all\xff" * 50)
    return Case(path, r"garbage\.gpkg: GDAL cannot read this file")


def unknown_file_type(t: Path) -> Case:
    path = t / "notes.txt"
    path.write_text("x,y\n1,2\n")
    return Case(path, r"notes\.txt: unknown file type; supported: GeoJSON")


def truncated_geojson(t: Path) -> Case:
    path = _good(t, "cut.geojson")
    text = path.read_text()
    path.write_text(text[: len(text) * 2 // 3])
    return Case(path, r"cut\.geojson: GDAL cannot read this file .*complete")


def truncated_gpkg(t: Path) -> Case:
    gdf = buildings_gdf(3067, (X, Y), 3000)
    path = t / "cut.gpkg"
    gdf.to_file(path, driver="GPKG")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return Case(path, r"cut\.gpkg: (GDAL cannot read this file|reading stopped)")


def unknown_crs_option(t: Path) -> Case:
    return Case(
        _good(t),
        r"unknown CRS 'EPSG:999999'",
        {"crs": "EPSG:999999"},
        named=Path("EPSG:999999"),
        error=InputError,
    )


def unknown_crs_in_file(t: Path) -> Case:
    path = _with_second(
        t, "unknown_crs.geojson", rect(X + 40, Y), crs="urn:ogc:def:crs:EPSG::999999"
    )
    return Case(
        path,
        r"unknown_crs\.geojson: the file's crs member names an unknown CRS "
        r".*--crs EPSG:XXXX",
    )


def missing_crs(t: Path) -> Case:
    buildings_gdf(3067, (X, Y), 2).to_file(t / "noprj.shp")
    (t / "noprj.prj").unlink()
    return Case(
        t / "noprj.shp",
        r"noprj\.shp: the file does not say its coordinate reference "
        r"system: give it with --crs EPSG:XXXX",
    )


def metres_labelled_degrees(t: Path) -> Case:
    path = _with_second(t, "metres.geojson", rect(X + 40, Y), crs=None)
    return Case(
        path,
        r"metres\.geojson, feature 0: the file says EPSG:4326 \(degrees\) but its "
        r"coordinates are not degrees",
    )


def degrees_labelled_metres(t: Path) -> Case:
    gdf = buildings_gdf(4326, HELSINKI_LONLAT, 2).set_crs(3067, allow_override=True)
    gdf.to_file(t / "degrees.gpkg", driver="GPKG")
    return Case(
        t / "degrees.gpkg",
        r"degrees\.gpkg, feature 1: the file says EPSG:3067 \(metres\) but "
        r"its coordinates look like degrees",
    )


def empty_geometry(t: Path) -> Case:
    path = _with_second(t, "empty.geojson", {"type": "Polygon", "coordinates": []})
    return Case(path, r"empty\.geojson, feature 1: empty geometry")


def null_geometry(t: Path) -> Case:
    path = _with_second(t, "null.geojson", None)
    return Case(path, r"null\.geojson, feature 1: no geometry \(1 features lack one\)")


def irreparable_geometry(t: Path) -> Case:
    flat = shapely.Polygon([(X, Y), (X + 10, Y), (X + 20, Y), (X, Y)])  # collapsed to a line
    path = _with_second(t, "flat.geojson", flat)
    return Case(path, r"flat\.geojson, feature 1: invalid geometry that cannot be repaired")


def wrong_geometry_type(t: Path) -> Case:
    path = _with_second(t, "points.geojson", shapely.Point(X, Y))
    return Case(
        path,
        r"points\.geojson, feature 1: a Point cannot go into layer buildings "
        r"\(it takes Polygon or MultiPolygon.*choose the right --layer",
    )


def lines_as_furniture(t: Path) -> Case:
    path = _good(t, "blocks.geojson")
    return Case(
        path,
        r"blocks\.geojson, feature 0: a Polygon cannot go into layer furniture",
        {"layer": "furniture"},
    )


def _mapping(t: Path, name: str, text: str) -> Path:
    path = t / name
    path.write_text(text)
    return path


def mapping_bad_json(t: Path) -> Case:
    m = _mapping(t, "map.json", '{"fields": {"height": "H"')
    return Case(_good(t), r"map\.json: not valid JSON", {"mapping": m}, named=m)


def mapping_bad_toml(t: Path) -> Case:
    m = _mapping(t, "map.toml", "[fields\nheight = H\n")
    return Case(_good(t), r"map\.toml: not valid TOML", {"mapping": m}, named=m)


def mapping_unknown_section(t: Path) -> Case:
    m = _mapping(t, "map.json", json.dumps({"colours": {"roof": "red"}}))
    return Case(
        _good(t),
        r"map\.json: bad mapping file \(colours: Extra inputs .*expected "
        r"sections \[fields\]",
        {"mapping": m},
        named=m,
    )


def mapping_unknown_column(t: Path) -> Case:
    m = _mapping(t, "map.toml", '[fields]\ncolour = "COUL"\n')
    return Case(
        _good(t),
        r"map\.toml: \[fields\] names colour, not columns of layer buildings",
        {"mapping": m},
        named=m,
    )


def mapping_missing_attribute(t: Path) -> Case:
    m = _mapping(t, "map.toml", '[fields]\nheight = "HAUT_M"\n')
    return Case(
        _good(t),
        r"good\.geojson: the mapping says height = 'HAUT_M' but the file has "
        r"no such attribute; it has gml_id, height",
        {"mapping": m},
    )


def mapping_missing_id_field(t: Path) -> Case:
    m = _mapping(t, "map.toml", '[id]\nfield = "ID_BAT"\n')
    return Case(
        _good(t),
        r"good\.geojson: the mapping's id field 'ID_BAT' is not an attribute",
        {"mapping": m},
    )


def mapping_unreadable(t: Path) -> Case:
    m = t / "absent.toml"
    return Case(_good(t), r"absent\.toml: cannot read the mapping file", {"mapping": m}, named=m)


def nothing_of_the_layer(t: Path) -> Case:
    path = write_geojson(t / "nothing.geojson", [], crs=FIN)
    return Case(
        path,
        r"nothing\.geojson: nothing to import into layer buildings: check the "
        r"file and the --layer",
    )


def refused_by_the_database(t: Path) -> Case:
    gdf = gpd.GeoDataFrame(
        {"Z_MIN_SOL": [12.0, 99999.0]}, geometry=[rect(X, Y), rect(X + 40, Y)], crs="EPSG:3067"
    )
    gdf.to_file(t / "sky.gpkg", driver="GPKG")
    return Case(
        t / "sky.gpkg",
        r"sky\.gpkg: the database refused a feature .*nothing was "
        r"written",
    )


CASES: list[Callable[[Path], Case]] = [
    missing_file,
    unreadable_gpkg,
    unknown_file_type,
    truncated_geojson,
    truncated_gpkg,
    unknown_crs_option,
    unknown_crs_in_file,
    missing_crs,
    metres_labelled_degrees,
    degrees_labelled_metres,
    empty_geometry,
    null_geometry,
    irreparable_geometry,
    wrong_geometry_type,
    lines_as_furniture,
    mapping_bad_json,
    mapping_bad_toml,
    mapping_unknown_section,
    mapping_unknown_column,
    mapping_missing_attribute,
    mapping_missing_id_field,
    mapping_unreadable,
    nothing_of_the_layer,
    refused_by_the_database,
]


@pytest.mark.parametrize("seeded", [False, True], ids=["empty-twin", "seeded-twin"])
@pytest.mark.parametrize("make", CASES, ids=[c.__name__ for c in CASES])
def test_bad_input_is_refused_and_nothing_is_written(
    engine: Engine, tmp_path: Path, make: Callable[[Path], Case], seeded: bool
) -> None:
    if seeded:
        seed_dir = tmp_path / "seed"
        seed_dir.mkdir()
        assert run_import(engine, _good(seed_dir, "seed.geojson"), layer="buildings").inserted
    case = make(tmp_path)
    before = snapshot(engine)
    kwargs = {"layer": "buildings", **case.kwargs}

    with pytest.raises(case.error, match=case.match) as err:
        run_import(engine, case.path, **kwargs)

    assert (case.named or case.path).name in str(err.value)
    assert snapshot(engine) == before


@pytest.mark.parametrize("seeded", [False, True], ids=["empty-twin", "seeded-twin"])
def test_bad_feature_in_a_later_batch_rolls_back_the_earlier_ones(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seeded: bool
) -> None:
    """Batches already streamed into the stage (COPY open) are abandoned cleanly."""
    if seeded:
        run_import(engine, _good(tmp_path, "seed.geojson"), layer="buildings")
    monkeypatch.setattr("geodata.importers.pipeline.BATCH", 2)
    feats = [feature(rect(X + 40 * i, Y), gml_id=f"f{i}", height=10) for i in range(7)]
    feats[5]["geometry"] = None
    path = write_geojson(tmp_path / "late.geojson", feats, crs=FIN)
    before = snapshot(engine)

    with pytest.raises(ImportFailed, match=r"late\.geojson, feature 5: no geometry"):
        run_import(engine, path, layer="buildings")

    assert snapshot(engine) == before
    feats[5]["geometry"] = shapely.geometry.mapping(rect(X, Y + 50))
    write_geojson(path, feats, crs=FIN)
    assert run_import(engine, path, layer="buildings").inserted == 7
