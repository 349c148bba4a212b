"""GDAL formats end to end against a real PostGIS: GeoJSON (with the legacy ``crs`` member),
GeoPackage, Shapefile (.shp and .zip), FlatGeobuf; the working CRS fixed by the first import;
reprojection checked against pyproj to 1 cm; ``--crs``; idempotent re-import; repairs."""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Transformer
from sqlalchemy import Engine

from geodata.errors import ImportFailed
from geodata.importers import ImportOptions, run_import
from geodata.working_crs import set_working_crs
from tests.import_data import (
    HELSINKI_LONLAT,
    LYON_LONLAT,
    buildings_gdf,
    feature,
    project,
    rect,
    rows,
    snapshot,
    write_geojson,
)


def working_crs(engine: Engine) -> int | None:
    got = rows(engine, "SELECT value FROM twin_meta WHERE key = 'crs'")
    return int(got[0][0]) if got else None


def stored(engine: Engine, source: str) -> dict[str, shapely.Geometry]:
    return {
        sid: shapely.from_wkb(bytes(wkb))
        for sid, wkb in rows(
            engine,
            "SELECT source_id, ST_AsBinary(footprint) FROM buildings WHERE source = :s",
            s=source,
        )
    }


def assert_reprojected(
    got: shapely.Geometry, src: shapely.Geometry, src_epsg: int, dst_epsg: int, tol: float = 0.01
) -> None:
    """Every stored vertex is within ``tol`` metres of a pyproj-reprojected source vertex
    (and the other way round): ring start and orientation may differ between formats."""
    xy = shapely.get_coordinates(src)
    tx, ty = Transformer.from_crs(src_epsg, dst_epsg, always_xy=True).transform(xy[:, 0], xy[:, 1])
    want = np.c_[tx, ty]
    have = shapely.get_coordinates(got)
    dist = np.linalg.norm(have[:, None, :] - want[None, :, :], axis=2)
    assert dist.min(axis=1).max() <= tol, f"stored vertex off by {dist.min(axis=1).max():.4f} m"
    assert dist.min(axis=0).max() <= tol


def _features(gdf: gpd.GeoDataFrame) -> list[dict[str, object]]:
    """GeoJSON features written with full precision (GDAL's writer may round degrees)."""
    return [
        feature(
            row.geometry, **{k: (None if v != v else v) for k, v in row.items() if k != "geometry"}
        )
        for _, row in gdf.iterrows()
    ]


# -- one file per format -----------------------------------------------------------------------
def _write(fmt: str, gdf: gpd.GeoDataFrame, tmp_path: Path) -> Path:
    if fmt == "geojson":
        crs = f"urn:ogc:def:crs:EPSG::{gdf.crs.to_epsg()}"
        return write_geojson(tmp_path / "city.geojson", _features(gdf), crs=crs)
    if fmt == "gpkg":
        path = tmp_path / "city.gpkg"
        gdf.to_file(path, driver="GPKG", layer="batiments")
        return path
    if fmt in ("shp", "zip"):
        folder = tmp_path / "shp"
        folder.mkdir()
        gdf.to_file(folder / "city.shp", driver="ESRI Shapefile")
        if fmt == "shp":
            return folder / "city.shp"
        path = tmp_path / "city.zip"
        with zipfile.ZipFile(path, "w") as z:
            for part in folder.iterdir():
                z.write(part, part.name)
        return path
    if fmt == "fgb":
        path = tmp_path / "city.fgb"
        gdf.to_file(path, driver="FlatGeobuf")
        return path
    raise AssertionError(fmt)


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "shp", "zip", "fgb"])
def test_each_gdal_format_imports_buildings(engine: Engine, tmp_path: Path, fmt: str) -> None:
    origin = project(*HELSINKI_LONLAT, 3067)
    gdf = buildings_gdf(
        3067,
        origin,
        3,
        gml_id=["g1", "g2", "g3"],
        height=[12.5, None, None],
        levels=[4, 5, None],
        usage=["residential", "office", None],
        name=["A", "B", "C"],
    )
    path = _write(fmt, gdf, tmp_path)

    report = run_import(engine, path, layer="buildings", source="city")

    assert report.reader == "ogr"
    assert (report.read, report.inserted, report.repaired) == (3, 3, 0)
    assert report.source_crs == 3067 and working_crs(engine) == 3067
    assert report.height_sources == {"measured": 1, "levels": 1, "default": 1}
    got = rows(
        engine,
        "SELECT source_id, height, height_source, levels, usage, name "
        "FROM buildings ORDER BY source_id",
    )
    assert got == [
        ("g1", 12.5, "measured", 4, "residential", "A"),
        ("g2", 15.0, "levels", 5, "office", "B"),
        ("g3", 9.0, "default", None, None, "C"),
    ]
    geoms = stored(engine, "city")
    for sid, src in zip(["g1", "g2", "g3"], gdf.geometry, strict=True):
        assert_reprojected(geoms[sid], src, 3067, 3067)
    assert rows(engine, "SELECT source, layer, features FROM datasets") == [
        ("city", "buildings", 3)
    ]


