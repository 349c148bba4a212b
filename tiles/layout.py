"""Where a tileset lives on disk and how its build manifest is read.

Kept apart from the build so that serving a tile (tiles.catalog, the HTTP routes) imports
the standard library and orjson only, never the meshing stack.

A tileset folder holds ``tileset.json`` (and its gzip), ``build.json`` (the manifest, never
served), ``members-{id}.arrays`` and its ``.log`` (which tile holds which feature, for
incremental builds, tiles.statelog; never served), ``far-{id}.arrays`` and its ``.log`` (the far
field's bins, tiles.farstate; never served), ``.lock``, and in ``content/`` the hash-named
``{hash}.glb`` tiles and ``{hash}.json`` subtree files (their ``.gz`` companions made on
first request by tiles.catalog).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import orjson

LOGGER = logging.getLogger(__name__)

TILESET = "tileset.json"
MANIFEST = "build.json"
LOCK = ".lock"
CONTENT_DIR = "content"


def tileset_dir(tiles_dir: Path, name: str) -> Path:
    return Path(tiles_dir) / name


def content_uri(digest: str) -> str:
    """A content file's URI relative to its tileset.json."""
    return f"{CONTENT_DIR}/{digest}.glb"


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest of the tileset in folder ``path``, or None when missing or unreadable
    (an unreadable one makes the next build a full one)."""
    try:
        doc = orjson.loads((Path(path) / MANIFEST).read_bytes())
    except FileNotFoundError:
        return None
    except orjson.JSONDecodeError:
        LOGGER.warning("%s is unreadable: the next build rebuilds every tile", path / MANIFEST)
        return None
    return doc if isinstance(doc, dict) else None


def atomic_write(path: Path, data: bytes) -> None:
    """Write aside, fsync, rename: a reader sees the old file or the new one, never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_new(path: Path, data: bytes) -> None:
    """Write a hash-named file (content or subtree) the way every build does: referenced only
    once tileset.json is swapped in, so no fsync (a scattered change writes hundreds, and
    creating a file is the dearest step on some file systems); a new name is written in
    place (a crash leaves a file no manifest knows, rewritten by the next build that needs
    it), an existing one (a viewer may be reading it) through a rename. Its gzip companion
    is made by the catalog on first request (tiles.catalog.gzip_companion)."""
    if path.exists():
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    else:
        path.write_bytes(data)
