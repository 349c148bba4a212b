"""The pipeline's public entry for any reader (``import_reader``, in the caller's transaction),
a third-party reader loaded by dotted path, and the one reprojection step of every layer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import shapely
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from geodata.errors import ImportFailed, InputError
from geodata.importers import ImportOptions, Reader, SourceBatch, import_reader, run_import
from geodata.importers.layers import IMPORT_LAYERS
from tests.import_data import HELSINKI_LONLAT, LYON_LONLAT, project, rect, rows
from twin.cli import app
from twin.settings import Settings

HX, HY = project(*HELSINKI_LONLAT, 3067)
LX, LY = project(*LYON_LONLAT, 2154)


class MemoryReader(Reader):
    """Features made in memory: what the demo district's generator hands the pipeline."""

    name = "memory"

    def __init__(
        self,
        layer: str,
        geoms: list[shapely.Geometry],
        props: dict[str, list[Any]],
        *,
        crs: int = 3067,
        attrs: list[str] | None = None,
    ) -> None:
        super().__init__(Path("<generated>"), layer)
        self.geoms, self.props, self.crs, self.attrs = geoms, props, crs, attrs

    def open(self) -> None:
        pass

    def source_crs(self) -> int | None:
        return self.crs

    def count(self) -> int | None:
        return len(self.geoms)

    def batches(self, size: int) -> Iterator[SourceBatch]:
        n = len(self.geoms)
        yield SourceBatch(
            geoms=np.array(shapely.to_wkb(self.geoms), dtype=object),
            props=pd.DataFrame(self.props, index=range(n)),
            ids=np.array([f"m{i}" for i in range(n)], dtype=object),
            where=np.array([f"item {i}" for i in range(n)], dtype=object),
            attrs=None if self.attrs is None else np.array(self.attrs, dtype=object),
        )


class PointsReader(Reader):
    """A third-party format: ``id;x;y;kind`` lines in EPSG:3067, loaded by dotted path."""

    name = "points"
    suffixes = (".pts",)

    def open(self) -> None:
        if not self.path.is_file():
            raise ImportFailed(f"{self.path}: no such file")
        self.lines = [ln.split(";") for ln in self.path.read_text().splitlines() if ln]

    def source_crs(self) -> int | None:
        return 3067

    def count(self) -> int | None:
        return len(self.lines)

    def batches(self, size: int) -> Iterator[SourceBatch]:
        ids = np.array([ln[0] for ln in self.lines], dtype=object)
        points = shapely.points([(float(ln[1]), float(ln[2])) for ln in self.lines])
        yield SourceBatch(
            geoms=np.array(shapely.to_wkb(points), dtype=object),
            props=pd.DataFrame({"kind": [ln[3] for ln in self.lines]}),
            ids=ids,
            where=np.array([f"line {i + 1}" for i in range(len(ids))], dtype=object),
        )


@pytest.fixture
def options(settings: Settings) -> ImportOptions:
    return ImportOptions.from_settings(settings, working_crs="EPSG:3067")


def test_networks_and_nodes_go_in_inside_the_callers_transaction(
    engine: Engine, options: ImportOptions
) -> None:
    pipe = shapely.LineString([(HX, HY), (HX + 50, HY)])
    deep = shapely.LineString([(HX, HY + 5, -3.0), (HX + 50, HY + 5, -3.5)])
    with engine.begin() as conn:
        segments = import_reader(
            conn,
            MemoryReader(
                "networks",
                [pipe, deep],
                {"network": ["water", "gas"], "depth_m": [None, 3.0], "synthetic": [True, True]},
                attrs=['{"note":"generated"}', "{}"],
            ),
            layer="networks",
            options=options,
            source="gen",
        )
        nodes = import_reader(
            conn,
            MemoryReader(
                "network-nodes",
                [shapely.Point(HX, HY), shapely.Point(HX + 50, HY)],
                {"network": ["water", "water"], "kind": ["valve", "hydrant"], "depth_m": [1.2, 0]},
            ),
            layer="network-nodes",
            options=options,
            source="gen",
        )
        # not committed yet: the caller's transaction sees the rows
        assert conn.execute(text("SELECT count(*) FROM network_nodes")).scalar_one() == 2
    assert (segments.inserted, nodes.inserted) == (2, 2)
    got = {
        r[0]: r[1:]
        for r in rows(
            engine,
            "SELECT source_id, depth_m, ST_Z(ST_StartPoint(geom)), synthetic, attrs "
            "FROM network_segments",
        )
    }
    # a 2D pipe lies at z = -depth (the water default here); a 3D one keeps its Z
    assert got["m0"] == (1.2, -1.2, True, {"note": "generated", "depth_source": "assumed"})
    assert got["m1"][:3] == (3.0, -3.0, True)
    assert rows(engine, "SELECT kind, ST_Z(geom) FROM network_nodes ORDER BY kind") == [
        ("hydrant", 0.0),
        ("valve", -1.2),
    ]


