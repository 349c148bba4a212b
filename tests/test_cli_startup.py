"""The ``twin`` process itself: what loading the command costs, and how it ends.

Each test runs a real ``twin`` in a subprocess, because what is measured (which modules a
fresh interpreter loads, the allocator pyarrow picks, how the process exits) is per process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.import_data import HELSINKI_LONLAT, feature, project, rect, rows, write_geojson

ROOT = Path(__file__).resolve().parent.parent
X, Y = project(*HELSINKI_LONLAT, 3067)


def _python(code: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWIN_")}
    env.pop("ARROW_DEFAULT_MEMORY_POOL", None)
    env.update({"TWIN_DATA_DIR": str(tmp_path / "var"), "PYTHONPATH": str(ROOT), **extra})
    return env


def test_loading_the_command_loads_no_database_gdal_tiles_or_server(tmp_path: Path) -> None:
    """``twin --help`` and the start of every command pay for Typer and rich only: the
    command modules import what they need when they run."""
    heavy = [
        "sqlalchemy",
        "pydantic",
        "pyproj",
        "numpy",
        "pandas",
        "pyarrow",
        "pyogrio",
        "tiles",
        "fastapi",
        "uvicorn",
    ]
    code = (
        f"import sys, twin.cli; print(' '.join(m for m in {heavy!r} if m in sys.modules) or 'none')"
    )
    done = _python(code, _env(tmp_path), tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "none"


def test_an_ogr_import_loads_no_sqlalchemy_and_no_other_readers_libraries(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    """``twin import`` checks the schema, imports (reading its ground too: rasterio only with a
    DEM to decode) and records its audit entry through psycopg alone (geodata.pg); the reader
    registry imports every reader module to read its endings, so a reader module imports its
    format's library when it reads (lxml for CityGML, pyosmium for OSM); the settings' rate
    checks import limits only for a rate given in the environment."""
    path = write_geojson(
        tmp_path / "houses.geojson",
        [feature(rect(X, Y), gml_id="a", height=12)],
        crs="urn:ogc:def:crs:EPSG::3067",
    )
    unneeded = ["sqlalchemy", "rasterio", "lxml", "osmium", "limits"]
    code = (
        "import sys; from twin.cli import app; sys.argv = ['twin', *sys.argv[1:]]\n"
        "try:\n    app()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        f"print('loaded:', ' '.join(m for m in {unneeded!r} if m in sys.modules) or 'none')"
    )
    env = _env(tmp_path, TWIN_DATABASE_URL=db_url)
    done = subprocess.run(
        [sys.executable, "-c", code, "import", str(path), "--layer", "buildings"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "loaded: none"
    assert rows(engine, "SELECT count(*) FROM buildings WHERE source = 'houses'") == [(1,)]
    assert rows(engine, "SELECT kind, target, detail->>'imported' FROM audit_log") == [
        ("import", "houses.geojson", "1")
    ]


def test_commands_run_arrow_on_the_system_allocator(tmp_path: Path) -> None:
    """mimalloc, pyarrow's default, keeps freed batches' pages and adds 25 to 35 MB to an
    import's peak; a user's own ARROW_DEFAULT_MEMORY_POOL still wins."""
    code = (
        "import sys; from twin.cli import app; sys.argv = ['twin', 'tiles', 'list']\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "import pyarrow as pa; print(pa.default_memory_pool().backend_name)"
    )
    done = _python(code, _env(tmp_path), tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "system"

    mine = _python(code, _env(tmp_path, ARROW_DEFAULT_MEMORY_POOL="mimalloc"), tmp_path)
    assert mine.stdout.strip().splitlines()[-1] == "mimalloc"


@pytest.mark.parametrize("piped", [True, False])
def test_import_ends_quickly_with_its_output_and_status(
    db_url: str, engine: Engine, tmp_path: Path, piped: bool
) -> None:
    """The ``twin`` script ends an import without the interpreter's teardown: the summary
    still reaches a pipe or a file, the exit status is kept, and an error still exits 1
    with its one line."""
    path = write_geojson(
        tmp_path / "houses.geojson",
        [feature(rect(X, Y), gml_id="a", height=12), feature(rect(X + 40, Y), gml_id="b")],
        crs="urn:ogc:def:crs:EPSG::3067",
    )
    env = _env(tmp_path, TWIN_DATABASE_URL=db_url, COLUMNS="200")
    # an atexit hook shows whether the interpreter was torn down
    script = (
        "import atexit, sys; from twin.cli import main; sys.argv = ['twin', *sys.argv[1:]]; "
        "atexit.register(lambda: print('torn down', file=sys.stderr)); main()"
    )
    argv = [sys.executable, "-c", script, "import", str(path), "--layer", "buildings"]
    if piped:
        done = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True)
        out, err = done.stdout, done.stderr
    else:
        with (tmp_path / "out.txt").open("w") as o, (tmp_path / "err.txt").open("w") as e:
            done = subprocess.run(argv, env=env, cwd=tmp_path, stdout=o, stderr=e, text=True)
        out, err = (tmp_path / "out.txt").read_text(), (tmp_path / "err.txt").read_text()
    assert done.returncode == 0, err
    assert "torn down" not in err
    assert "read 2, imported 2 (new 2, updated 0, unchanged 0)" in out
    assert out.rstrip().endswith("default")  # the last line too
    assert rows(engine, "SELECT count(*) FROM buildings WHERE source = 'houses'") == [(2,)]

    bad = [sys.executable, "-c", script, "import", str(tmp_path / "nope.gpkg"), "--layer", "x"]
    refused = subprocess.run(bad, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert refused.returncode == 1
    assert "error: unknown layer 'x'" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert "torn down" in refused.stderr  # only a command that succeeded skips the teardown


def test_a_command_alone_is_the_same_command_as_in_the_whole_app() -> None:
    """``twin X`` builds only X (:func:`twin.cli.invoked`): its help, for every command and
    group, is word for word the whole app's, and anything that names no command gets the
    whole app (its help lists every command; an unknown name is refused by it)."""
    from typer.main import get_command
    from typer.testing import CliRunner

    from twin.cli import app, invoked

    runner = CliRunner()
    whole = get_command(app)
    names = sorted(whole.commands)  # type: ignore[attr-defined]
    assert {"import", "tiles", "analyse", "serve", "demo"} <= set(names)
    for name in names:
        only = invoked(["twin", name])
        assert only is not app
        assert len(only.registered_commands) + len(only.registered_groups) == 1, name
        alone = runner.invoke(only, [name, "--help"], prog_name="twin")
        full = runner.invoke(app, [name, "--help"], prog_name="twin")
        assert alone.exit_code == full.exit_code == 0, (name, alone.output)
        assert alone.output == full.output, name
    for argv in (["twin"], ["twin", "--help"], ["twin", "-v", "import"], ["twin", "nope"]):
        assert invoked(argv) is app
    refused = runner.invoke(app, ["nope"], prog_name="twin")
    assert refused.exit_code == 2 and "No such command 'nope'" in refused.output
