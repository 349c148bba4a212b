"""The last step of a build: tileset.json, the manifest and the membership, swapped in
atomically, then files that neither this build nor the one before references removed (a
viewer that loaded the previous tileset.json a moment ago still finds its tiles)."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from tiles import members as members_mod
from tiles import statelog, subtrees
from tiles.changes import LogState
from tiles.farfield import FarField
from tiles.farstate import FarState
from tiles.kinds import TilesetSpec
from tiles.layout import CONTENT_DIR, MANIFEST, TILESET, atomic_write
from tiles.quadtree import Quadtree, decode, geometric_errors, parent
from tiles.tileset import tileset_json
from tiles.tiletask import BUILDER_VERSION, STYLE_DIGEST

GENERATOR = "urban-twin tiles"
_ZERO = (0.0, 0.0, 0.0)


@dataclass
class BuildReport:
    """What a build did: the CLI prints it, the benchmark and tests read it."""

    name: str
    path: str
    features: int = 0
    tiles: int = 0
    written: int = 0
    reused: int = 0
    removed: int = 0
    bytes: int = 0
    first_view_bytes: int = 0
    seconds: float = 0.0
    empty: bool = False
    #: "full", "incremental" or "unchanged"
    mode: str = "full"
    #: features read again because they changed (incremental builds)
    changed: int = 0
    #: buildings read for the far field (all of them in a full build; in an incremental
    #: one, those in the bins the changes touch)
    far_read: int = 0

    @property
    def first_view_fraction(self) -> float:
        return self.first_view_bytes / self.bytes if self.bytes else 0.0


@dataclass
class TileEntry:
    """A tile with content, as the manifest keeps it."""

    key: int
    digest: str
    features: int
    nbytes: int
    lo: list[float] = field(default_factory=list)
    hi: list[float] = field(default_factory=list)


@dataclass
class FarTiles:
    """A build's far field (tiles.farfield) and its tiles (``features`` counts blocks)."""

    far: FarField
    tiles: dict[int, TileEntry]
    written: set[int]
    #: the bins the tiles were made from, kept for the next incremental build
    state: FarState


def far_entries(manifest: dict[str, Any]) -> dict[int, TileEntry]:
    """The far-field tiles a manifest lists (none for a plain tree)."""
    section = manifest.get("farfield") or {}
    return {
        int(t["key"]): TileEntry(int(t["key"]), d, t["blocks"], t["bytes"], t["lo"], t["hi"])
        for d, t in section.get("tiles", {}).items()
    }


def load_far_state(out: Path, manifest: dict[str, Any]) -> FarState | None:
    """The bins a manifest's far field was made from (None: missing or not what it says)."""
    section = manifest.get("farfield") or {}
    stored, count = statelog.Stored.from_json(section), section.get("buildings")
    levels = ((manifest.get("tree") or {}).get("params") or {}).get("first_level")
    if stored is None or not isinstance(count, int) or not isinstance(levels, int):
        return None
    return FarState.load(out, stored, count, levels)


def _far_state(ff: FarTiles, stored: statelog.Stored) -> dict[str, Any]:
    return {
        "params": asdict(ff.far.params),
        "extent": list(ff.far.extent),
        **stored.to_json(),
        "buildings": len(ff.state.owners),
        "tiles": {
            e.digest: {"key": k, "blocks": e.features, "bytes": e.nbytes, "lo": e.lo, "hi": e.hi}
            for k, e in sorted(ff.tiles.items())
        },
    }


def tree_state(tree: Quadtree) -> dict[str, Any]:
    return {
        "x0": tree.x0,
        "y0": tree.y0,
        "side": tree.side,
        "total_bytes": tree.total_bytes,
        "params": asdict(tree.params),
    }


def stats_of(manifest: dict[str, Any]) -> dict[int, members_mod.TileStat]:
    return {
        int(t["key"]): members_mod.TileStat(
            t["features"], t["est_bytes"], t["largest"], t["smallest"]
        )
        for t in manifest.get("tiles", {}).values()
    }


def entries_of(manifest: dict[str, Any]) -> dict[int, TileEntry]:
    return {
        int(t["key"]): TileEntry(int(t["key"]), d, t["features"], t["bytes"], t["lo"], t["hi"])
        for d, t in manifest.get("tiles", {}).items()
    }