def test_a_failed_import_leaves_the_callers_transaction_to_roll_back(
    engine: Engine, options: ImportOptions
) -> None:
    with pytest.raises(ImportFailed, match="unknown network"), engine.begin() as conn:
        import_reader(
            conn,
            MemoryReader(
                "networks", [shapely.LineString([(HX, HY), (HX + 9, HY)])], {"network": ["x"]}
            ),
            layer="networks",
            options=options,
        )
    assert rows(engine, "SELECT count(*) FROM network_segments") == [(0,)]


def test_scenario_buildings_replace_baseline_ones_and_re_import_in_place(
    engine: Engine, options: ImportOptions
) -> None:
    run = lambda reader, **kw: import_reader(  # noqa: E731
        conn, reader, layer="buildings", source="project", options=kw.pop("opts"), **kw
    )
    with engine.begin() as conn:
        base = run(MemoryReader("buildings", [rect(HX, HY)], {"height": [12.0]}), opts=options)
        baseline_id = conn.execute(text("SELECT id FROM buildings")).scalar_one()
        scenario = conn.execute(
            text("INSERT INTO scenarios (slug, name) VALUES ('s', 'S') RETURNING id")
        ).scalar_one()
    opts = replace(options, scenario_id=scenario, prune=True)
    new = {"height": [20.0, 9.0], "replaces_id": [baseline_id, None], "name": ["A", "B"]}
    geoms = [rect(HX, HY), rect(HX + 40, HY)]
    with engine.begin() as conn:
        first = run(MemoryReader("buildings", geoms, new), opts=opts)
    with engine.begin() as conn:
        again = run(
            MemoryReader(
                "buildings",
                geoms[:1],
                {"height": [20.0], "replaces_id": [baseline_id], "name": ["A2"]},
            ),
            opts=opts,
        )
    assert base.inserted == 1 and first.inserted == 2
    assert (again.inserted, again.updated, again.deleted) == (0, 1, 1)
    assert rows(
        engine, "SELECT name, height, replaces_id, scenario_id FROM buildings ORDER BY id"
    ) == [(None, 12.0, None, None), ("A2", 20.0, baseline_id, scenario)]