# -- CRS cases ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("epsg", "lonlat"), [(2154, LYON_LONLAT), (3946, LYON_LONLAT), (3067, HELSINKI_LONLAT)]
)
def test_first_projected_import_fixes_the_working_crs_and_later_ones_are_reprojected(
    engine: Engine, tmp_path: Path, epsg: int, lonlat: tuple[float, float]
) -> None:
    local = buildings_gdf(epsg, project(*lonlat, epsg), 3, gml_id=["a", "b", "c"])
    local.to_file(tmp_path / "local.gpkg", driver="GPKG")
    wgs = buildings_gdf(4326, (lonlat[0] + 0.001, lonlat[1] + 0.001), 2, gml_id=["w1", "w2"])
    write_geojson(tmp_path / "wgs.geojson", _features(wgs), crs="urn:ogc:def:crs:OGC:1.3:CRS84")

    first = run_import(engine, tmp_path / "local.gpkg", layer="buildings")
    second = run_import(engine, tmp_path / "wgs.geojson", layer="buildings")

    assert working_crs(engine) == epsg
    assert (first.working_crs, second.working_crs, second.source_crs) == (epsg, epsg, 4326)
    for sid, src in zip(local.gml_id, local.geometry, strict=True):
        assert_reprojected(stored(engine, "local")[sid], src, epsg, epsg)
    for sid, src in zip(wgs.gml_id, wgs.geometry, strict=True):
        assert_reprojected(stored(engine, "wgs")[sid], src, 4326, epsg)
    srid = rows(engine, "SELECT DISTINCT ST_SRID(footprint) FROM buildings")
    assert srid == [(epsg,)]


def test_lonlat_first_import_infers_the_utm_zone(engine: Engine, tmp_path: Path) -> None:
    wgs = buildings_gdf(4326, HELSINKI_LONLAT, 3, gml_id=["a", "b", "c"])
    write_geojson(tmp_path / "wgs.geojson", _features(wgs))

    report = run_import(engine, tmp_path / "wgs.geojson", layer="buildings")

    assert report.working_crs == 32635 == working_crs(engine)  # WGS 84 / UTM zone 35N
    for sid, src in zip(wgs.gml_id, wgs.geometry, strict=True):
        assert_reprojected(stored(engine, "wgs")[sid], src, 4326, 32635)


def test_lonlat_file_into_a_lambert93_twin(engine: Engine, tmp_path: Path) -> None:
    with engine.begin() as conn:
        set_working_crs(conn, 2154)
    wgs = buildings_gdf(4326, LYON_LONLAT, 3, gml_id=["a", "b", "c"])
    write_geojson(tmp_path / "lyon.geojson", _features(wgs))

    report = run_import(engine, tmp_path / "lyon.geojson", layer="buildings")

    assert (report.source_crs, report.working_crs) == (4326, 2154)
    for sid, src in zip(wgs.gml_id, wgs.geometry, strict=True):
        assert_reprojected(stored(engine, "lyon")[sid], src, 4326, 2154)


