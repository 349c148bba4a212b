"""State a build keeps for the next one (the membership, tiles.members; the far field's bins,
tiles.farstate), written in proportion to the change: a base file and an append-only log.

Why: at a million buildings the bins are ~150 MB and the membership ~34 MB; rewriting them
whole after a 1% change cost more than the change itself. Instead a build that starts from
the kept state appends the change it made (a *frame*: a few arrays, tiles.farstate and
tiles.members say which) to the log, and the next build replays the frames over the base.
Once the log outgrows a quarter of the base (:data:`COMPACT_SHARE`) or holds
:data:`MAX_FRAMES` frames, a fresh base is written under a new name and the log starts empty:
at 100k buildings the next build replays a far-field frame in ~2 ms (a clustered change's)
to ~17 ms (a scattered one's) and writes a base in ~15 ms, so a few frames, not the quarter
of the base's bytes that a hundred small frames would fill.

Crash safety: the manifest (swapped in last, atomically) records the base, the log, how many
bytes of the log its state covers and a digest chained over those frames. A build only ever
appends past those bytes (dropping first what a crashed build may have left there), so the
previous manifest's state stays readable until the new manifest replaces it; a base is never
rewritten in place (a new one gets a new name, the old files go once the manifest no longer
names them). A log that does not match its digest, or a base that is missing or not what the
manifest says, makes the state unusable: the build falls back to a full one.
"""

from __future__ import annotations

import json
import mmap
import os
import secrets
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

#: past this share of the base's bytes, or this many frames, the log is folded into a fresh base
COMPACT_SHARE = 0.25
MAX_FRAMES = 4
_SEED = b"statelog-1"
#: the start of every block of arrays (a base is one block, a log frame is one)
_MAGIC = b"TWS1"
_ALIGN = 8
#: a base's file name ends so; a manifest naming another kind of file (an older build's
#: ``.npy``) has no usable state, and the build falls back to a full one
BASE_SUFFIX = ".arrays"

Arrays = list[NDArray[Any]]


@dataclass(frozen=True)
class Stored:
    """Where a state is and how much of its log counts (as the manifest keeps it)."""

    base: str
    log: str
    base_bytes: int
    log_bytes: int = 0
    digest: str = f"{zlib.crc32(_SEED):08x}"
    frames: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.base,
            "log": self.log,
            "base_bytes": self.base_bytes,
            "log_bytes": self.log_bytes,
            "log_digest": self.digest,
            "log_frames": self.frames,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Stored | None:
        base = d.get("file")
        if not isinstance(base, str) or "/" in base or not base.endswith(BASE_SUFFIX):
            return None
        log = d.get("log", base.removesuffix(BASE_SUFFIX) + ".log")
        stored = cls(base, str(log), int(d.get("base_bytes", 0)), int(d.get("log_bytes", 0)))
        digest = d.get("log_digest")
        if isinstance(digest, str):
            stored = replace(stored, digest=digest)
        return replace(stored, frames=int(d.get("log_frames", 0)))


def _chain(digest: str, frame: bytes | memoryview) -> str:
    """The CRC-32 of the log so far, continued over ``frame``: it tells a log cut or
    overwritten by a crashed build from the one the manifest describes (not an attacker's:
    the tiles folder is the server's own), at ~0.3 ms a MB where blake2b took ~2."""
    return f"{zlib.crc32(frame, int(digest, 16)):08x}"


def _pad(n: int) -> int:
    return -n % _ALIGN


def _block(arrays: Sequence[NDArray[Any]]) -> list[Any]:
    """Arrays as the parts of one block (bytes-like, to write one after the other):
    ``MAGIC``, the header's length, a JSON header (each array's numpy type description and
    shape), then each array's bytes, every part 8-byte aligned. The arrays are not copied.

    Why not ``np.save`` per array: ``np.load`` parses each header with ``ast.literal_eval``
    (~0.1 ms an array); a far-field frame holds 27 arrays, so replaying a few frames cost
    more in headers than in the change itself. One header per block, and the arrays read
    back as views of one buffer."""
    heads, parts = [], []
    for arr in arrays:
        if arr.dtype.hasobject:
            raise ValueError("a kept state holds no Python objects")
        heads.append([np.lib.format.dtype_to_descr(arr.dtype), list(arr.shape)])  # type: ignore[no-untyped-call]
        parts += [np.ascontiguousarray(arr).reshape(-1).view(np.uint8), bytes(_pad(arr.nbytes))]
    head = json.dumps(heads, separators=(",", ":")).encode()
    head += b" " * _pad(len(_MAGIC) + 4 + len(head))
    return [_MAGIC + len(head).to_bytes(4, "little") + head, *parts]


def _blocks(buf: bytearray | mmap.mmap) -> Iterator[tuple[int, Arrays]]:
    """The blocks of ``buf`` in order, each with the offset where it ends; their arrays are
    writable views of ``buf``."""
    at = 0
    while at < len(buf):
        if buf[at : at + len(_MAGIC)] != _MAGIC:
            raise ValueError("not a block of arrays")
        n = int.from_bytes(buf[at + len(_MAGIC) : at + len(_MAGIC) + 4], "little")
        at += len(_MAGIC) + 4
        heads = json.loads(bytes(buf[at : at + n]))
        at += n
        arrays: Arrays = []
        for descr, shape in heads:
            dtype = _dtype(descr)
            count = int(np.prod(shape, dtype=np.int64))
            size = count * dtype.itemsize
            if at + size > len(buf):
                raise ValueError("a block shorter than its header says")
            arrays.append(np.frombuffer(buf, dtype, count, at).reshape(shape))
            at += size + _pad(size)
        yield at, arrays


