"""The twin stands on its terrain (:mod:`geodata.grounding`): heights no file gave come from
the DEM, by one rule, whether the DEM was there before the import or came after it.

Known answers on a plane DEM, z = 10 + 0.1 (x - X0) + 0.05 (Y0 - y), 1 m cells: a building's
base is the plane's lowest value over its footprint (its corner nearest X0 and Y0), a bench
stands on the plane, a pipe lies at the plane minus its cover depth at every vertex. Heights
the file gave (a Z, a mapped base) stay; features off the DEM keep the flat default; a second
DEM moves what the first placed, and only that reaches the tiles' change log.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely
from sqlalchemy import Engine, text

from geodata.importers.dem import import_dem
from geodata.importers.pipeline import run_import
from tests.flood_support import X0, Y0, write_tif
from tests.import_data import feature, rect, write_geojson

N = 200  # the DEM: N x N cells of 1 m from (X0, Y0) down and right


def plane(x: float, y: float, lift: float = 0.0) -> float:
    return 10.0 + lift + 0.1 * (x - X0) + 0.05 * (Y0 - y)


def _dem(tmp_path: Path, lift: float = 0.0, name: str = "plane") -> Path:
    rows, cols = np.indices((N, N))
    z = plane(X0 + cols + 0.5, Y0 - rows - 0.5, lift)  # cell centres
    return write_tif(tmp_path / f"{name}.tif", z)


#: footprints (lower-left corner in metres from (X0, Y0 - 150)); the first two on the DEM
ON, SLOPE, OFF = (50.0, 30.0), (120.0, 60.0), (-500.0, 0.0)


def _buildings(tmp_path: Path, name: str = "b") -> Path:
    feats = [
        feature(rect(X0 + ON[0], Y0 - 150 + ON[1]), "on", height=10),
        feature(rect(X0 + SLOPE[0], Y0 - 150 + SLOPE[1], 30, 30, 20), "slope", height=10),
        feature(rect(X0 + OFF[0], Y0 - 150 + OFF[1]), "off", height=10),
        feature(rect(X0 + 10, Y0 - 40), "given", height=10, base_z=3.5),
    ]
    return write_geojson(tmp_path / f"{name}.geojson", feats, "EPSG:3067")


def _lowest(poly: shapely.Polygon) -> float:
    return min(plane(x, y) for x, y in poly.exterior.coords)


def _bases(engine: Engine, source: str) -> dict[str, tuple[float, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT source_id, base_z, z_source FROM buildings WHERE source = :s"),
            {"s": source},
        ).all()
    return {r[0]: (r[1], r[2]) for r in rows}


def _expected_bases() -> dict[str, tuple[float, str]]:
    on = rect(X0 + ON[0], Y0 - 150 + ON[1])
    slope = rect(X0 + SLOPE[0], Y0 - 150 + SLOPE[1], 30, 30, 20)
    return {
        "on": (_lowest(on), "dem"),
        "slope": (_lowest(slope), "dem"),
        "off": (0.0, "default"),
        "given": (3.5, "source"),
    }


def _same(got: dict[str, tuple[float, str]], want: dict[str, tuple[float, str]]) -> None:
    assert got.keys() == want.keys()
    for k, (z, src) in want.items():
        assert got[k][1] == src, k
        assert got[k][0] == pytest.approx(z, abs=1e-6), k


def test_a_dem_import_rebases_the_buildings_already_there(engine: Engine, tmp_path: Path) -> None:
    run_import(engine, _buildings(tmp_path), layer="buildings", source="b")
    before = _bases(engine, "b")
    assert before["on"] == (0.0, "default") and before["given"] == (3.5, "source")
    report = import_dem(engine, _dem(tmp_path))
    assert report.rebased == {"buildings": 2}
    assert any("re-based on the terrain: 2 buildings" in line for line in report.lines())
    _same(_bases(engine, "b"), _expected_bases())


def test_buildings_imported_onto_a_dem_get_the_same_bases(engine: Engine, tmp_path: Path) -> None:
    import_dem(engine, _dem(tmp_path))
    run_import(engine, _buildings(tmp_path), layer="buildings", source="after")
    _same(_bases(engine, "after"), _expected_bases())


def test_a_second_dem_moves_only_what_the_first_placed(engine: Engine, tmp_path: Path) -> None:
    run_import(engine, _buildings(tmp_path), layer="buildings", source="b")
    import_dem(engine, _dem(tmp_path), source="terrain")
    with engine.connect() as conn:
        mark = conn.execute(text("SELECT pg_current_snapshot()::text")).scalar_one()
    report = import_dem(engine, _dem(tmp_path, lift=5.0), source="terrain")
    assert report.rebased == {"buildings": 2}
    want = _expected_bases()
    want["on"] = (want["on"][0] + 5.0, "dem")
    want["slope"] = (want["slope"][0] + 5.0, "dem")
    _same(_bases(engine, "b"), want)
    with engine.connect() as conn:
        logged = conn.execute(
            text(
                "SELECT b.source_id FROM tile_changes c JOIN buildings b ON b.id = c.id "
                "WHERE c.tbl = 'buildings' AND c.txid >= pg_snapshot_xmax(CAST(:m AS pg_snapshot)) "
                "ORDER BY 1"
            ),
            {"m": mark},
        ).scalars()
        assert list(logged) == ["on", "slope"]  # not "off", not "given"
    # the same DEM again moves nothing
    assert import_dem(engine, _dem(tmp_path, lift=5.0), source="terrain").rebased == {}


def test_points_stand_on_the_ground_and_pipes_lie_under_it(engine: Engine, tmp_path: Path) -> None:
    line = shapely.LineString([(X0 + 20, Y0 - 20), (X0 + 60, Y0 - 90), (X0 + 150, Y0 - 30)])
    pipes = write_geojson(
        tmp_path / "pipes.geojson",
        [
            feature(line, "p", network="water", depth_m=1.5),
            feature(
                shapely.LineString([(X0 + 20, Y0 - 20, -4), (X0 + 30, Y0 - 20, -4)]),
                "z",
                network="gas",
            ),
            feature(
                shapely.LineString([(X0 + 20, Y0 - 20), (X0 - 90, Y0 - 20)]),
                "out",
                network="telecom",
                depth_m=0.5,
            ),
        ],
        "EPSG:3067",
    )
    bench = shapely.Point(X0 + 33, Y0 - 44)
    benches = write_geojson(
        tmp_path / "benches.geojson", [feature(bench, "bench", kind="bench")], "EPSG:3067"
    )
    pois = write_geojson(
        tmp_path / "pois.geojson", [feature(bench, "view", name="View")], "EPSG:3067"
    )
    run_import(engine, pipes, layer="networks", source="pipes")
    import_dem(engine, _dem(tmp_path))
    run_import(engine, benches, layer="furniture", source="benches")  # after the DEM
    run_import(engine, pois, layer="pois", source="pois")

    def rows(table: str) -> dict[str, tuple[list[tuple[float, ...]], str]]:
        with engine.connect() as conn:
            got = conn.execute(
                text(f"SELECT source_id, ST_AsBinary(geom), z_source FROM {table}")
            ).all()
        return {
            r[0]: (
                shapely.get_coordinates(shapely.from_wkb(bytes(r[1])), include_z=True).tolist(),
                r[2],
            )
            for r in got
        }

    seg = rows("network_segments")
    coords, src = seg["p"]
    assert src == "dem"
    for x, y, z in coords:
        assert z == pytest.approx(plane(x, y) - 1.5, abs=1e-6)
    assert seg["z"][1] == "source" and {c[2] for c in seg["z"][0]} == {-4.0}
    assert seg["out"][1] == "default" and {c[2] for c in seg["out"][0]} == {-0.5}
    for table in ("furniture", "pois"):
        [(x, y, z)], src = next(iter(rows(table).values()))
        assert src == "dem" and z == pytest.approx(plane(x, y), abs=1e-6), table


def test_the_migration_says_where_existing_heights_came_from(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    from alembic import command

    from geodata.db import alembic_config

    run_import(engine, _buildings(tmp_path), layer="buildings", source="b")
    engine.dispose()
    command.downgrade(alembic_config(db_url), "0016")
    command.upgrade(alembic_config(db_url), "head")
    assert {k: v[1] for k, v in _bases(engine, "b").items()} == {
        "on": "default",
        "slope": "default",
        "off": "default",
        "given": "source",
    }
