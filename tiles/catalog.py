"""The built tilesets on disk, as the server sees them: listing, visibility, safe file lookup,
strong ETags and gzip companions. No web framework here: twin.api.tiles adapts it to HTTP.

A tileset's visibility is its layer's, read from :data:`geodata.layers.LAYERS` (the one place
where visibility is decided), made stricter by the manifest's ``min_visibility`` with
:func:`geodata.access.strictest`.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geodata.access import UnknownVisibility, strictest
from geodata.errors import NotFound
from geodata.layers import LAYERS
from tiles.layout import CONTENT_DIR, MANIFEST, TILESET, read_manifest

#: content files are named by the hash of their input and never change: cache them for good
IMMUTABLE = "max-age=31536000, immutable"
#: tileset.json changes at each build: always revalidate (cheap with ETags); the subtrees'
#: files beside the content are hash-named like it
REVALIDATE = "no-cache"
MEDIA_TYPES = {".json": "application/json", ".glb": "model/gltf-binary"}


@dataclass(frozen=True)
class TilesetEntry:
    name: str
    title: str
    layer: str
    visibility: str
    features: int
    bytes: int
    built_at: str
    path: Path

    def public_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "layer": self.layer,
            "visibility": self.visibility,
            "url": f"/tiles/{self.name}/{TILESET}",
            "features": self.features,
            "bytes": self.bytes,
            "built_at": self.built_at,
        }


def tileset_visibility(manifest: dict[str, Any]) -> str:
    """The strictest of the layer's visibility and the manifest's ``min_visibility`` (a
    project that is not public, a restricted source dataset).

    An unknown layer or visibility (a tileset from a newer version) is treated as confidential.
    """
    layer = LAYERS.get(str(manifest.get("layer")))
    try:
        return strictest(
            layer.visibility if layer else "confidential", manifest.get("min_visibility")
        )
    except UnknownVisibility:
        return "confidential"


def _entry(path: Path, manifest: dict[str, Any]) -> TilesetEntry:
    return TilesetEntry(
        name=path.name,
        title=manifest.get("title") or path.name,
        layer=str(manifest.get("layer")),
        visibility=tileset_visibility(manifest),
        features=int(manifest.get("features", 0)),
        bytes=int(manifest.get("bytes", 0)),
        built_at=str(manifest.get("built_at", "")),
        path=path,
    )


def list_tilesets(tiles_dir: Path) -> list[TilesetEntry]:
    """Every built tileset under ``tiles_dir`` (those with a manifest and a tileset.json)."""
    out: list[TilesetEntry] = []
    if not Path(tiles_dir).is_dir():
        return out
    for d in sorted(Path(tiles_dir).iterdir()):
        if d.is_dir() and (d / TILESET).exists() and (d / MANIFEST).exists():
            manifest = read_manifest(d)
            if manifest:
                out.append(_entry(d, manifest))
    return out


def get_tileset(tiles_dir: Path, name: str) -> TilesetEntry:
    d = Path(tiles_dir) / name
    try:
        exists = "/" not in name and not name.startswith(".") and (d / TILESET).is_file()
    except OSError:  # a name too long for the file system: no such tileset either
        exists = False
    if not exists:
        raise NotFound(f"no tileset {name!r}: see GET /tiles, or build it with `twin tiles build`")
    manifest = read_manifest(d)
    if manifest is None:
        raise NotFound(
            f"tileset {name!r} has no build manifest: rebuild it with `twin tiles build`"
        )
    return _entry(d, manifest)


def resolve_file(entry: TilesetEntry, rel: str) -> Path:
    """The file ``rel`` of a tileset: its tileset.json, a content GLB or a subtree's external
    tileset (tiles.subtrees), nothing else (not the manifest, not the lock, nothing outside
    the folder)."""
    root = entry.path.resolve()
    try:
        target = (root / rel).resolve()
        servable = target == root / TILESET or (
            target.parent == root / CONTENT_DIR and target.suffix in (".glb", ".json")
        )
        found = servable and target.is_file()
    except (ValueError, OSError):  # a NUL byte, a name too long: no such file either
        found = False
    if not found:
        raise NotFound(f"tileset {entry.name!r} has no file {rel!r}")
    return target


_ETAGS: dict[tuple[str, int, int, int], str] = {}
_LOCK = threading.Lock()


def etag(path: Path) -> str:
    """A strong ETag: the hash of the file's bytes, remembered while the file is unchanged."""
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size, st.st_ino)
    with _LOCK:
        tag = _ETAGS.get(key)
    if tag is None:
        h = hashlib.blake2b(digest_size=16)
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        tag = f'"{h.hexdigest()}"'
        with _LOCK:
            if len(_ETAGS) > 50_000:
                _ETAGS.clear()
            _ETAGS[key] = tag
    return tag


def gzip_companion(path: Path) -> Path:
    """``path`` + ``.gz``, created once (atomically) if missing or older than ``path``."""
    gz = path.with_name(path.name + ".gz")
    try:
        if gz.stat().st_mtime_ns >= path.stat().st_mtime_ns:
            return gz
    except FileNotFoundError:
        pass
    tmp = gz.with_name(f".{gz.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(gzip.compress(path.read_bytes(), 6, mtime=0))
    os.replace(tmp, gz)
    return gz


def cache_control(path: Path) -> str:
    """Revalidate the root tileset.json; everything in the content folder is immutable."""
    return REVALIDATE if path.name == TILESET else IMMUTABLE


def if_none_match(header: str | None, tag: str) -> bool:
    """Does an If-None-Match header match ``tag`` (weak comparison, as RFC 9110 wants)?"""
    if not header:
        return False
    if header.strip() == "*":
        return True
    bare = tag.removeprefix("W/")
    return any(t.strip().removeprefix("W/") == bare for t in header.split(","))
