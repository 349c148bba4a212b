"""CityJSON 1.1/2.0 and CityJSONSeq into a real PostGIS: transform, compound CRS, footprints
from ground surfaces, LoD2 surfaces kept, BuildingParts merged, heights from the LoD, and
every bad file refused with its name (and line) and nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from sqlalchemy import Engine

from geodata.errors import ImportFailed
from geodata.importers import run_import
from geodata.working_crs import set_working_crs
from tests.import_data import DELFT_RD, LYON_LONLAT, CityModel, project, rows, snapshot

X, Y = DELFT_RD


def delft_model() -> CityModel:
    """Three buildings and a tree in Delft (RD New + NAP), stored as integers with a transform:
    a gabled house with measured height, one with a taller BuildingPart, a LoD1-only block."""
    m = CityModel(scale=0.001, translate=(X, Y, 0.0))
    m.house(
        "NL.IMBAG.1",
        X,
        Y,
        1.0,
        attributes={
            "measuredHeight": 9.5,
            "roofType": "gabled",
            "yearOfConstruction": 1932,
            "function": "residential",
            "storeysAboveGround": 2,
            "colour": "red",
        },
    )
    m.house("NL.IMBAG.2", X + 20, Y, 0.5, attributes={"storeysAboveGround": 3})
    m.with_part("NL.IMBAG.2", "NL.IMBAG.2-part", X + 30, Y, 0.5, ridge=14.0)
    m.lod1_only("NL.IMBAG.3", X + 60, Y, 2.0, 10, 10, 7.0)
    m.tree("tree-1", X + 50, Y + 10)
    return m


def buildings(engine: Engine) -> dict[str, tuple]:
    return {
        r[0]: r[1:]
        for r in rows(
            engine,
            "SELECT source_id, base_z, height, height_source, levels, roof_type, usage, "
            "year_built, attrs, ST_AsBinary(footprint), ST_NumGeometries(lod2), "
            "ST_ZMin(lod2), ST_ZMax(lod2), ST_SRID(footprint) FROM buildings",
        )
    }


def check_delft(engine: Engine, report) -> None:  # type: ignore[no-untyped-def]
    assert report.reader == "cityjson"
    assert (report.source_crs, report.working_crs) == (28992, 28992)  # 7415 -> horizontal part
    assert (report.read, report.inserted) == (3, 3)
    assert report.skipped == {"not a building: SolitaryVegetationObject": 1}
    assert report.height_sources == {"measured": 1, "lod": 2}
    got = buildings(engine)
    assert set(got) == {"NL.IMBAG.1", "NL.IMBAG.2", "NL.IMBAG.3"}

    base, height, src, levels, roof, usage, year, attrs, fp, n, zmin, zmax, srid = got["NL.IMBAG.1"]
    assert (base, height, src, levels, roof, usage, year) == (
        1.0,
        9.5,
        "measured",
        2,
        "gabled",
        "residential",
        1932,
    )
    assert attrs == {"colour": "red"}
    # footprint = the LoD0 surface (lowest LoD), transform applied exactly
    assert (
        shapely.from_wkb(bytes(fp))
        .normalize()
        .equals_exact(shapely.MultiPolygon([shapely.box(X, Y, X + 10, Y + 8)]).normalize(), 1e-6)
    )
    assert (n, zmin, zmax, srid) == (7, 1.0, 10.0, 28992)  # all 7 LoD2 surfaces, real z

    base, height, src, levels, *_, fp, n, zmin, zmax, _ = got["NL.IMBAG.2"]
    # the BuildingPart is merged: footprint spans both, lod2 has both houses' surfaces
    assert shapely.from_wkb(bytes(fp)).area == pytest.approx(160.0)
    assert shapely.from_wkb(bytes(fp)).bounds == (X + 20, Y, X + 40, Y + 8)
    assert (base, height, src, levels) == (0.5, 14.0, "lod", 3)
    assert (n, zmin, zmax) == (14, 0.5, 14.5)

    base, height, src, *_, fp, n, _, _, _ = got["NL.IMBAG.3"]
    # LoD1 only: footprint = bottom face, no lod2, height = the block's
    assert shapely.from_wkb(bytes(fp)).bounds == (X + 60, Y, X + 70, Y + 10)
    assert (base, height, src, n) == (2.0, 7.0, "lod", None)


@pytest.mark.parametrize("version", ["2.0", "1.1"])
def test_cityjson_file_with_transform_and_compound_crs(
    engine: Engine, tmp_path: Path, version: str
) -> None:
    path = delft_model().write(tmp_path / "delft.city.json", version=version)
    report = run_import(engine, path, layer="buildings")
    check_delft(engine, report)


def test_cityjson_detected_in_a_plain_json_file(engine: Engine, tmp_path: Path) -> None:
    path = delft_model().write(tmp_path / "delft.json")
    check_delft(engine, run_import(engine, path, layer="buildings"))


def test_cityjsonseq_gives_the_same_buildings(engine: Engine, tmp_path: Path) -> None:
    path = delft_model().write_seq(tmp_path / "delft.city.jsonl")
    assert len(path.read_text().splitlines()) == 5  # header + 3 buildings + tree
    check_delft(engine, run_import(engine, path, layer="buildings"))


def test_cityjsonseq_streams_in_batches(engine: Engine, tmp_path: Path) -> None:
    from geodata.importers.cityjson import CityJSONReader

    m = CityModel(translate=(X, Y, 0.0))
    for i in range(25):
        m.house(f"b{i}", X + 15 * i, Y, lod0=False, lod1=False)
    path = m.write_seq(tmp_path / "many.jsonl")
    reader = CityJSONReader(path, "buildings")
    reader.open()
    assert reader.count() == 25
    sizes = [len(b) for b in reader.batches(10)]
    assert sizes == [10, 10, 5]
    report = run_import(engine, path, layer="buildings")
    assert report.inserted == 25 and report.height_sources == {"lod": 25}


def test_cityjson_in_another_crs_is_reprojected_with_its_z_kept(
    engine: Engine, tmp_path: Path
) -> None:
    """A CC46 (EPSG:3946) model into a Lambert-93 twin: x/y as pyproj says, z untouched."""
    with engine.begin() as conn:
        set_working_crs(conn, 2154)
    x, y = project(*LYON_LONLAT, 3946)
    m = CityModel(scale=0.001, translate=(x, y, 170.0))
    m.house("lyon-1", x, y, 172.0, lod0=False, lod1=False)
    path = m.write(
        tmp_path / "lyon.city.json",
        version="1.1",
        crs="https://www.opengis.net/def/crs/EPSG/0/3946",
    )

    report = run_import(engine, path, layer="buildings")

    assert (report.source_crs, report.working_crs) == (3946, 2154)
    ((fp, lod2, base, height),) = rows(
        engine, "SELECT ST_AsBinary(footprint), ST_AsBinary(lod2), base_z, height FROM buildings"
    )
    to93 = Transformer.from_crs(3946, 2154, always_xy=True)
    footprint = shapely.from_wkb(bytes(fp))
    want = shapely.transform(
        shapely.box(x, y, x + 10, y + 8),
        lambda c: np.column_stack(to93.transform(c[:, 0], c[:, 1])),
    )
    assert footprint.normalize().equals_exact(shapely.MultiPolygon([want]).normalize(), 0.01)
    coords = shapely.get_coordinates(shapely.from_wkb(bytes(lod2)), include_z=True)
    assert coords[:, 2].min() == pytest.approx(172.0) and coords[:, 2].max() == pytest.approx(181.0)
    assert (base, height) == (pytest.approx(172.0), pytest.approx(9.0))


def test_cityjson_reimport_is_idempotent(engine: Engine, tmp_path: Path) -> None:
    path = delft_model().write_seq(tmp_path / "delft.jsonl")
    run_import(engine, path, layer="buildings")
    again = run_import(engine, path, layer="buildings")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)


def test_cityjson_without_crs_needs_the_crs_option(engine: Engine, tmp_path: Path) -> None:
    path = delft_model().write(tmp_path / "nocrs.city.json", crs=None)
    before = snapshot(engine)
    with pytest.raises(ImportFailed, match=r"nocrs\.city\.json.*--crs EPSG:XXXX"):
        run_import(engine, path, layer="buildings")
    assert snapshot(engine) == before
    report = run_import(engine, path, layer="buildings", crs="EPSG:28992")
    assert report.inserted == 3


# -- bad files ---------------------------------------------------------------------------------
def _truncated(tmp_path: Path) -> tuple[Path, str]:
    path = delft_model().write(tmp_path / "cut.city.json")
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    return path, r"cut\.city\.json: not valid JSON .*truncated"


def _truncated_seq(tmp_path: Path) -> tuple[Path, str]:
    path = delft_model().write_seq(tmp_path / "cut.city.jsonl")
    text = path.read_text()
    path.write_text(text[: len(text) - 40])
    return path, r"cut\.city\.jsonl, line 5: not valid JSON .*truncated"


def _no_vertices(tmp_path: Path) -> tuple[Path, str]:
    path = delft_model().write(tmp_path / "novertices.city.json")
    doc = json.loads(path.read_text())
    del doc["vertices"]
    path.write_text(json.dumps(doc))
    return path, r'novertices\.city\.json: no "vertices" array'


def _seq_feature_without_vertices(tmp_path: Path) -> tuple[Path, str]:
    path = delft_model().write_seq(tmp_path / "novertices.jsonl")
    lines = path.read_text().splitlines()
    feat = json.loads(lines[2])
    del feat["vertices"]
    lines[2] = json.dumps(feat)
    path.write_text("\n".join(lines))
    return path, r'novertices\.jsonl, line 3: the feature has no "CityObjects" or no "vertices"'


def _vertex_out_of_range(tmp_path: Path) -> tuple[Path, str]:
    m = delft_model()
    m.vertices = m.vertices[:-5]  # the last building's vertices are gone
    path = m.write(tmp_path / "short.city.json")
    return path, r"short\.city\.json, CityObject 'NL\.IMBAG\.3': a geometry uses vertex \d+"


def _unknown_version(tmp_path: Path) -> tuple[Path, str]:
    path = delft_model().write(tmp_path / "future.city.json", version="3.0")
    return path, r"future\.city\.json: CityJSON version '3\.0' is not supported .*cjio"


def _unknown_crs(tmp_path: Path) -> tuple[Path, str]:
    path = delft_model().write(
        tmp_path / "badcrs.city.json", crs="https://www.opengis.net/def/crs/EPSG/0/999999"
    )
    return path, r"badcrs\.city\.json: metadata\.referenceSystem .* unknown CRS.*--crs"


def _not_cityjson_header(tmp_path: Path) -> tuple[Path, str]:
    path = delft_model().write_seq(tmp_path / "noheader.jsonl")
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[1:]))
    return path, r"noheader\.jsonl, line 1: expected the CityJSON header"


def _only_trees(tmp_path: Path) -> tuple[Path, str]:
    m = CityModel(translate=(X, Y, 0.0))
    m.tree("t1", X, Y)
    m.tree("t2", X + 5, Y)
    path = m.write(tmp_path / "trees.city.json")
    return path, (
        r"trees\.city\.json: nothing to import into layer buildings "
        r"\(2 not a building: SolitaryVegetationObject\)"
    )


def _building_without_geometry(tmp_path: Path) -> tuple[Path, str]:
    m = delft_model()
    m.objects["NL.IMBAG.1"]["geometry"] = []
    path = m.write(tmp_path / "nogeom.city.json")
    return path, r"nogeom\.city\.json, CityObject 'NL\.IMBAG\.1': no geometry"


@pytest.mark.parametrize(
    "make",
    [
        _truncated,
        _truncated_seq,
        _no_vertices,
        _seq_feature_without_vertices,
        _vertex_out_of_range,
        _unknown_version,
        _unknown_crs,
        _not_cityjson_header,
        _only_trees,
        _building_without_geometry,
    ],
)
def test_bad_cityjson_is_refused_and_nothing_is_written(
    engine: Engine,
    tmp_path: Path,
    make,  # type: ignore[no-untyped-def]
) -> None:
    path, message = make(tmp_path)
    before = snapshot(engine)
    with pytest.raises(ImportFailed, match=message):
        run_import(engine, path, layer="buildings")
    assert snapshot(engine) == before


def test_cityjson_refuses_other_layers(engine: Engine, tmp_path: Path) -> None:
    path = delft_model().write(tmp_path / "delft.city.json")
    before = snapshot(engine)
    with pytest.raises(
        ImportFailed,
        match=r"delft\.city\.json: CityJSON files import into "
        r"--layer buildings only",
    ):
        run_import(engine, path, layer="furniture")
    assert snapshot(engine) == before


def test_templates_addresses_and_nested_attributes(engine: Engine, tmp_path: Path) -> None:
    """GeometryInstance (a template moved to a reference point and rotated), a CityJSON 2.0
    address, and nested attribute values kept as JSON."""
    from tests.import_data import gabled_house

    m = CityModel(translate=(X, Y, 0.0))
    m.house("plain", X, Y, 0.0, attributes={"nested": {"a": 1, "b": [1, 2]}, "tags": ["x"]})
    m.objects["plain"]["address"] = [
        {
            "ThoroughfareNumber": "12",
            "ThoroughfareName": "Oude Delft",
            "PostalCode": "2611",
            "LocalityName": "Delft",
        }
    ]
    path = m.write(tmp_path / "templates.city.json")
    doc = json.loads(path.read_text())
    verts, bounds, values = gabled_house(0.0, 0.0, 0.0)  # template in local metres
    doc["geometry-templates"] = {
        "templates": [
            {
                "type": "Solid",
                "lod": "2.2",
                "boundaries": bounds,
                "semantics": {"surfaces": CityModel.SEMANTICS, "values": values},
            }
        ],
        "vertices-templates": verts.tolist(),
    }
    ref = len(doc["vertices"])
    doc["vertices"].append([100_000, 50_000, 3_000])  # (X + 100, Y + 50, 3) after transform
    quarter_turn = [0, -1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]  # 90 degrees about z
    doc["CityObjects"]["tpl"] = {
        "type": "Building",
        "attributes": {},
        "geometry": [
            {
                "type": "GeometryInstance",
                "template": 0,
                "boundaries": [ref],
                "transformationMatrix": quarter_turn,
            }
        ],
    }
    path.write_text(json.dumps(doc))

    report = run_import(engine, path, layer="buildings")

    assert report.inserted == 2
    got = buildings(engine)
    fp = shapely.from_wkb(bytes(got["tpl"][8]))
    # the 10 x 8 house turned a quarter: 8 wide, 10 deep, west of the reference point
    assert fp.bounds == pytest.approx((X + 92, Y + 50, X + 100, Y + 60))
    assert got["tpl"][:3] == (3.0, 9.0, "lod")
    assert got["tpl"][9:12] == (7, 3.0, 12.0)
    assert rows(engine, "SELECT address, attrs FROM buildings WHERE source_id = 'plain'") == [
        ("12 Oude Delft, 2611 Delft", {"nested": {"a": 1, "b": [1, 2]}, "tags": ["x"]})
    ]
