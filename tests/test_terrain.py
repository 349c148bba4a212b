"""DEM import and the terrain the analyses read: a GeoTIFF written by rasterio comes back
cell for cell with its nodata kept, heights are bilinear between cell centres, a DEM in
another CRS is reprojected to the working one, the vertical datum is stated (from a compound
CRS, an option, or 'unknown'), a DEM without CRS is refused naming --crs and writes nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from geodata.errors import InputError
from geodata.importers.dem import import_dem
from geodata.terrain import heights_at, load_dem
from geodata.working_crs import get_working_crs
from tests.flood_support import X0, Y0, write_tif
from twin.cli import app as cli_app
from twin.settings import Settings

NODATA = -32768.0


def _ramp() -> np.ndarray:
    """z = 2 * col + 10 * row, with a nodata cell at (2, 3)."""
    i, j = np.indices((6, 8))
    z = (2.0 * j + 10.0 * i).astype(np.float64)
    z[2, 3] = NODATA
    return z


def test_round_trip_keeps_cells_and_nodata(engine: Engine, tmp_path: Path) -> None:
    report = import_dem(engine, write_tif(tmp_path / "ramp.tif", _ramp(), nodata=NODATA))
    assert report.epsg == 3067 and (report.width, report.height) == (8, 6)
    assert report.nodata == NODATA and report.nodata_cells == 1
    assert report.vertical_datum == "unknown"
    assert any("vertical datum: unknown" in line for line in report.lines())
    dem = load_dem(engine)
    assert dem is not None and dem.epsg == 3067 and dem.nodata == NODATA
    expected = _ramp()
    assert np.isnan(dem.z[2, 3])
    expected[2, 3] = np.nan
    np.testing.assert_array_equal(dem.z, expected)
    assert dem.transform.c == X0 and dem.transform.f == Y0 and dem.resolution == (1.0, 1.0)
    with engine.connect() as conn:
        assert get_working_crs(conn) == 3067


def test_heights_are_bilinear_and_nan_off_the_dem(engine: Engine, tmp_path: Path) -> None:
    assert heights_at(engine, np.array([[X0, Y0]])) is None  # no DEM yet
    import_dem(engine, write_tif(tmp_path / "ramp.tif", _ramp(), nodata=NODATA))
    pts = np.array(
        [
            [X0 + 0.5, Y0 - 0.5],  # centre of (0, 0): 0
            [X0 + 1.0, Y0 - 0.5],  # half-way to (0, 1): 1
            [X0 + 5.25, Y0 - 4.75],  # (4.25, 4.75) in cells from the centres: 2*4.75+10*4.25
            [X0 + 3.5, Y0 - 2.5],  # the nodata cell
            [X0 - 50, Y0],  # off the DEM
        ]
    )
    got = heights_at(engine, pts)
    assert got is not None
    assert got[:3] == pytest.approx([0.0, 1.0, 2 * 4.75 + 10 * 4.25])
    assert np.isnan(got[3]) and np.isnan(got[4])


def test_another_crs_is_reprojected_and_its_vertical_datum_stated(
    engine: Engine, tmp_path: Path
) -> None:
    with engine.begin() as conn:
        from geodata.working_crs import set_working_crs

        set_working_crs(conn, 3067)
    # a flat 7 m plain in lon/lat with N2000 heights, around (24.94 E, 60.17 N)
    z = np.full((40, 40), 7.0)
    z[:, :5] = NODATA
    path = write_tif(
        tmp_path / "ll.tif",
        z,
        crs="EPSG:4326+3900",
        nodata=NODATA,
        x0=24.93,
        y0=60.175,
        cell=0.0005,
    )
    report = import_dem(engine, path)
    assert report.epsg == 3067 and report.source_crs == "EPSG:4326"
    assert report.vertical_datum == "N2000 height (EPSG:3900)"
    dem = load_dem(engine)
    assert dem is not None
    valid = dem.z[np.isfinite(dem.z)]
    assert valid == pytest.approx(7.0)  # bilinear between equal heights
    assert np.isnan(dem.z).any()  # the nodata band and the corners outside stay nodata
    from geodata.crs import transformer

    x, y = transformer(4326, 3067).transform(24.94, 60.165)
    got = heights_at(engine, np.array([[x, y]]))
    assert got is not None and got[0] == pytest.approx(7.0)


def test_a_dem_without_crs_is_refused_naming_crs(engine: Engine, tmp_path: Path) -> None:
    path = write_tif(tmp_path / "bare.tif", _ramp(), crs=None)
    with pytest.raises(InputError, match="--crs"):
        import_dem(engine, path)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM terrain")).scalar_one() == 0
        assert get_working_crs(conn) is None  # nothing written, not even the working CRS
    report = import_dem(engine, path, crs="EPSG:3067", vertical_datum="N2000")
    assert report.epsg == 3067 and report.vertical_datum == "N2000"


def test_an_all_nodata_dem_writes_nothing(engine: Engine, tmp_path: Path) -> None:
    path = write_tif(tmp_path / "empty.tif", np.full((4, 4), NODATA), nodata=NODATA)
    with pytest.raises(InputError, match="no valid height"):
        import_dem(engine, path)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM terrain")).scalar_one() == 0
        assert get_working_crs(conn) is None


def test_twin_import_layer_dem(
    db_url: str, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWIN_DATABASE_URL", db_url)
    monkeypatch.setenv("TWIN_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("COLUMNS", "300")
    path = write_tif(tmp_path / "ramp.tif", _ramp(), nodata=NODATA)
    runner = CliRunner()
    got = runner.invoke(
        cli_app, ["import", str(path), "--layer", "dem", "--vertical-datum", "N2000"]
    )
    assert got.exit_code == 0, got.output
    assert "8 x 6 cells" in got.output and "vertical datum: N2000" in got.output
    again = runner.invoke(cli_app, ["import", str(path), "--layer", "dem"])
    assert again.exit_code == 0 and "replaced" in again.output
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM terrain")).scalar_one() == 1
    bare = write_tif(tmp_path / "bare.tif", _ramp(), crs=None)
    refused = runner.invoke(cli_app, ["import", str(bare), "--layer", "dem"])
    assert refused.exit_code != 0 and "--crs" in refused.output


def test_migration_down_and_up(db_url: str, engine: Engine, tmp_path: Path) -> None:
    from alembic import command

    from geodata.db import alembic_config

    import_dem(engine, write_tif(tmp_path / "ramp.tif", _ramp(), nodata=NODATA))
    engine.dispose()
    command.downgrade(alembic_config(db_url), "0012")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT to_regclass('terrain')")).scalar() is None
    command.upgrade(alembic_config(db_url), "head")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM terrain")).scalar_one() == 0


def test_the_demo_terrain_passes_through_the_osm_spot_heights(engine: Engine) -> None:
    from geodata.crs import transformer
    from geodata.demo.district import helsinki_pbf
    from geodata.demo.terrain import TERRAIN_SOURCE, _read_osm, load_terrain
    from geodata.working_crs import set_working_crs

    with helsinki_pbf() as pbf, engine.begin() as conn:
        set_working_crs(conn, 3067)
        result = load_terrain(conn, pbf, 3067)
        spots, coast = _read_osm(pbf)
    assert result.spot_heights == len(spots) >= 80 and coast
    dem = load_dem(engine)
    assert dem is not None and dem.synthetic and dem.source == TERRAIN_SOURCE
    assert "N2000" in dem.vertical_datum and dem.resolution == (2.0, 2.0)
    x, y = transformer(4326, 3067).transform([s[0] for s in spots], [s[1] for s in spots])
    got = heights_at(engine, np.column_stack([x, y]))
    assert got is not None
    inside = np.isfinite(got)  # a way's centre may fall outside the extract's box
    assert inside.mean() > 0.95
    got, ele = got[inside], np.array([s[2] for s in spots])[inside]
    # linear interpolation passes through its data points (a cell's bilinear sample of them
    # is within a few decimetres); spots in the sea band are set to the sea's 0 m
    on_land = got > 0
    assert on_land.mean() > 0.8
    assert np.median(np.abs(got[on_land] - ele[on_land])) < 0.5
    assert float(np.nanmin(dem.z)) == 0.0  # the sea


def test_float32_lowest_nodata_is_nodata(engine: Engine, tmp_path: Path) -> None:
    """GDAL's usual float nodata, the lowest float32, survives the float32 round trip."""
    low = float(np.finfo(np.float32).min)
    z = np.ones((3, 3))
    z[0, 0] = low
    report = import_dem(engine, write_tif(tmp_path / "low.tif", z, nodata=low))
    assert report.nodata_cells == 1 and report.min_z == 1.0
    dem = load_dem(engine)
    assert dem is not None and np.isnan(dem.z[0, 0]) and np.nansum(dem.z) == 8.0


