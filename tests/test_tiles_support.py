"""Shared fixtures of the tiles tests (imported by the other test_tiles_* modules), and the
tests that prove the checking tools themselves catch broken files.

The Khronos glTF-Validator runs from tools/gltf-check (a small Node project); when its
node_modules are missing the fixture installs them with ``npm ci`` from the lock file.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine

from geodata.working_crs import set_working_crs
from tiles.extrude import extrude
from tiles.frames import Frame
from tiles.gltf import GltfBuilder, read_glb

ROOT = Path(__file__).resolve().parent.parent
GLTF_CHECK = ROOT / "tools" / "gltf-check"

Validator = Callable[[list[Path]], list[dict[str, Any]]]


def _ensure_node_modules() -> None:
    if (GLTF_CHECK / "node_modules" / "gltf-validator").exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed: run `make setup` (installs Node.js and npm)")
    proc = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=GLTF_CHECK,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"npm ci in {GLTF_CHECK} failed:\n{proc.stderr[-2000:]}")


@pytest.fixture(scope="session")
def gltf_validator() -> Validator:
    """validate(paths) -> one report per file: {file, errors, warnings, infos, messages}."""
    _ensure_node_modules()
    node = shutil.which("node")
    assert node, "node is not installed: run `make setup`"

    def validate(paths: list[Path]) -> list[dict[str, Any]]:
        reports: list[dict[str, Any]] = []
        paths = [Path(p) for p in paths]
        for i in range(0, len(paths), 200):
            chunk = paths[i : i + 200]
            proc = subprocess.run(
                [node, str(GLTF_CHECK / "validate.mjs"), "--stdin-list"],
                input="\n".join(str(p) for p in chunk),
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert proc.returncode in (0, 1), proc.stderr
            reports += json.loads(proc.stdout)["files"]
        return reports

    return validate


def assert_valid_glbs(validate: Validator, paths: list[Path]) -> None:
    assert paths, "no GLB to validate"
    bad = [r for r in validate(paths) if r["errors"] or r["warnings"]]
    assert not bad, json.dumps(bad[:3], indent=1)


@pytest.fixture
def helsinki(engine: Engine) -> Iterator[Engine]:
    """A twin whose working CRS is EPSG:3067 (Helsinki)."""
    with engine.begin() as conn:
        set_working_crs(conn, 3067)
    yield engine


# -- the tools catch broken files --------------------------------------------------------------
def _box_glb() -> bytes:
    import shapely

    frame = Frame.at(3067, 385000, 6672000)
    mesh = extrude(
        frame,
        [shapely.to_wkb(shapely.box(385000, 6672000, 385010, 6672010))],
        np.array([0.0]),
        np.array([5.0]),
        np.array([0]),
    )
    gb = GltfBuilder()
    mat = gb.material("m", (1, 1, 1, 1))
    from tiles import metadata

    table = metadata.property_table(
        gb,
        "furniture",
        {
            "id": [1],
            "layer": ["x"],
            "kind": ["bench"],
            "height": [1.0],
            "heading": [None],
            "name": [None],
            "source_id": ["a"],
        },
        1,
    )
    prim = mesh.primitive(gb, mat, 1, 0)
    gb.z_up_root([gb.node({"mesh": gb.mesh([prim])})])
    metadata.attach(gb, [table], ["furniture"])
    return gb.glb()


def test_validator_passes_our_glb_and_catches_a_broken_one(
    gltf_validator: Validator, tmp_path: Path
) -> None:
    good = tmp_path / "good.glb"
    good.write_bytes(_box_glb())
    doc, binary = read_glb(good.read_bytes())
    # break it: an index pointing past the vertices
    acc = doc["accessors"][doc["meshes"][0]["primitives"][0]["indices"]]
    bv = doc["bufferViews"][acc["bufferView"]]
    patched = bytearray(binary)
    struct.pack_into("<H", patched, bv["byteOffset"], 60000)
    js = json.dumps(doc).encode()
    js += b" " * (-len(js) % 4)
    blob = bytes(patched)
    bad = tmp_path / "bad.glb"
    bad.write_bytes(
        struct.pack("<III", 0x46546C67, 2, 28 + len(js) + len(blob))
        + struct.pack("<II", len(js), 0x4E4F534A)
        + js
        + struct.pack("<II", len(blob), 0x004E4942)
        + blob
    )
    good_r, bad_r = gltf_validator([good, bad])
    assert good_r["errors"] == 0 and good_r["warnings"] == 0, good_r["messages"]
    assert bad_r["errors"] > 0