def _dtype(descr: Any) -> np.dtype[Any]:
    """The numpy type a JSON-read description names (kept: a log names a few, many times)."""
    key = str(descr)
    if (known := _DTYPES.get(key)) is None:
        known = _DTYPES[key] = np.lib.format.descr_to_dtype(_tuples(descr))  # type: ignore[no-untyped-call]
    return known


_DTYPES: dict[str, np.dtype[Any]] = {}


def _tuples(descr: Any) -> Any:
    """A JSON-read type description as numpy wrote it (fields are tuples, not lists)."""
    if isinstance(descr, str):
        return descr
    return [(name, _tuples(typ), *map(tuple, shape)) for name, typ, *shape in descr]


def _read(path: Path, size: int) -> bytearray | None:
    """The first ``size`` bytes of ``path`` (None: the file is shorter or missing)."""
    buf = bytearray(size)
    try:
        with open(path, "rb") as f:
            got = f.readinto(buf)
    except OSError:
        return None
    return buf if got == size else None


def write_base(out: Path, prefix: str, arrays: Sequence[NDArray[Any]]) -> Stored:
    """A fresh base under a new name (``prefix-{random}.arrays``) with an empty log. Like
    the content files it is not fsynced: the manifest that names it is written after it."""
    name = f"{prefix}-{secrets.token_hex(8)}"
    with open(out / f"{name}{BASE_SUFFIX}", "wb") as f:
        for part in _block(arrays):  # straight from the arrays: no copy of the whole
            f.write(part)
        size = f.tell()
    return Stored(f"{name}{BASE_SUFFIX}", f"{name}.log", size)


def read_base(out: Path, stored: Stored) -> Arrays | None:
    """The base's arrays, or None when it is missing or not the size the manifest says.

    The file is mapped copy-on-write, not read: a build changes a few pages of the far
    field's 10 MB of bins (at 100k buildings), and reading would copy all of them into
    fresh memory, which costs about 1 ms per MB on a virtual machine. A base is never
    rewritten or truncated (a new one gets a new name), so the mapping stays whole."""
    try:
        with open(out / stored.base, "rb") as f:
            if os.fstat(f.fileno()).st_size != stored.base_bytes or not stored.base_bytes:
                return None
            buf = mmap.mmap(f.fileno(), stored.base_bytes, access=mmap.ACCESS_COPY)
    except OSError:
        return None
    try:
        blocks = [arrays for _, arrays in _blocks(buf)]
    except (ValueError, TypeError, KeyError, IndexError):
        return None
    return blocks[0] if len(blocks) == 1 else None


def read_frames(out: Path, stored: Stored) -> list[Arrays] | None:
    """The frames the manifest's state covers, in order; None when the log does not match."""
    if stored.log_bytes == 0:
        return []
    data = _read(out / stored.log, stored.log_bytes)
    if data is None:
        return None
    frames: list[Arrays] = []
    digest = Stored(stored.base, stored.log, 0).digest
    start = 0
    try:
        for end, arrays in _blocks(data):  # a frame is a block; the digest chains over them
            digest = _chain(digest, memoryview(data)[start:end])
            frames.append(arrays)
            start = end
    except (ValueError, TypeError, KeyError, IndexError):
        return None
    return frames if digest == stored.digest else None


def append(out: Path, stored: Stored, arrays: Sequence[NDArray[Any]]) -> Stored:
    """Append one frame after the bytes ``stored`` covers (what a crashed build left past
    them is dropped first); returns what the next manifest records."""
    frame = b"".join(_block(arrays))
    path = out / stored.log
    with open(path, "r+b" if path.exists() else "wb") as f:
        f.truncate(stored.log_bytes)
        f.seek(stored.log_bytes)
        f.write(frame)
    return replace(
        stored,
        log_bytes=stored.log_bytes + len(frame),
        digest=_chain(stored.digest, frame),
        frames=stored.frames + 1,
    )


def worth_appending(stored: Stored | None, frame_bytes: int) -> bool:
    """Append (else write a fresh base) while the log stays small beside the base."""
    if stored is None or stored.frames >= MAX_FRAMES:
        return False
    return stored.log_bytes + frame_bytes <= COMPACT_SHARE * stored.base_bytes


def frame_bytes(arrays: Sequence[NDArray[Any]]) -> int:
    """About what a frame of these arrays takes on disk (its arrays' bytes)."""
    return sum(int(a.nbytes) + 128 for a in arrays)


def files_of(stored: Stored | None) -> set[str]:
    return set() if stored is None else {stored.base, stored.log}


def save(
    out: Path,
    prefix: str,
    previous: Stored | None,
    frame: Sequence[NDArray[Any]] | None,
    base: Callable[[], Sequence[NDArray[Any]]],
) -> Stored:
    """Append ``frame`` (the change since ``previous``) while that is worth it, else write
    ``base()`` (the whole state, made only then) afresh."""
    if frame is not None and worth_appending(previous, frame_bytes(frame)):
        assert previous is not None
        return append(out, previous, frame)
    return write_base(out, prefix, base())


def load(out: Path, stored: Stored) -> tuple[Arrays, list[Arrays]] | None:
    """The base's arrays and the frames to replay over them (None: unusable)."""
    base = read_base(out, stored)
    frames = read_frames(out, stored) if base is not None else None
    return None if base is None or frames is None else (base, frames)