def test_the_terrain_route_gives_heights_on_a_lonlat_grid(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    """GET /api/terrain: 404 naming the import without a DEM; then, on a plane DEM, the
    heights at the grid's nodes are the plane's where they fall on it and null off it, rows
    from the north."""
    from fastapi.testclient import TestClient

    from geodata.crs import transformer
    from twin.app import create_app

    with TestClient(create_app(settings, engine=engine)) as client:
        r = client.get("/api/terrain")
        assert r.status_code == 404 and "--layer dem" in r.text
        rows, cols = np.indices((100, 100))
        z = 5 + 0.2 * (cols + 0.5) + 0.1 * (rows + 0.5)  # rising east and south
        import_dem(engine, write_tif(tmp_path / "plane.tif", z, cell=2.0))
        to_ll = transformer(3067, 4326)
        lon0, lat0 = to_ll.transform(X0 + 10, Y0 - 190)
        lon1, lat1 = to_ll.transform(X0 + 190, Y0 - 10)
        r = client.get("/api/terrain", params={"bbox": f"{lon0},{lat0},{lon1},{lat1}", "size": 9})
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["synthetic"] is False and doc["resolution_m"] == 2.0
        assert doc["width"] * doc["height"] == len(doc["heights"]) and doc["width"] >= 2
        to_xy = transformer(4326, 3067)
        w, h = doc["width"], doc["height"]
        for k in (0, w - 1, w * (h - 1), len(doc["heights"]) - 1, (h // 2) * w + w // 2):
            lon = lon0 + (lon1 - lon0) * (k % w) / (w - 1)
            lat = lat1 - (lat1 - lat0) * (k // w) / (h - 1)
            x, y = to_xy.transform(lon, lat)
            want = 5 + 0.1 * (x - X0) + 0.05 * (Y0 - y)
            assert doc["heights"][k] == pytest.approx(want, abs=0.011), k
        whole = client.get("/api/terrain", params={"size": 4}).json()
        assert None in whole["heights"]  # the lon/lat box of a square DEM overhangs it
        assert client.get("/api/terrain", params={"size": 1}).status_code == 400
        assert client.get("/api/terrain", params={"bbox": "1,2,3"}).status_code == 400
