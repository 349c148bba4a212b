"""tileset.json split into external tilesets, one per subtree, so that a build rewrites only
the JSON of the subtrees it changed.

Why: one explicit tileset.json of a city holds every tile (8,580 at a million buildings);
rewriting it, and recomputing every tile's bounding box and frame for it, was most of what
a small change cost. 3D Tiles lets a tile's content be another tileset.json (an *external
tileset*); both 3d-tiles-renderer and CesiumJS refine such a tile unconditionally, so the
split changes nothing of what is drawn. Implicit tiling would need one frame for the whole
tree and cell-shaped bounding volumes, and this tree keeps a frame and a tight box per tile.

- **Where it splits.** A tile roots a file ``content/{hash}.json`` holding its subtree when
  that subtree, less what deeper files hold, has at least ``min_tiles`` tiles
  (``TreeParams.subtree_tiles``, 64), counted from the deepest tiles up; the tiles below it
  that root files of their own point to them. The root document ``tileset.json`` keeps
  levels ``0 .. levels - 1`` (``TreeParams.subtree_levels``: the first view, levels 0 and 1,
  needs no extra request) and whatever no file took. A file thus holds 64 to about 256
  tiles whatever the tree's shape: a split at fixed levels left the far field's sparse upper
  levels (tiles.farfield) with a file per five tiles at 100k buildings, 183 files that a
  scattered change all rewrote and that a viewer fetched one by one. A small tree stays
  one file.
- **Names.** A subtree file is named by the hash of everything its subtree is made of
  (keys, content names and boxes, errors, frame centres, refinement, and its descendants'
  hashes), so an unchanged subtree keeps its file, its bytes and its ETag, and a changed
  tile renews only the files on its path to the root. Like content, the file is immutable.
- **Reuse without recomputing.** The manifest keeps, per subtree file, its bounds in its root
  tile's frame; a build whose subtree hash is known (and whose file is on disk) uses them as
  they are, so only the changed subtrees' boxes and frames are computed. A full build
  computes the same values in the same batches, so its files are byte for byte those of an
  incremental build of the same data.
- **Linking.** The pointing tile carries the subtree root's transform, bounding volume,
  geometric error and refinement, with the file as content; the file's root has no
  transform (it is the pointing tile's frame), so frames compose exactly as in one file.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

from tiles.frames import Frame, column_major, rigid_inverse
from tiles.layout import CONTENT_DIR, write_new
from tiles.quadtree import decode
from tiles.tileset import boxes, corners

F64 = NDArray[np.float64]
#: a tile's key and numbers, as hashed (struct is many times cheaper than repr of floats)
_PACK = struct.Struct("<q9d")
#: bump when what a subtree file says, or how, changes
LAYOUT_VERSION = "subtrees-3"


@dataclass(frozen=True)
class Tile:
    """What the JSON of one tile is made of (``digest``: its content file, None when the
    tile has only children left)."""

    key: int
    digest: str | None
    lo: tuple[float, ...]
    hi: tuple[float, ...]
    error: float
    centre: tuple[float, float]
    #: its own ``refine`` (None: its parent's)
    refine: str | None


@dataclass(frozen=True)
class Summary:
    """A subtree file as its parent needs it: the bounds of the subtree in its root's frame."""

    lo: tuple[float, ...]
    hi: tuple[float, ...]
    nbytes: int

    def to_json(self) -> dict[str, Any]:
        return {"lo": list(self.lo), "hi": list(self.hi), "bytes": self.nbytes}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Summary:
        return cls(tuple(d["lo"]), tuple(d["hi"]), int(d["bytes"]))


def subtree_uri(name: str, *, inside: bool) -> str:
    """A subtree file's URI, relative to the root document or (``inside``) to another
    subtree file (both in the content folder)."""
    return f"{name}.json" if inside else f"{CONTENT_DIR}/{name}.json"