def publish(
    spec: TilesetSpec,
    out: Path,
    tree: Quadtree,
    epsg: int,
    tiles: dict[int, TileEntry],
    kept: members_mod.Kept,
    stats: dict[int, members_mod.TileStat],
    written: set[int],
    previous: dict[str, Any] | None,
    hidden: list[int],
    state: LogState,
    report: BuildReport,
    ff: FarTiles | None = None,
) -> None:
    """Write the build (``tiles`` with content, ``written`` those meshed this time; ``ff``
    the far field above them, if the tileset has one)."""
    largest = {k: st.largest for k, st in stats.items()}
    far_tiles = ff.tiles if ff else {}
    errors = geometric_errors(largest | {k: 0.0 for k in far_tiles}, tree.params.error_factor)
    centre = tree.centre
    refine_of = None
    if ff is not None:
        errors |= ff.far.geometric_errors(errors, list(errors))
        centre = ff.far.centre
        refine_of = ff.far.refine
        written = written | ff.written
    nodes: dict[int, subtrees.Tile] = {}
    for key in errors:  # tiles with content and every ancestor (content-less if emptied)
        e = tiles.get(key) or far_tiles.get(key)
        nodes[key] = subtrees.Tile(
            key,
            e.digest if e else None,
            tuple(e.lo) if e else _ZERO,
            tuple(e.hi) if e else _ZERO,
            float(errors[key]),
            centre(key),
            refine_of(key) if refine_of is not None else None,
        )
        if e is None:
            continue
        if key not in far_tiles:
            report.features += e.features
        report.bytes += e.nbytes
        if key in written:
            report.written += 1
        else:
            report.reused += 1
        if decode(key)[0] <= 1:
            report.first_view_bytes += e.nbytes
    children: dict[int, list[int]] = {}
    for key in nodes:
        if (up := parent(key)) is not None:
            children.setdefault(up, []).append(key)
    for v in children.values():
        v.sort()
    known = {
        name: subtrees.Summary.from_json(d)
        for name, d in ((previous or {}).get("subtrees") or {}).items()
    }
    split = subtrees.split_tree(
        nodes,
        children,
        min(nodes),
        epsg=epsg,
        levels=tree.params.subtree_levels,
        min_tiles=tree.params.subtree_tiles,
        refine="ADD",
        known=known,
        content_dir=out / CONTENT_DIR,
    )
    report.bytes += sum(s.nbytes for s in split.files.values())
    root = split.root
    built_at = datetime.now(UTC).isoformat(timespec="seconds")
    digests = sorted(e.digest for e in (*tiles.values(), *far_tiles.values()))
    version = hashlib.blake2b("".join(digests).encode(), digest_size=8).hexdigest()
    extras: dict[str, Any] = {
        "layer": spec.layer,
        "name": spec.name,
        "title": spec.title,
        "epsg": epsg,
        "builtAt": built_at,
        "features": report.features,
    }
    if spec.is_variant:
        extras["hides"] = {"layer": "buildings", "ids": hidden}
    doc = tileset_json(root, generator=GENERATOR, version=version, extras=extras)
    js = orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
    report.tiles = len(tiles) + len(far_tiles)
    report.bytes += len(js)
    report.first_view_bytes += len(js)
    members_state = kept.save(out)
    far_state = ff.state.save(out) if ff is not None else None
    manifest = {
        "name": spec.name,
        "kind": spec.kind,
        "layer": spec.layer,
        "title": spec.title,
        "min_visibility": spec.min_visibility,
        "builder": BUILDER_VERSION,
        "style": STYLE_DIGEST,
        "epsg": epsg,
        "built_at": built_at,
        "version": version,
        "features": report.features,
        "bytes": report.bytes,
        "first_view_bytes": report.first_view_bytes,
        "tree": tree_state(tree),
        "snapshot": state.snapshot,
        "log_id": state.log_id,
        "hidden": hidden,
        "members": {**members_state.to_json(), "count": len(kept.members)},
        "tiles": {
            e.digest: {
                "key": k,
                "features": e.features,
                "bytes": e.nbytes,
                "lo": e.lo,
                "hi": e.hi,
                "est_bytes": stats[k].nbytes,
                "largest": stats[k].largest,
                "smallest": stats[k].smallest,
            }
            for k, e in sorted(tiles.items())
        },
    }
    if ff is not None and far_state is not None:
        manifest["farfield"] = _far_state(ff, far_state)
    manifest["subtrees"] = {n: split.files[n].to_json() for n in sorted(split.files)}
    kept_before = (
        sorted(
            [
                *previous.get("tiles", {}),
                *(e.digest for e in far_entries(previous).values()),
                *(previous.get("subtrees") or {}),
            ]
        )
        if previous
        else []
    )
    manifest["previous"] = kept_before
    atomic_write(out / TILESET, js)
    atomic_write(out / (TILESET + ".gz"), gzip.compress(js, 6, mtime=0))
    atomic_write(out / MANIFEST, orjson.dumps(manifest))
    state_files = statelog.files_of(members_state) | statelog.files_of(far_state)
    for f in (*out.glob("members-*"), *out.glob("far-*")):
        if f.name not in state_files:  # an earlier base and its log, now folded in
            f.unlink(missing_ok=True)
    keep = set(digests) | set(split.files) | set(kept_before)
    for f in (out / CONTENT_DIR).iterdir():
        if f.name.split(".", 1)[0] not in keep:  # x.glb, x.json and their .gz companions
            f.unlink(missing_ok=True)
            report.removed += f.suffix == ".glb"


def republish_unchanged(
    spec: TilesetSpec, out: Path, previous: dict[str, Any], state: LogState, report: BuildReport
) -> None:
    """No row changed: only the manifest moves on (its snapshot, and the visibility, which
    follows the source datasets' and the project's); tileset.json stays as is."""
    manifest = dict(
        previous,
        snapshot=state.snapshot,
        log_id=state.log_id,
        min_visibility=spec.min_visibility,
    )
    atomic_write(out / MANIFEST, orjson.dumps(manifest))
    report.mode = "unchanged"
    report.features = int(previous.get("features", 0))
    report.tiles = report.reused = len(previous.get("tiles", {})) + len(far_entries(previous))
    report.bytes = int(previous.get("bytes", 0))
    report.first_view_bytes = int(previous.get("first_view_bytes", 0))


def remove_tileset(out: Path) -> None:
    """A layer with no feature left has no tileset: drop the files of an earlier build."""
    for name in (TILESET, TILESET + ".gz", MANIFEST):
        (out / name).unlink(missing_ok=True)
    for f in (*out.glob("members-*"), *out.glob("far-*")):
        f.unlink(missing_ok=True)
    for f in (out / CONTENT_DIR).glob("*"):
        f.unlink(missing_ok=True)
