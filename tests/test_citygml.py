"""CityGML 2.0 and 3.0 into a real PostGIS: LoD1 solids, LoD2 boundary surfaces kept in lod2,
BuildingParts merged, attributes mapped, srsName in every spelling (or none: --crs), .gml.gz
and .zip, and every bad file refused with its line and nothing written.

The files are written by the tests (:mod:`tests.citygml_data`, synthetic buildings in Delft,
Lyon and Munich)."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
import trimesh
from sqlalchemy import Engine, text

from geodata.errors import ImportFailed
from geodata.importers import run_import
from tests.citygml_data import write_citygml
from tests.import_data import DELFT_RD, LYON_LONLAT, project, rows, snapshot

X, Y = DELFT_RD
VERSIONS = ["2.0", "3.0"]


def delft(version: str = "2.0", **kw: Any) -> list[dict[str, Any]]:
    """Four buildings: a LoD2 house with every attribute, a LoD1 block, a Building whose
    geometry sits in its one BuildingPart, and a Building with a part beside it."""
    return [
        dict(
            oid="NL.1",
            x=X,
            y=Y,
            z=1.0,
            attrs={
                "name": "Huis",
                "measuredHeight": 9.5,
                "storeysAboveGround": 2,
                "roofType": "1030",
                "function": "1010",
                "yearOfConstruction": 1932,
            },
            generic={"colour": "red", "rooms": 5},
            terrain=True,
            appearance=True,
            **kw,
        ),
        dict(oid="NL.2", x=X + 20, y=Y, z=0.5, lod=1, block_size=(10.0, 8.0, 7.0), **kw),
        dict(
            oid="NL.3",
            x=X + 40,
            y=Y,
            geometry_in_parts=True,
            parts=[dict(id="NL.3-part", x=X + 40, y=Y, ridge=12.0, attrs={"roofType": "3100"})],
            **kw,
        ),
        dict(oid="NL.4", x=X + 60, y=Y, ridge=9.0, parts=[dict(x=X + 70, y=Y, ridge=14.0)], **kw),
    ]


def buildings(engine: Engine) -> dict[str, Any]:
    return {
        r[0]: r
        for r in rows(
            engine,
            "SELECT source_id, base_z, height, height_source, levels, roof_type, usage, "
            "year_built, name, attrs, ST_AsBinary(footprint) AS fp, ST_NumGeometries(lod2) AS n, "
            "ST_ZMin(lod2) AS zmin, ST_ZMax(lod2) AS zmax, ST_SRID(footprint) AS srid "
            "FROM buildings",
        )
    }


@pytest.mark.parametrize("version", VERSIONS)
def test_citygml_buildings_lod1_lod2_parts_and_attributes(
    engine: Engine, tmp_path: Path, version: str
) -> None:
    path = write_citygml(tmp_path / "delft.gml", delft(), version=version, trees=2)
    report = run_import(engine, path, layer="buildings")

    assert report.reader == "citygml"
    assert (report.source_crs, report.working_crs) == (28992, 28992)
    assert (report.read, report.inserted) == (4, 4)
    assert report.skipped == {
        "not a building: SolitaryVegetationObject": 2,
        "terrain intersection curve (not imported)": 1,
        "appearance: texture or colour (not imported)": 1,
    }
    assert report.height_sources == {"measured": 1, "lod": 3}
    got = buildings(engine)
    assert set(got) == {"NL.1", "NL.2", "NL.3", "NL.4"}

    b = got["NL.1"]
    assert (b.base_z, b.height, b.height_source, b.levels, b.roof_type, b.usage) == (
        1.0,
        9.5,
        "measured",
        2,
        "1030",
        "1010",
    )
    assert (b.year_built, b.name, b.attrs) == (1932, "Huis", {"colour": "red", "rooms": 5})
    # footprint = the GroundSurface, lod2 = the 7 boundary surfaces with their real z
    want = shapely.MultiPolygon([shapely.box(X, Y, X + 10, Y + 8)])
    assert shapely.from_wkb(bytes(b.fp)).normalize().equals_exact(want.normalize(), 1e-6)
    assert (b.n, b.zmin, b.zmax, b.srid) == (7, 1.0, 10.0, 28992)

    b = got["NL.2"]  # LoD1 only: footprint = the solid's bottom face, height = its z range
    assert shapely.from_wkb(bytes(b.fp)).bounds == (X + 20, Y, X + 30, Y + 8)
    assert (b.base_z, b.height, b.height_source, b.n) == (0.5, 7.0, "lod", None)

    b = got["NL.3"]  # geometry in its one part: one row, the Building's id, the part's attrs
    assert shapely.from_wkb(bytes(b.fp)).bounds == (X + 40, Y, X + 50, Y + 8)
    assert (b.height, b.height_source, b.roof_type, b.n) == (12.0, "lod", "3100", 7)

    b = got["NL.4"]  # a Building and its part: merged, footprint over both, all surfaces
    assert shapely.from_wkb(bytes(b.fp)).area == pytest.approx(160.0)
    assert (b.height, b.n, b.zmax) == (14.0, 14, 14.0)
    assert rows(engine, "SELECT count(*) FROM buildings WHERE source_id LIKE '%part%'") == [(0,)]


def test_citygml_reimport_is_idempotent(engine: Engine, tmp_path: Path) -> None:
    path = write_citygml(tmp_path / "delft.gml", delft(), version="3.0")
    run_import(engine, path, layer="buildings")
    before = rows(
        engine, "SELECT id, source_id, ST_AsEWKB(lod2), height FROM buildings ORDER BY id"
    )
    again = run_import(engine, path, layer="buildings")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 4)
    assert (
        rows(engine, "SELECT id, source_id, ST_AsEWKB(lod2), height FROM buildings ORDER BY id")
        == before
    )


MUNICH_LONLAT = (11.5755, 48.1372)


@pytest.mark.parametrize(
    ("srs", "epsg", "lonlat"),
    [
        ("EPSG:2154", 2154, LYON_LONLAT),
        ("urn:ogc:def:crs:EPSG::3946", 3946, LYON_LONLAT),
        ("urn:ogc:def:crs,crs:EPSG::25832,crs:EPSG::5783", 25832, MUNICH_LONLAT),
        ("EPSG:25832+5783", 25832, MUNICH_LONLAT),
        ("http://www.opengis.net/def/crs/EPSG/0/25832", 25832, MUNICH_LONLAT),
        ("urn:adv:crs:ETRS89_UTM32*DE_DHHN2016_NH", 25832, MUNICH_LONLAT),
        ("urn:ogc:def:crs:EPSG::7415", 28992, None),
    ],
)
@pytest.mark.parametrize("on_geometry", [False, True], ids=["envelope", "geometry"])
def test_citygml_srsname_in_every_spelling(
    engine: Engine,
    tmp_path: Path,
    srs: str,
    epsg: int,
    lonlat: tuple[float, float] | None,
    on_geometry: bool,
) -> None:
    """On the model's envelope, or (no envelope) only on each building's geometries."""
    x, y = project(*lonlat, epsg) if lonlat else (X, Y)
    houses = [dict(oid="b1", x=x, y=y, srs_on_geometry=on_geometry)]
    envelope = None if on_geometry else (x, y, 0, x + 10, y + 8, 9)
    path = write_citygml(tmp_path / "city.gml", houses, srs=srs, envelope=envelope)
    report = run_import(engine, path, layer="buildings")
    assert (report.source_crs, report.inserted) == (epsg, 1)
    ((bounds,),) = rows(engine, "SELECT ST_XMin(footprint) FROM buildings")
    assert bounds == pytest.approx(x, abs=0.01)


def test_citygml_without_srsname_needs_the_crs_option(engine: Engine, tmp_path: Path) -> None:
    path = write_citygml(tmp_path / "nocrs.gml", delft(), srs=None)
    before = snapshot(engine)
    with pytest.raises(ImportFailed, match=r"nocrs\.gml: no srsName.*--crs EPSG:XXXX"):
        run_import(engine, path, layer="buildings")
    assert snapshot(engine) == before
    report = run_import(engine, path, layer="buildings", crs="EPSG:28992")
    assert (report.source_crs, report.inserted) == (28992, 4)


def test_citygml_mixing_crss_is_refused(engine: Engine, tmp_path: Path) -> None:
    path = write_citygml(tmp_path / "mixed.gml", delft(srs_on_geometry=True), srs="EPSG:28992")
    text_ = path.read_text()
    cut = text_.index('gml:id="NL.3"')
    path.write_text(text_[:cut] + text_[cut:].replace("EPSG:28992", "EPSG:2154", 1))
    before = snapshot(engine)
    with pytest.raises(ImportFailed, match=r"mixed\.gml, line \d+: srsName 'EPSG:2154' differs"):
        run_import(engine, path, layer="buildings")
    assert snapshot(engine) == before


# -- compressed files -----------------------------------------------------------------------------
def test_citygml_gz_file(engine: Engine, tmp_path: Path) -> None:
    plain = write_citygml(tmp_path / "delft.gml", delft(), version="3.0")
    packed = tmp_path / "delft.gml.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    report = run_import(engine, packed, layer="buildings")
    assert (report.reader, report.inserted, report.source) == ("citygml", 4, "delft")


def test_citygml_zip_imports_every_gml_member(engine: Engine, tmp_path: Path) -> None:
    """A city shipped as tiles in one archive: every .gml member, one source."""
    houses = delft()
    a = write_citygml(tmp_path / "a.gml", houses[:2])
    b = write_citygml(tmp_path / "b.gml", houses[2:], version="2.0")
    archive = tmp_path / "tiles.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(a, "tiles/0001.gml")
        z.writestr("tiles/0002.gml.gz", gzip.compress(b.read_bytes()))
        z.writestr("README.txt", "not a model")
    report = run_import(engine, archive, layer="buildings")
    assert (report.reader, report.inserted) == ("citygml", 4)
    assert {r[0] for r in rows(engine, "SELECT source FROM buildings")} == {"tiles"}


def test_a_zip_of_a_shapefile_still_goes_to_gdal(tmp_path: Path) -> None:
    from geodata.importers.readers import reader_for

    archive = tmp_path / "shapes.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("b.shp", b"")
        z.writestr("b.gml", b"")  # GDAL's own .gml sidecars sit beside shapefiles too
    assert reader_for(archive, "buildings").name == "ogr"


# -- tiles ----------------------------------------------------------------------------------------
def test_tiles_of_an_imported_lod2_building_show_its_faces(engine: Engine, tmp_path: Path) -> None:
    """The tileset reads lod2: the gabled roof is there, not an extruded footprint."""
    from tests.test_tiles_build import _feature_geometry
    from tiles.build import build_all

    path = write_citygml(tmp_path / "delft.gml", delft(), version="3.0")
    run_import(engine, path, layer="buildings")
    build_all(engine, tmp_path / "tiles", layer="buildings")
    with engine.connect() as conn:
        bid = conn.execute(text("SELECT id FROM buildings WHERE source_id = 'NL.1'")).scalar_one()
    world, tris = _feature_geometry(tmp_path / "tiles" / "buildings", bid)
    mesh = trimesh.Trimesh(world - world.mean(axis=0), tris, process=True)
    assert mesh.is_watertight
    # box 10 x 8 x 6 plus a gable prism 10 x 8 x 3 / 2 (an extruded block would be 10 x 8 x 9.5)
    assert mesh.volume == pytest.approx(10 * 8 * 6 + 10 * 8 * 3 / 2, rel=2e-3)
    assert len(np.unique(np.round(world, 2), axis=0)) >= 10  # the ridge's vertices


def test_citygml_streams_in_batches_with_every_note(tmp_path: Path) -> None:
    from collections import Counter

    from geodata.importers.citygml import CityGMLReader

    path = write_citygml(tmp_path / "delft.gml", delft() + delft()[:1], trees=3)
    for size, sizes in ((2, [2, 2, 1]), (100, [5])):
        reader = CityGMLReader(path, "buildings")
        reader.open()
        batches = list(reader.batches(size))
        assert [len(b) for b in batches if len(b)] == sizes
        notes: Counter[str] = Counter()
        for b in batches:
            notes.update(b.notes)
        assert notes["not a building: SolitaryVegetationObject"] == 3
        assert notes["terrain intersection curve (not imported)"] == 2


# -- the command line -------------------------------------------------------------------------
def test_twin_import_of_citygml_without_srsname(
    db_url: str, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`twin import city.gml --layer buildings`: refused naming --crs, then done with it."""
    from typer.testing import CliRunner

    from twin.cli import app

    monkeypatch.setenv("TWIN_DATABASE_URL", db_url)
    monkeypatch.setenv("TWIN_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("TWIN_CRS", raising=False)
    monkeypatch.setenv("COLUMNS", "500")
    monkeypatch.chdir(tmp_path)
    path = write_citygml(tmp_path / "city.gml", delft(), version="3.0", srs=None, trees=1)
    runner = CliRunner()
    before = snapshot(engine)
    result = runner.invoke(app, ["import", str(path), "--layer", "buildings"])
    assert result.exit_code == 1
    assert "no srsName" in result.output and "--crs EPSG:XXXX" in result.output
    assert snapshot(engine) == before

    args = ["import", str(path), "--layer", "buildings", "--crs", "EPSG:28992", "--source", "c"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "city.gml -> buildings (source 'c', citygml reader, EPSG:28992 -> EPSG:28992)" in (
        result.stdout
    )
    assert "skipped 1: terrain intersection curve (not imported)" in result.stdout
    assert rows(engine, "SELECT count(*) FROM buildings WHERE source = 'c'") == [(4,)]


def test_a_reference_with_only_heights_is_refused() -> None:
    from geodata.crs import horizontal_epsg
    from geodata.errors import CRSError

    with pytest.raises(CRSError, match=r"'urn:ogc:def:crs:EPSG::5783' has no horizontal part"):
        horizontal_epsg("urn:ogc:def:crs:EPSG::5783")
    with pytest.raises(CRSError, match=r"names no EPSG code"):
        horizontal_epsg("local-grid")


def test_citygml_in_another_crs_is_reprojected_with_its_z_kept(
    engine: Engine, tmp_path: Path
) -> None:
    """A CC46 model (EPSG:3946) into a Lambert-93 twin: x/y as pyproj says, z untouched."""
    from pyproj import Transformer

    from geodata.working_crs import set_working_crs

    with engine.begin() as conn:
        set_working_crs(conn, 2154)
    x, y = project(*LYON_LONLAT, 3946)
    houses = [dict(oid="lyon-1", x=x, y=y, z=172.0)]
    path = write_citygml(tmp_path / "lyon.gml", houses, srs="urn:ogc:def:crs:EPSG::3946")
    report = run_import(engine, path, layer="buildings")
    assert (report.source_crs, report.working_crs) == (3946, 2154)
    ((fp, lod2, base, height),) = rows(
        engine, "SELECT ST_AsBinary(footprint), ST_AsBinary(lod2), base_z, height FROM buildings"
    )
    to93 = Transformer.from_crs(3946, 2154, always_xy=True)
    want = shapely.transform(
        shapely.box(x, y, x + 10, y + 8),
        lambda c: np.column_stack(to93.transform(c[:, 0], c[:, 1])),
    )
    got = shapely.from_wkb(bytes(fp))
    assert got.normalize().equals_exact(shapely.MultiPolygon([want]).normalize(), 0.01)
    coords = shapely.get_coordinates(shapely.from_wkb(bytes(lod2)), include_z=True)
    assert coords[:, 2].min() == pytest.approx(172.0) and coords[:, 2].max() == pytest.approx(181.0)
    assert (base, height) == (pytest.approx(172.0), pytest.approx(9.0))


def test_citygml_1_0_reads_as_2_0(engine: Engine, tmp_path: Path) -> None:
    """CityGML 1.0 differs from 2.0 in its namespaces only, for what the twin reads."""
    path = write_citygml(tmp_path / "old.gml", delft(), version="2.0")
    path.write_text(path.read_text().replace("/2.0", "/1.0"))
    assert "http://www.opengis.net/citygml/building/1.0" in path.read_text()
    report = run_import(engine, path, layer="buildings")
    assert (report.inserted, report.height_sources) == (4, {"measured": 1, "lod": 3})


def test_rings_of_gml_pos_holes_and_degenerate_polygons(tmp_path: Path) -> None:
    """A LoD0 footprint whose exterior is written as gml:pos points and whose hole is a
    posList, beside a polygon whose exterior has two points (dropped, with its hole)."""
    from geodata.importers.citygml import CityGMLReader

    def pos(*pts: tuple[float, float]) -> str:
        return "".join(f"<gml:pos>{x} {y} 5</gml:pos>" for x, y in pts)

    def pos_list(*pts: tuple[float, float]) -> str:
        return "<gml:posList>" + " ".join(f"{x} {y} 5" for x, y in pts) + "</gml:posList>"

    outer = pos((X, Y), (X + 10, Y), (X + 10, Y + 10), (X, Y + 10), (X, Y))
    hole = pos_list((X + 2, Y + 2), (X + 2, Y + 4), (X + 4, Y + 4), (X + 4, Y + 2), (X + 2, Y + 2))
    flat = pos_list((X + 20, Y), (X + 30, Y), (X + 20, Y))
    ns = (
        'xmlns:core="http://www.opengis.net/citygml/2.0" xmlns:gml="http://www.opengis.net/gml" '
        'xmlns:bldg="http://www.opengis.net/citygml/building/2.0"'
    )
    path = tmp_path / "pos.gml"
    path.write_text(
        f'<core:CityModel {ns}><core:cityObjectMember><bldg:Building gml:id="b">'
        '<bldg:lod0FootPrint><gml:MultiSurface srsName="EPSG:28992"><gml:surfaceMember>'
        f"<gml:Polygon><gml:exterior><gml:LinearRing>{outer}</gml:LinearRing></gml:exterior>"
        f"<gml:interior><gml:LinearRing>{hole}</gml:LinearRing></gml:interior></gml:Polygon>"
        "</gml:surfaceMember><gml:surfaceMember><gml:Polygon><gml:exterior><gml:LinearRing>"
        f"{flat}</gml:LinearRing></gml:exterior><gml:interior><gml:LinearRing>{hole}"
        "</gml:LinearRing></gml:interior></gml:Polygon></gml:surfaceMember>"
        "</gml:MultiSurface></bldg:lod0FootPrint></bldg:Building></core:cityObjectMember>"
        "</core:CityModel>"
    )
    reader = CityGMLReader(path, "buildings")
    reader.open()
    (batch,) = list(reader.batches(10))
    footprint = shapely.from_wkb(batch.geoms[0])
    assert footprint.area == pytest.approx(96.0)
    assert footprint.bounds == (X, Y, X + 10, Y + 10)