@dataclass
class Split:
    """The tree, split: the root document's root tile, and every subtree file it uses."""

    root: dict[str, Any]
    #: every subtree file referenced, by name
    files: dict[str, Summary]
    #: names of those written by this build (the others were reused)
    written: set[str]


def split_tree(
    tiles: dict[int, Tile],
    children: dict[int, list[int]],
    root: int,
    *,
    epsg: int,
    levels: int,
    min_tiles: int,
    refine: str,
    known: dict[str, Summary],
    content_dir: Path,
) -> Split:
    """Write the subtree files ``known`` does not already have; return the root tile.

    ``children`` lists every tile's children in order; ``refine`` is the root's refinement
    when its own is None."""
    split = _Splitter(
        tiles, children, root, epsg, (max(1, levels), max(1, min_tiles)), refine, known, content_dir
    )
    return split.run()


class _Splitter:
    def __init__(
        self,
        tiles: dict[int, Tile],
        children: dict[int, list[int]],
        root: int,
        epsg: int,
        split: tuple[int, int],
        refine: str,
        known: dict[str, Summary],
        content_dir: Path,
    ) -> None:
        self.tiles, self.children, self.root = tiles, children, root
        self.epsg, self.split, self.known, self.dir = epsg, split, known, content_dir
        self.effective = self._refinements(refine)
        self.cuts = self._cuts()
        self.names = self._names()
        self.files: dict[str, Summary] = {}
        self.written: set[str] = set()

    def _refinements(self, refine: str) -> dict[int, str]:
        out: dict[int, str] = {}
        todo = [(self.root, self.tiles[self.root].refine or refine)]
        while todo:
            key, mode = todo.pop()
            out[key] = mode
            todo.extend((c, self.tiles[c].refine or mode) for c in self.children.get(key, []))
        return out

    def _cuts(self) -> set[int]:
        """The tiles that root a file: from the deepest up (a key's level is its top bits),
        a tile below the root document's levels whose subtree holds ``min_tiles`` tiles,
        a child that roots a file counting as one (its pointer)."""
        levels, min_tiles = self.split
        cuts: set[int] = set()
        size: dict[int, int] = {}
        for key in sorted(self.tiles, reverse=True):
            n = 1 + sum(1 if c in cuts else size[c] for c in self.children.get(key, []))
            size[key] = n
            if n >= min_tiles and key != self.root and decode(key)[0] >= levels:
                cuts.add(key)
        return cuts

    def _is_split(self, key: int) -> bool:
        return key in self.cuts

    def _names(self) -> dict[int, str]:
        """Every tile's subtree hash (deeper keys first: a key's level is its top bits); the
        hash covers the subtree's shape, hence the cuts inside it."""
        seed = repr((LAYOUT_VERSION, self.epsg, self.split)).encode()
        out: dict[int, bytes] = {}
        for key in sorted(self.tiles, reverse=True):
            t = self.tiles[key]
            h = hashlib.blake2b(seed, digest_size=16)
            h.update(_PACK.pack(key, t.error, *t.lo, *t.hi, *t.centre))
            h.update(f"{t.digest}/{t.refine}".encode())
            for c in self.children.get(key, []):
                h.update(out[c])
            out[key] = h.digest()
        return {k: v.hex() for k, v in out.items() if self._is_split(k)}

    def run(self) -> Split:
        # deepest subtrees first: a file needs its child files' bounds
        for key in sorted(self.names, reverse=True):
            name = self.names[key]
            if name in self.files:
                continue
            old = self.known.get(name)
            if old is not None and (self.dir / f"{name}.json").is_file():
                self.files[name] = old
                continue
            self.files[name] = self._write(key, name)
        doc, _ = self._segment(self.root, inside=False)
        return Split(doc, self.files, self.written)

    def _write(self, key: int, name: str) -> Summary:
        root, (lo, hi) = self._segment(key, inside=True)
        doc = {
            "asset": {"version": "1.1"},
            "geometricError": float(root["geometricError"]),
            "root": root,
        }
        data = orjson.dumps(doc)
        write_new(self.dir / f"{name}.json", data)
        self.written.add(name)
        return Summary(tuple(float(v) for v in lo), tuple(float(v) for v in hi), len(data))

    def _segment(self, top: int, *, inside: bool) -> tuple[dict[str, Any], tuple[F64, F64]]:
        """The JSON of ``top``'s subtree down to the next split tiles (which point to their
        files), and its bounds in ``top``'s frame.

        The bounds are computed a level at a time over the whole segment (children before
        parents), not tile by tile: a segment holds up to ~256 tiles, and array operations
        on a handful of numbers each cost more in calls than in arithmetic."""
        order: list[int] = []
        todo = [top]
        while todo:  # pre-order, children in order: the same batch in every build
            key = todo.pop()
            order.append(key)
            if key == top or not self._is_split(key):
                todo.extend(reversed(self.children.get(key, [])))
        n = len(order)
        at = {k: i for i, k in enumerate(order)}
        leaf = [k != top and self._is_split(k) for k in order]  # points to its own file
        parent = np.full(n, -1, dtype=np.intp)
        depth = np.zeros(n, dtype=np.intp)
        lo, hi = np.full((n, 3), np.inf), np.full((n, 3), -np.inf)
        own = np.zeros((n, 3)), np.zeros((n, 3))  # content boxes
        for i, key in enumerate(order):  # parents come before their children
            t = self.tiles[key]
            if leaf[i]:
                s = self.files[self.names[key]]
                lo[i], hi[i] = s.lo, s.hi
                continue
            if t.digest is not None:
                lo[i], hi[i] = t.lo, t.hi
                own[0][i], own[1][i] = t.lo, t.hi
            for c in self.children.get(key, []):
                parent[at[c]], depth[at[c]] = i, depth[i] + 1
        xy = np.array([self.tiles[k].centre for k in order], dtype=np.float64).reshape(-1, 2)
        mats = np.stack([f.matrix for f in Frame.many(self.epsg, xy[:, 0], xy[:, 1])])
        #: each tile's matrix in its parent's frame: its bounds need it, then its transform
        rel = np.zeros((n, 4, 4))
        kids = np.nonzero(parent >= 0)[0]
        rel[kids] = rigid_inverse(mats[parent[kids]]) @ mats[kids]
        for d in range(int(depth.max()), 0, -1):
            level = np.nonzero(depth == d)[0]
            m = rel[level]
            pts = corners(lo[level], hi[level]) @ np.swapaxes(m[:, :3, :3], 1, 2)
            pts += m[:, None, :3, 3]
            np.minimum.at(lo, parent[level], pts.min(axis=1))
            np.maximum.at(hi, parent[level], pts.max(axis=1))
        volumes, contents = boxes(lo, hi), boxes(*own)
        transforms = np.swapaxes(rel, 1, 2).reshape(n, 16).tolist()

        def node(key: int) -> dict[str, Any]:
            i, t = at[key], self.tiles[key]
            out: dict[str, Any] = {
                "boundingVolume": {"box": volumes[i]},
                "geometricError": float(t.error),
            }
            if key != top:  # inverse(parent) @ own, as the bounds took it
                out["transform"] = transforms[i]
            elif not inside:
                out["transform"] = column_major(mats[i])
            # the root of a document needs its refine; a split tile states it for its file
            if key == top or t.refine is not None or leaf[i]:
                out["refine"] = self.effective[key]
            if leaf[i]:
                out["content"] = {"uri": subtree_uri(self.names[key], inside=inside)}
                return out
            if t.digest is not None:
                uri = f"{t.digest}.glb" if inside else f"{CONTENT_DIR}/{t.digest}.glb"
                out["content"] = {"uri": uri, "boundingVolume": {"box": contents[i]}}
            below = self.children.get(key, [])
            if below:
                out["children"] = [node(c) for c in below]
            return out

        return node(top), (lo[0], hi[0])