def test_twin_crs_setting_decides_the_working_crs_of_an_empty_twin(
    engine: Engine, tmp_path: Path
) -> None:
    local = buildings_gdf(3946, project(*LYON_LONLAT, 3946), 2, gml_id=["a", "b"])
    local.to_file(tmp_path / "cc46.gpkg", driver="GPKG")

    run_import(
        engine,
        tmp_path / "cc46.gpkg",
        layer="buildings",
        options=ImportOptions.from_settings(working_crs="EPSG:2154"),
    )

    assert working_crs(engine) == 2154
    for sid, src in zip(local.gml_id, local.geometry, strict=True):
        assert_reprojected(stored(engine, "cc46")[sid], src, 3946, 2154)


def test_crs_option_gives_the_crs_of_a_shapefile_without_prj(
    engine: Engine, tmp_path: Path
) -> None:
    gdf = buildings_gdf(3067, project(*HELSINKI_LONLAT, 3067), 2, gml_id=["a", "b"])
    gdf.to_file(tmp_path / "noprj.shp")
    (tmp_path / "noprj.prj").unlink()
    before = snapshot(engine)

    with pytest.raises(ImportFailed) as err:
        run_import(engine, tmp_path / "noprj.shp", layer="buildings")
    assert "noprj.shp" in str(err.value) and "--crs EPSG:XXXX" in str(err.value)
    assert snapshot(engine) == before

    report = run_import(engine, tmp_path / "noprj.shp", layer="buildings", crs="EPSG:3067")
    assert (report.inserted, report.source_crs, working_crs(engine)) == (2, 3067, 3067)
    for sid, src in zip(gdf.gml_id, gdf.geometry, strict=True):
        assert_reprojected(stored(engine, "noprj")[sid], src, 3067, 3067)


def test_crs_option_overrides_a_wrong_crs_in_the_file(engine: Engine, tmp_path: Path) -> None:
    """Metres labelled as degrees are refused; --crs with the real CRS imports them."""
    gdf = buildings_gdf(3067, project(*HELSINKI_LONLAT, 3067), 2, gml_id=["a", "b"])
    path = write_geojson(tmp_path / "mislabelled.geojson", _features(gdf))  # no crs: WGS 84

    with pytest.raises(ImportFailed, match="not degrees"):
        run_import(engine, path, layer="buildings")
    report = run_import(engine, path, layer="buildings", crs="EPSG:3067")
    assert report.inserted == 2 and working_crs(engine) == 3067


# -- re-import, repairs --------------------------------------------------------------------------
def test_reimport_is_idempotent_and_updates_only_what_changed(
    engine: Engine, tmp_path: Path
) -> None:
    origin = project(*LYON_LONLAT, 2154)
    gdf = buildings_gdf(2154, origin, 4, gml_id=["a", "b", "c", "d"], height=[10.0] * 4)
    path = tmp_path / "lyon.gpkg"
    gdf.to_file(path, driver="GPKG")
    first = run_import(engine, path, layer="buildings")
    ids = rows(engine, "SELECT source_id, id, updated_at FROM buildings ORDER BY source_id")

    again = run_import(engine, path, layer="buildings")
    assert (again.read, again.inserted, again.updated, again.unchanged) == (4, 0, 0, 4)
    assert rows(engine, "SELECT source_id, id, updated_at FROM buildings ORDER BY source_id") == ids

    gdf.loc[2, "height"] = 31.0
    path.unlink()
    gdf.to_file(path, driver="GPKG")
    changed = run_import(engine, path, layer="buildings")

    assert first.inserted == 4
    assert (changed.inserted, changed.updated, changed.unchanged) == (0, 1, 3)
    assert rows(engine, "SELECT height FROM buildings WHERE source_id = 'c'") == [(31.0,)]
    assert rows(engine, "SELECT count(*) FROM buildings") == [(4,)]
    assert [r[:2] for r in rows(engine, "SELECT source_id, id FROM buildings ORDER BY 1")] == [
        r[:2] for r in ids
    ]


