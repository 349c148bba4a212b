"""The state builds keep for each other (membership, far-field bins) is written in proportion
to the change (tiles.statelog): a base and an append-only log, safe against a crash at any
point, and the tileset after any sequence of builds is the full build's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, text

from tests.test_tiles_farfield import (
    CHANGES,
    COLS,
    _buildings,
    _far_digests,
    _far_json,
    big_city,
)
from tests.test_tiles_support import helsinki
from tiles import inspect as ti
from tiles import publish, statelog
from tiles.build import build_tileset
from tiles.layout import MANIFEST, TILESET, read_manifest

__all__ = ["big_city", "helsinki"]


def _arrays(seed: int) -> list[np.ndarray[Any, Any]]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 100, 50), np.array(["a", "bc"], dtype=str)]


def test_frames_appended_to_a_base_read_back_in_order(tmp_path: Path) -> None:
    stored = statelog.write_base(tmp_path, "s", [np.arange(1000)])
    for i in range(3):
        stored = statelog.append(tmp_path, stored, _arrays(i))
    got = statelog.load(tmp_path, stored)
    assert got is not None
    base, frames = got
    np.testing.assert_array_equal(base[0], np.arange(1000))
    assert len(frames) == 3
    for i, frame in enumerate(frames):
        for a, b in zip(frame, _arrays(i), strict=True):
            np.testing.assert_array_equal(a, b)


def test_what_a_crashed_build_appended_is_ignored_then_dropped(tmp_path: Path) -> None:
    stored = statelog.append(tmp_path, statelog.write_base(tmp_path, "s", [np.arange(9)]), [])
    with open(tmp_path / stored.log, "ab") as f:  # a build that died mid-append
        f.write(b"\x93NUMPY half a frame")
    got = statelog.load(tmp_path, stored)
    assert got is not None and len(got[1]) == 1
    after = statelog.append(tmp_path, stored, _arrays(7))
    got = statelog.load(tmp_path, after)
    assert got is not None and len(got[1]) == 2
    assert (tmp_path / stored.log).stat().st_size == after.log_bytes


def test_a_damaged_log_or_base_is_refused(tmp_path: Path) -> None:
    stored = statelog.append(tmp_path, statelog.write_base(tmp_path, "s", [np.arange(9)]), [])
    stored = statelog.append(tmp_path, stored, _arrays(1))
    data = bytearray((tmp_path / stored.log).read_bytes())
    data[-1] ^= 0xFF
    (tmp_path / stored.log).write_bytes(bytes(data))
    assert statelog.load(tmp_path, stored) is None  # digest mismatch
    (tmp_path / stored.log).write_bytes(bytes(data[:10]))
    assert statelog.load(tmp_path, stored) is None  # shorter than the manifest says
    (tmp_path / stored.base).write_bytes(b"")
    assert statelog.load(tmp_path, stored) is None


def test_a_log_that_outgrows_its_base_is_folded_into_a_new_one(tmp_path: Path) -> None:
    stored = statelog.write_base(tmp_path, "s", [np.arange(100)])
    small = [np.arange(2)]
    assert statelog.save(tmp_path, "s", stored, small, lambda: [np.arange(100)]).base == stored.base
    big = [np.arange(1000)]
    fresh = statelog.save(tmp_path, "s", stored, big, lambda: [np.arange(100)])
    assert fresh.base != stored.base and fresh.log_bytes == 0


def test_a_log_of_many_small_frames_is_folded_too(tmp_path: Path) -> None:
    """Replaying frames costs each build more than writing one base now and then."""
    stored = statelog.write_base(tmp_path, "s", [np.arange(10**6)])
    for i in range(statelog.MAX_FRAMES):
        stored = statelog.save(tmp_path, "s", stored, [np.arange(2)], lambda: [np.arange(10**6)])
        assert stored.frames == i + 1 and stored.log_bytes < 0.01 * stored.base_bytes
    again = statelog.Stored.from_json(stored.to_json())
    assert again == stored
    fresh = statelog.save(tmp_path, "s", again, [np.arange(2)], lambda: [np.arange(10**6)])
    assert fresh.base != stored.base and fresh.frames == 0 and fresh.log_bytes == 0


def test_arrays_of_every_kind_come_back_as_written_and_writable(tmp_path: Path) -> None:
    member = np.dtype([("src", "i2"), ("id", "i8"), ("size", "f8")])  # packed: 18 bytes
    records = np.zeros(5, dtype=member)
    records["id"] = np.arange(5) * 10**12
    arrays = [
        records,
        np.array(["residential", "é"], dtype=str),
        np.arange(12, dtype=np.float32).reshape(3, 4),
        np.zeros(0, dtype=np.int64),
        np.array([7]),
    ]
    stored = statelog.append(tmp_path, statelog.write_base(tmp_path, "s", arrays), arrays[1:])
    got = statelog.load(tmp_path, stored)
    assert got is not None
    for back, sent in zip([*got[0], *got[1][0]], [*arrays, *arrays[1:]], strict=True):
        assert back.dtype == sent.dtype and back.shape == sent.shape
        np.testing.assert_array_equal(back, sent)
    got[0][0]["id"][1] = -1  # a build updates its state in place
    with pytest.raises(ValueError, match="no Python objects"):
        statelog.write_base(tmp_path, "s", [np.array([{}], dtype=object)])


def test_an_older_builds_state_file_is_not_read_as_this_one() -> None:
    """A manifest of a build that kept its state as .npy: the next build is a full one."""
    assert statelog.Stored.from_json({"file": "members-0123.npy", "base_bytes": 10}) is None
    assert statelog.Stored.from_json({"file": "../members-0123.arrays"}) is None
    assert statelog.Stored.from_json({"file": "members-0123.arrays"}) is not None


def _state(tileset: Path) -> dict[str, Any]:
    manifest = read_manifest(tileset)
    assert manifest is not None
    return {"members": manifest["members"], "far": manifest["farfield"]}


def _same_as_full(engine: Engine, tiles: Path, tmp_path: Path) -> None:
    ref = tmp_path / "ref"
    build_tileset(engine, "buildings", ref, full=True)
    assert _buildings(tiles / "buildings") == _buildings(ref / "buildings")
    assert _far_json(tiles / "buildings") == _far_json(ref / "buildings")
    assert _far_digests(tiles / "buildings") == _far_digests(ref / "buildings")
    assert ti.check(tiles / "buildings") == []


def test_a_sequence_of_changes_appends_to_the_logs_and_matches_a_full_build(
    big_city: Engine, tmp_path: Path
) -> None:
    tiles = tmp_path / "inc"
    build_tileset(big_city, "buildings", tiles)
    first = _state(tiles / "buildings")
    assert first["members"]["log_bytes"] == 0 and first["far"]["log_bytes"] == 0
    prev = first
    for sql in CHANGES.values():
        with big_city.begin() as conn:
            conn.execute(text(sql), {"c": COLS})
        assert build_tileset(big_city, "buildings", tiles).mode == "incremental"
        now = _state(tiles / "buildings")
        for part in ("members", "far"):  # the base stays and its log grows by the change
            if now[part]["file"] == prev[part]["file"]:
                assert now[part]["log_bytes"] > prev[part]["log_bytes"], part
        prev = now
    assert _state(tiles / "buildings")["members"]["file"] == first["members"]["file"]
    _same_as_full(big_city, tiles, tmp_path)


def test_every_build_writing_a_fresh_base_leaves_one_of_each(
    big_city: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(statelog, "COMPACT_SHARE", 0.0)
    tiles = tmp_path / "inc"
    build_tileset(big_city, "buildings", tiles)
    for change in ("scattered", "deleted"):
        with big_city.begin() as conn:
            conn.execute(text(CHANGES[change]), {"c": COLS})
        assert build_tileset(big_city, "buildings", tiles).mode == "incremental"
    state = _state(tiles / "buildings")
    assert state["far"]["log_bytes"] == 0
    assert [f.name for f in (tiles / "buildings").glob("far-*")] == [state["far"]["file"]]
    assert [f.name for f in (tiles / "buildings").glob("members-*")] == [state["members"]["file"]]
    _same_as_full(big_city, tiles, tmp_path)


def test_a_build_that_dies_after_appending_leaves_the_previous_tileset_whole(
    big_city: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiles = tmp_path / "inc"
    build_tileset(big_city, "buildings", tiles)
    with big_city.begin() as conn:
        conn.execute(text(CHANGES["clustered"]), {"c": COLS})
    assert build_tileset(big_city, "buildings", tiles).mode == "incremental"
    folder = tiles / "buildings"
    served = {n: (folder / n).read_bytes() for n in (TILESET, MANIFEST)}
    before = _state(folder)
    with big_city.begin() as conn:
        conn.execute(text(CHANGES["scattered"]), {"c": COLS})
    real_write = publish.atomic_write

    def dies(path: Path, data: bytes) -> None:
        if path.name == TILESET:
            raise KeyboardInterrupt  # Ctrl-C once the logs have their new frames
        real_write(path, data)

    monkeypatch.setattr(publish, "atomic_write", dies)
    with pytest.raises(KeyboardInterrupt):
        build_tileset(big_city, "buildings", tiles)
    monkeypatch.setattr(publish, "atomic_write", real_write)
    # the logs grew past what the served manifest covers; it and tileset.json are as they were
    assert (folder / before["far"]["log"]).stat().st_size > before["far"]["log_bytes"]
    assert {n: (folder / n).read_bytes() for n in (TILESET, MANIFEST)} == served
    assert ti.check(folder) == []
    again = build_tileset(big_city, "buildings", tiles)
    assert again.mode == "incremental"
    _same_as_full(big_city, tiles, tmp_path)
