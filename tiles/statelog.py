"""State a build keeps for the next one (the membership, tiles.members; the far field's bins,
tiles.farstate), written in proportion to the change: a base file and an append-only log.

Why: at a million buildings the bins are ~150 MB and the membership ~34 MB; rewriting them
whole after a 1% change cost more than the change itself. Instead a build that starts from
the kept state appends the change it made (a *frame*: a few arrays, tiles.farstate and
tiles.members say which) to the log, and the next build replays the frames over the base.
Once the log outgrows a quarter of the base (:data:`COMPACT_SHARE`), a fresh base is
written under a new name and the log starts empty.

Crash safety: the manifest (swapped in last, atomically) records the base, the log, how many
bytes of the log its state covers and a digest chained over those frames. A build only ever
appends past those bytes (dropping first what a crashed build may have left there), so the
previous manifest's state stays readable until the new manifest replaces it; a base is never
rewritten in place (a new one gets a new name, the old files go once the manifest no longer
names them). A log that does not match its digest, or a base that is missing or not what the
manifest says, makes the state unusable: the build falls back to a full one.
"""

from __future__ import annotations

import hashlib
import io
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

#: past this share of the base's bytes the log is folded into a fresh base
COMPACT_SHARE = 0.25
_SEED = b"statelog-1"

Arrays = list[NDArray[Any]]


@dataclass(frozen=True)
class Stored:
    """Where a state is and how much of its log counts (as the manifest keeps it)."""

    base: str
    log: str
    base_bytes: int
    log_bytes: int = 0
    digest: str = hashlib.blake2b(_SEED, digest_size=16).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.base,
            "log": self.log,
            "base_bytes": self.base_bytes,
            "log_bytes": self.log_bytes,
            "log_digest": self.digest,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Stored | None:
        base = d.get("file")
        if not isinstance(base, str) or "/" in base:
            return None
        log = d.get("log", base.removesuffix(".npy") + ".log")
        stored = cls(base, str(log), int(d.get("base_bytes", 0)), int(d.get("log_bytes", 0)))
        digest = d.get("log_digest")
        return replace_digest(stored, digest) if isinstance(digest, str) else stored


def replace_digest(stored: Stored, digest: str) -> Stored:
    return Stored(stored.base, stored.log, stored.base_bytes, stored.log_bytes, digest)


def _chain(digest: str, frame: bytes) -> str:
    return hashlib.blake2b(bytes.fromhex(digest) + frame, digest_size=16).hexdigest()


def _frame(arrays: Sequence[NDArray[Any]]) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.array([len(arrays)], dtype=np.int64), allow_pickle=False)
    for arr in arrays:
        np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def write_base(out: Path, prefix: str, arrays: Sequence[NDArray[Any]]) -> Stored:
    """A fresh base under a new name (``prefix-{random}.npy``) with an empty log. Like the
    content files it is not fsynced: the manifest that names it is written after it."""
    name = f"{prefix}-{secrets.token_hex(8)}"
    path = out / f"{name}.npy"
    with open(path, "wb") as f:
        for arr in arrays:
            np.save(f, arr, allow_pickle=False)
        size = f.tell()
    return Stored(path.name, f"{name}.log", size)


def read_base(out: Path, stored: Stored) -> Arrays | None:
    """The base's arrays, or None when it is missing or not the size the manifest says."""
    arrays: Arrays = []
    try:
        with open(out / stored.base, "rb") as f:
            size = f.seek(0, io.SEEK_END)
            if size != stored.base_bytes:
                return None
            f.seek(0)
            while f.tell() < size:
                arrays.append(np.load(f, allow_pickle=False))
    except (OSError, ValueError, EOFError):
        return None
    return arrays


def read_frames(out: Path, stored: Stored) -> list[Arrays] | None:
    """The frames the manifest's state covers, in order; None when the log does not match."""
    if stored.log_bytes == 0:
        return []
    try:
        with open(out / stored.log, "rb") as f:
            data = f.read(stored.log_bytes)
    except OSError:
        return None
    if len(data) != stored.log_bytes:
        return None
    frames: list[Arrays] = []
    digest = Stored(stored.base, stored.log, 0).digest
    buf = io.BytesIO(data)
    try:
        while buf.tell() < len(data):
            start = buf.tell()
            n = int(np.load(buf, allow_pickle=False)[0])
            frames.append([np.load(buf, allow_pickle=False) for _ in range(n)])
            digest = _chain(digest, data[start : buf.tell()])
    except (ValueError, EOFError, IndexError):
        return None
    return frames if digest == stored.digest else None


def append(out: Path, stored: Stored, arrays: Sequence[NDArray[Any]]) -> Stored:
    """Append one frame after the bytes ``stored`` covers (what a crashed build left past
    them is dropped first); returns what the next manifest records."""
    frame = _frame(arrays)
    path = out / stored.log
    with open(path, "r+b" if path.exists() else "wb") as f:
        f.truncate(stored.log_bytes)
        f.seek(stored.log_bytes)
        f.write(frame)
    return Stored(
        stored.base,
        stored.log,
        stored.base_bytes,
        stored.log_bytes + len(frame),
        _chain(stored.digest, frame),
    )


def worth_appending(stored: Stored | None, frame_bytes: int) -> bool:
    """Append (else write a fresh base) while the log stays small beside the base."""
    if stored is None:
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
    base: Sequence[NDArray[Any]] | None = None,
) -> Stored:
    """Append ``frame`` (the change since ``previous``) while that is worth it, else write
    ``base`` (the whole state) afresh."""
    if frame is not None and worth_appending(previous, frame_bytes(frame)):
        assert previous is not None
        return append(out, previous, frame)
    assert base is not None, "a state without a base to start from needs its arrays"
    return write_base(out, prefix, base)


def load(out: Path, stored: Stored) -> tuple[Arrays, list[Arrays]] | None:
    """The base's arrays and the frames to replay over them (None: unusable)."""
    base = read_base(out, stored)
    frames = read_frames(out, stored) if base is not None else None
    return None if base is None or frames is None else (base, frames)