def test_a_reader_registered_by_dotted_path(
    engine: Engine,
    options: ImportOptions,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "lamps.pts"
    path.write_text(f"a;{HX};{HY};lamp\nb;{HX + 5};{HY};bench\n")
    report = run_import(
        engine,
        path,
        layer="furniture",
        reader="tests.test_import_reader:PointsReader",
        options=options,
    )
    assert (report.reader, report.inserted) == ("points", 2)
    monkeypatch.setenv("TWIN_DATABASE_URL", db_url)
    monkeypatch.setenv("TWIN_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("COLUMNS", "500")
    monkeypatch.chdir(tmp_path)
    cli = ["import", str(path), "--layer", "furniture"]
    result = CliRunner().invoke(app, [*cli, "--reader", "tests.test_import_reader.PointsReader"])
    assert result.exit_code == 0, result.output
    assert "unchanged 2" in result.output
    with pytest.raises(InputError, match="no Reader subclass named 'Nope'"):
        run_import(engine, path, layer="furniture", reader="tests.test_import_reader:Nope")
    with pytest.raises(ImportFailed, match="unknown file type"):
        run_import(engine, path, layer="furniture")


#: a source geometry per layer, built from a point in the source CRS
SHAPES = {
    "buildings": lambda x, y: rect(x, y, 0.0002 * _scale(x), 0.0001 * _scale(x)),
    "networks": lambda x, y: shapely.LineString([(x, y), (x + 0.0005 * _scale(x), y)]),
    "network-nodes": lambda x, y: shapely.Point(x, y),
    "furniture": lambda x, y: shapely.Point(x, y),
    "pois": lambda x, y: shapely.Point(x, y),
    "ground": lambda x, y: rect(x, y, 0.0002 * _scale(x), 0.0001 * _scale(x)),
}
PROPS = {
    "buildings": {},
    "networks": {"network": ["water"], "depth_m": [2.0]},
    "network-nodes": {"network": ["gas"], "kind": ["valve"], "depth_m": [2.0]},
    "furniture": {"kind": ["bench"]},
    "pois": {"name": ["here"]},
    "ground": {"kind": ["park"]},
}
TABLE_GEOM = {
    "buildings": "footprint",
    "networks": "geom",
    "network-nodes": "geom",
    "furniture": "geom",
    "pois": "geom",
    "ground": "geom",
}


def _scale(x: float) -> float:
    return 1.0 if abs(x) < 360 else 100_000.0  # degrees or metres


def _sources() -> list[tuple[int, float, float]]:
    lon, lat = LYON_LONLAT
    return [
        (4326, lon, lat),
        (2154, LX, LY),
        (3946, *project(lon, lat, 3946)),
        (32631, *project(lon, lat, 32631)),  # UTM 31N: Lyon must lie where the CRS is used
    ]


@pytest.mark.parametrize("src,x,y", _sources(), ids=lambda v: str(v) if isinstance(v, int) else "")
def test_every_layer_is_reprojected_by_its_to_stored_step(
    engine: Engine, settings: Settings, src: int, x: float, y: float
) -> None:
    """Each layer's stored geometry is its source reprojected to the working CRS, as PostGIS's
    own ST_Transform (the same PROJ) would place it, to the millimetre; depths become Z."""
    options = ImportOptions.from_settings(settings, working_crs="EPSG:2154")
    expected = {}
    with engine.begin() as conn:
        for layer in IMPORT_LAYERS:
            shape = SHAPES[layer](x, y)
            reader = MemoryReader(layer, [shape], PROPS[layer], crs=src)
            import_reader(conn, reader, layer=layer, options=options, source=f"s{src}")
            expected[layer] = conn.execute(
                text("SELECT ST_AsText(ST_Transform(ST_SetSRID(ST_GeomFromText(:w), :s), 2154))"),
                {"w": shape.wkt, "s": src},
            ).scalar_one()
    for layer, wkt in expected.items():
        table = IMPORT_LAYERS[layer].table
        (stored, srid) = rows(
            engine,
            f"SELECT ST_AsText({TABLE_GEOM[layer]}), ST_SRID({TABLE_GEOM[layer]}) FROM {table}",
        )[0]
        assert srid == 2154
        got = shapely.from_wkt(stored)
        want = shapely.from_wkt(wkt)
        xy = shapely.get_coordinates(got)
        assert np.allclose(xy, shapely.get_coordinates(want), atol=1e-3), layer
        if layer in ("networks", "network-nodes"):
            assert np.allclose(shapely.get_coordinates(got, include_z=True)[:, 2], -2.0), layer
        elif layer in ("furniture", "pois"):
            assert shapely.has_z(got), layer
        else:
            assert not shapely.has_z(got), layer


def test_a_reader_documents_attrs_are_kept_under_the_left_overs(
    engine: Engine, options: ImportOptions
) -> None:
    with engine.begin() as conn:
        import_reader(
            conn,
            MemoryReader(
                "pois",
                [shapely.Point(HX, HY)],
                {"name": ["x"], "colour": ["red"]},
                attrs=[json.dumps({"colour": "blue", "note": "n"})],
            ),
            layer="pois",
            options=options,
        )
    assert rows(engine, "SELECT attrs FROM pois") == [({"colour": "red", "note": "n"},)]