def test_bow_tie_polygon_is_repaired_and_counted(engine: Engine, tmp_path: Path) -> None:
    x, y = project(*HELSINKI_LONLAT, 3067)
    bow_tie = shapely.Polygon([(x, y), (x + 10, y + 10), (x + 10, y), (x, y + 10), (x, y)])
    path = write_geojson(
        tmp_path / "bowtie.geojson",
        [feature(bow_tie, gml_id="tie"), feature(rect(x + 50, y), gml_id="ok")],
        crs="urn:ogc:def:crs:EPSG::3067",
    )

    report = run_import(engine, path, layer="buildings")

    assert (report.inserted, report.repaired) == (2, 1)
    assert "repaired 1" in "\n".join(report.lines())
    got = rows(
        engine,
        "SELECT ST_IsValid(footprint), ST_NumGeometries(footprint), "
        "round(ST_Area(footprint)::numeric, 3) FROM buildings "
        "WHERE source_id = 'tie'",
    )
    assert got == [(True, 2, 50)]


def test_duplicate_source_ids_keep_the_first_and_say_so(engine: Engine, tmp_path: Path) -> None:
    x, y = project(*HELSINKI_LONLAT, 3067)
    path = write_geojson(
        tmp_path / "dups.geojson",
        [
            feature(rect(x, y), gml_id="same", name="first"),
            feature(rect(x + 50, y), gml_id="same", name="second"),
        ],
        crs="urn:ogc:def:crs:EPSG::3067",
    )

    report = run_import(engine, path, layer="buildings")

    assert report.inserted == 1
    assert report.skipped == {"duplicate source id (first kept)": 1}
    assert rows(engine, "SELECT name FROM buildings") == [("first",)]


def test_bulk_first_import_rebuilds_the_indexes_and_a_failure_keeps_them(
    engine: Engine, tmp_path: Path
) -> None:
    """A first import of >= BULK_REINDEX rows into an empty table drops its indexes and
    builds them once at the end; a refused import rolls that back with everything else."""
    from geodata.importers.writer import BULK_REINDEX

    n = BULK_REINDEX + 10
    origin = project(*HELSINKI_LONLAT, 3067)
    good = buildings_gdf(3067, origin, n, gml_id=[f"g{i}" for i in range(n)])
    good.to_file(tmp_path / "big.gpkg", driver="GPKG")
    bad = good.assign(Z_MIN_SOL=[10.0] * (n - 1) + [99999.0])  # refused by base_z_sane
    bad.to_file(tmp_path / "bad.gpkg", driver="GPKG")
    indexes = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'buildings'"
    before = sorted(rows(engine, indexes))
    assert len(before) == 4  # primary key, footprint (GiST), source ids (unique), scenario

    with pytest.raises(ImportFailed, match="base_z_sane"):
        run_import(engine, tmp_path / "bad.gpkg", layer="buildings")
    assert sorted(rows(engine, indexes)) == before
    assert rows(engine, "SELECT count(*) FROM buildings") == [(0,)]

    report = run_import(engine, tmp_path / "big.gpkg", layer="buildings")
    assert report.inserted == n
    assert sorted(rows(engine, indexes)) == before
    # the rebuilt unique index still guards re-imports
    again = run_import(engine, tmp_path / "big.gpkg", layer="buildings")
    assert (again.inserted, again.unchanged) == (0, n)


def test_bulk_first_import_keeps_the_first_of_repeated_ids(engine: Engine, tmp_path: Path) -> None:
    """Without indexes during a bulk first import, repeated ids show when the unique index
    is rebuilt; the later rows are removed and it is built again: the file's first one stays."""
    from geodata.importers.writer import BULK_REINDEX

    n = BULK_REINDEX + 10
    origin = project(*HELSINKI_LONLAT, 3067)
    ids = [f"g{i}" for i in range(n)]
    ids[-1], ids[-2] = "g3", "g7"  # the last two repeat earlier ids
    gdf = buildings_gdf(3067, origin, n, gml_id=ids).assign(name=[f"n{i}" for i in range(n)])
    gdf.to_file(tmp_path / "repeats.gpkg", driver="GPKG")

    report = run_import(engine, tmp_path / "repeats.gpkg", layer="buildings")

    assert report.inserted == n - 2
    assert report.skipped == {"duplicate source id (first kept)": 2}
    got = dict(
        rows(engine, "SELECT source_id, name FROM buildings WHERE source_id IN ('g3', 'g7')")
    )
    assert got == {"g3": "n3", "g7": "n7"}
