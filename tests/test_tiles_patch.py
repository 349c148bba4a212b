"""Patching many buildings tiles in one pass (incremental builds): each tile patched in a
batch equals the same tile patched alone and the tile a full build makes of its rows, feature
by feature; a damaged previous file in a batch is named. No database: rows are made here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely

from geodata.errors import TileBuildError
from tiles.frames import Frame, FrameSet
from tiles.gltf import read_accessor, read_glb
from tiles.kinds import KINDS
from tiles.kinds.base import PatchInput
from tiles.kinds.buildings import BuildingOptions, BuildingRow
from tiles.layout import CONTENT_DIR, content_uri
from tiles.metadata import read_property_table
from tiles.tiletask import Patch, PatchBatch, Task, digest, make_patches

KIND = KINDS["buildings"]
OPTIONS = BuildingOptions("buildings")
X0, Y0 = 385000.0, 6672000.0


def _cube(x: float, y: float, s: float) -> bytes:
    """LoD2 faces of a cube of side ``s`` (MultiPolygonZ, outward rings)."""
    c = [(x + dx * s, y + dy * s, dz * s) for dz in (0, 1) for dy in (0, 1) for dx in (0, 1)]
    quads = [(0, 2, 3, 1), (4, 5, 7, 6), (0, 1, 5, 4), (2, 6, 7, 3), (0, 4, 6, 2), (1, 3, 7, 5)]
    return shapely.to_wkb(shapely.MultiPolygon([shapely.Polygon([c[i] for i in q]) for q in quads]))


def _row(i: int, height: float = 10.0, *, lod2: bool = False) -> BuildingRow:
    x, y = X0 + (i % 20) * 40, Y0 + (i // 20) * 40
    if i % 3:
        shape = shapely.box(x, y, x + 12, y + 9)
    else:  # an L: not convex, through earcut
        shape = shapely.Polygon(
            [(x, y), (x + 20, y), (x + 20, y + 8), (x + 8, y + 8), (x + 8, y + 20), (x, y + 20)]
        )
    return BuildingRow(
        i,
        shapely.to_wkb(shape),
        2.0,
        height,
        3,
        "résidentiel" if i % 4 == 0 else "residential",  # non-ASCII strings too
        "flat",
        1900 + i,
        None if i % 2 else f"n{i}",
        str(i),
        None,
        None,
        _cube(x, y, 6.0) if lod2 else None,
    )


def _features(glb: bytes, frame: Frame) -> dict[int, tuple[dict[str, Any], np.ndarray]]:
    """Every feature of a tile by id: its properties and its vertices in ECEF, in order."""
    doc, binary = read_glb(glb)
    prim = doc["meshes"][0]["primitives"][0]
    pos = read_accessor(doc, binary, prim["attributes"]["POSITION"]).astype(np.float64)
    fid = read_accessor(doc, binary, prim["attributes"]["_FEATURE_ID_0"])
    ecef = pos @ frame.rotation.T + frame.origin
    table = read_property_table(doc, binary, 0)
    return {
        table["id"][i]: ({k: v[i] for k, v in table.items()}, ecef[fid == i])
        for i in range(len(table["id"]))
    }


def _assert_same(got: bytes, want: bytes, frame: Frame) -> None:
    a, b = _features(got, frame), _features(want, frame)
    assert sorted(a) == sorted(b)
    for key, (props, geom) in b.items():
        assert a[key][0] == props, key
        np.testing.assert_allclose(a[key][1], geom, atol=0.01, err_msg=str(key))


#: (tile centre, rows before, ids dropped, rows added)
CASES: list[tuple[tuple[float, float], list[BuildingRow], set[int], list[BuildingRow]]] = [
    ((X0 + 400, Y0 + 100), [_row(i) for i in range(50)], {7, 30}, [_row(7, 20.0), _row(30, 25)]),
    ((X0 + 300, Y0 + 300), [_row(i) for i in range(40, 60)], set(), []),
    ((X0, Y0), [_row(i) for i in range(30)], {1, 2, 3}, [_row(2, 3.0), _row(61)]),
    ((X0 + 100, Y0), [_row(i) for i in range(10)], {4}, [_row(4, 8.0, lod2=True)]),
    ((X0 + 700, Y0 + 40), [_row(i) for i in range(12)], {0, 11}, []),
]


def test_a_batch_of_patches_equals_each_patch_alone_and_a_full_build() -> None:
    frames = FrameSet.many(3067, [c for c, _, _, _ in CASES])
    inputs = [
        PatchInput(KIND.build_content(frames.frame(i), before, OPTIONS).glb, drop, added)
        for i, (_, before, drop, added) in enumerate(CASES)
    ]
    batch = KIND.patch_many(frames, inputs, OPTIONS)
    for i, ((_, before, drop, added), inp, got) in enumerate(
        zip(CASES, inputs, batch, strict=True)
    ):
        frame = frames.frame(i)
        alone = KIND.patch_content(frame, inp.previous, drop, added, OPTIONS)
        assert got.glb == alone.glb
        rows = [r for r in before if r.id not in drop] + added
        full = KIND.build_content(frame, rows, OPTIONS)
        assert got.features == full.features == len(rows)
        _assert_same(got.glb, full.glb, frame)
        assert np.allclose(got.lo, full.lo, atol=1e-3) and np.allclose(got.hi, full.hi, atol=1e-3)


def test_a_damaged_file_in_a_batch_is_named(tmp_path: Path) -> None:
    content = tmp_path / "buildings" / CONTENT_DIR
    content.mkdir(parents=True)
    tasks = []
    for key, (centre, before, drop, added) in enumerate(CASES):
        glb = KIND.build_content(Frame.at(3067, *centre), before, OPTIONS).glb
        previous = f"{key:032x}"
        (tmp_path / "buildings" / content_uri(previous)).write_bytes(glb[:-40] if key == 2 else glb)
        rows = [tuple(r) for r in added]
        tasks.append(
            Task(
                "buildings",
                key,
                3067,
                centre,
                rows,
                OPTIONS,
                str(content),
                Patch(previous, tuple(drop)),
            )
        )
    with pytest.raises(TileBuildError, match=f"{content_uri(f'{2:032x}')} is damaged"):
        make_patches(PatchBatch(tasks), frozenset())
    (tmp_path / "buildings" / content_uri(f"{2:032x}")).write_bytes(
        KIND.build_content(Frame.at(3067, *CASES[2][0]), CASES[2][1], OPTIONS).glb
    )
    results = make_patches(PatchBatch(tasks), frozenset())
    assert [r.key for r in results] == list(range(len(CASES)))
    assert all((tmp_path / "buildings" / content_uri(r.digest)).exists() for r in results)
    again = make_patches(PatchBatch(tasks), frozenset(digest(t) for t in tasks))
    assert all(r.reused for r in again)  # same input, same names: nothing is remade
