"""One tile's work, as a worker process does it: rows -> a hash-named GLB, or the file of an
earlier build when the hash says its input did not change; and many tile patches at once.

A content file is named by the hash of everything its bytes depend on (builder version,
style, kind, tile key, CRS, options, rows), written through tiles.layout.write_new and never
rewritten in place: a crash or Ctrl-C leaves the previous build's files intact.

Patches (incremental builds) travel in batches (:class:`PatchBatch`): a scattered change
touches nearly every tile for one or two buildings each, and one task, pickle and frame per
tile cost more than the patch itself; a batch meshes all its tiles' changed buildings in one
pass (tiles.kinds.base.TilesetKind.patch_many).
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geodata.errors import TileBuildError
from tiles import style
from tiles.frames import Frame, FrameSet
from tiles.kinds import KINDS
from tiles.kinds.base import Content, PatchInput
from tiles.layout import content_uri, write_new

#: bump when meshing, encoding or the manifest changes: every tile is then rebuilt once
BUILDER_VERSION = "tiles-2"

#: colours and sizes are part of every tile's bytes: changing them rebuilds the tiles
STYLE_DIGEST = hashlib.blake2b(
    repr(sorted((k, v) for k, v in vars(style).items() if k.isupper())).encode(), digest_size=8
).hexdigest()


@dataclass(frozen=True)
class Patch:
    """An incremental change to a tile that has content: drop these ids, add the rows."""

    previous: str  # digest of the tile's current content file
    drop: tuple[int, ...]


@dataclass
class Task:
    kind: str
    key: int
    epsg: int
    centre: tuple[float, float]
    rows: list[tuple[Any, ...]]
    options: Any
    content_dir: str
    patch: Patch | None = None


@dataclass
class Result:
    key: int
    digest: str
    reused: bool
    features: int
    nbytes: int = 0
    lo: list[float] = field(default_factory=list)
    hi: list[float] = field(default_factory=list)

    @classmethod
    def written(cls, key: int, d: str, built: Content) -> Result:
        return cls(
            key,
            d,
            False,
            built.features,
            len(built.glb),
            [float(v) for v in built.lo],
            [float(v) for v in built.hi],
        )


@dataclass
class PatchBatch:
    """Patch tasks of one tileset done as one worker task (see the module's docstring)."""

    tasks: list[Task]


_REUSABLE: frozenset[str] = frozenset()


def init_worker(reusable: frozenset[str]) -> None:
    global _REUSABLE
    _REUSABLE = reusable


def digest(task: Task) -> str:
    """Hash of everything a tile's bytes depend on.

    The rows are pickled (protocol 5): for tuples of None, bool, int, float, str and bytes
    the pickle is a deterministic function of the values, and much cheaper than repr.
    """
    h = hashlib.blake2b(digest_size=16)
    h.update(STYLE_DIGEST.encode())
    h.update(
        repr((BUILDER_VERSION, task.kind, task.key, task.epsg, task.centre, task.options)).encode()
    )
    if task.patch is not None:
        h.update(repr(("patch", task.patch.previous, sorted(task.patch.drop))).encode())
    h.update(pickle.dumps(task.rows, protocol=5))
    return h.hexdigest()


def _path(task: Task, d: str) -> Path:
    return Path(task.content_dir).parent / content_uri(d)


def make_tile(task: Task, reusable: frozenset[str] | None = None) -> Result:
    """Hash a tile's rows; reuse the previous file when the hash is known, else mesh it."""
    if task.patch is not None:
        return make_patches(PatchBatch([task]), reusable)[0]
    reusable = _REUSABLE if reusable is None else reusable
    d = digest(task)
    path = _path(task, d)
    if d in reusable and path.exists():
        return Result(task.key, d, True, len(task.rows))
    kind = KINDS[task.kind]
    built = kind.build_content(
        Frame.at(task.epsg, *task.centre), kind.rows(task.rows), task.options
    )
    write_new(path, built.glb)
    return Result.written(task.key, d, built)


def make_patches(batch: PatchBatch, reusable: frozenset[str] | None = None) -> list[Result]:
    """Patch every tile of ``batch`` from its previous file (one kind, CRS and options), in
    one pass over their frames; results in the batch's order."""
    reusable = _REUSABLE if reusable is None else reusable
    out: list[Result | None] = []
    todo: list[tuple[int, Task, str, Path]] = []
    for i, task in enumerate(batch.tasks):
        d = digest(task)
        path = _path(task, d)
        if d in reusable and path.exists():
            out.append(Result(task.key, d, True, len(task.rows)))
        else:
            out.append(None)
            todo.append((i, task, d, path))
    if todo:
        first = todo[0][1]
        kind = KINDS[first.kind]
        frames = FrameSet.many(first.epsg, [t.centre for _, t, _, _ in todo])
        inputs = [_patch_input(kind, t) for _, t, _, _ in todo]
        try:
            built = kind.patch_many(frames, inputs, first.options)
        except _DAMAGED:
            _name_the_damaged(kind, frames, inputs, [t for _, t, _, _ in todo])
            raise
        for (i, task, d, path), content in zip(todo, built, strict=True):
            write_new(path, content.glb)
            out[i] = Result.written(task.key, d, content)
    return [r for r in out if r is not None]


#: what a previous file that cannot be read back (cut short, overwritten) raises
_DAMAGED = (TileBuildError, KeyError, IndexError, TypeError, ValueError)


def _patch_input(kind: Any, task: Task) -> PatchInput:
    assert task.patch is not None
    before = (_path(task, task.patch.previous)).read_bytes()
    return PatchInput(before, set(task.patch.drop), kind.rows(task.rows))


def _name_the_damaged(
    kind: Any, frames: FrameSet, inputs: list[PatchInput], tasks: list[Task]
) -> None:
    """A batch failed: patch its tiles one by one to raise a TileBuildError naming the file
    that is damaged and what to do (returns if none fails alone)."""
    for i, (inp, task) in enumerate(zip(inputs, tasks, strict=True)):
        try:
            kind.patch_many(frames.subset([i]), [inp], task.options)
        except _DAMAGED as exc:
            assert task.patch is not None
            tileset = Path(task.content_dir).parent
            raise TileBuildError(
                f"tileset {tileset.name!r}: the previous build's file "
                f"{content_uri(task.patch.previous)} is damaged ({exc}): "
                "run `twin tiles build --full` to remake every tile from the database"
            ) from None
