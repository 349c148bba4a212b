"""OpenStreetMap PBF files, streamed with pyosmium.

An OSM file holds everything at once; each twin layer takes only its own share, decided from
its tags by a rule per layer (:mod:`geodata.importers.osm_tags`). The file is read
once, or twice when polygons are needed (osmium first reads the relations to learn which ways
make up multipolygons, then assembles areas while streaming the rest). Only objects carrying
one of the rule's keys reach Python (an osmium ``KeyFilter``), so the cost of a large extract
is mostly spent in C++.

Memory stays bounded: node locations live in osmium's in-memory index for small files and in a
file-backed index (in a temporary folder) for large ones; features leave in batches whose
width (rows x distinct tag keys) is capped as well as their length, because OSM tags are
sparse and a batch of mixed objects can carry hundreds of keys.

Geometry is WKB in EPSG:4326 straight from osmium's ``WKBFactory``. Feature ids are the OSM
ones (``n45``, ``w123``, ``r7``: an area keeps the id of the way or relation it was built
from), so re-importing a newer extract updates features in place.
"""

from __future__ import annotations

import logging
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import shapely

from geodata.errors import ImportFailed
from geodata.importers.base import Reader, SourceBatch
from geodata.importers.osm_tags import RULES, LayerRule, Tags
from geodata.importers.schemes import (
    ID_CANDIDATES,
)

if TYPE_CHECKING:
    import osmium

LOGGER = logging.getLogger(__name__)

#: files above this size keep node locations in a file-backed index rather than in memory
DISK_INDEX_BYTES = 256 * 1024**2
#: ... and above this one, a dense index (8 bytes per node id, sparse on disk) is smaller
DENSE_INDEX_BYTES = 4 * 1024**3
#: flush a batch early when rows x distinct tag keys passes this many cells
MAX_CELLS = 2_000_000
#: families of fewer objects than this travel together in one mixed batch
MIN_FAMILY = 64


@dataclass
class _Batch:
    """Features gathered until a batch is full (by rows or by tag-table width).

    A flush hands them on in families of alike objects (same first rule key and value: the
    trees, the lamps, the footways...): OSM tags are sparse, and a table mixing every kind of
    object has hundreds of mostly empty columns, which every later step (mapping, the attrs
    JSON, COPY) pays for. Grouped, the same features make tables several times smaller.
    """

    size: int
    area_points: bool
    family_keys: tuple[str, ...]
    ids: list[str] = field(default_factory=list)
    where: list[str] = field(default_factory=list)
    geoms: list[str] = field(default_factory=list)
    tags: list[Tags] = field(default_factory=list)
    is_area: list[bool] = field(default_factory=list)
    family: list[tuple[str, str]] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)
    notes: Counter[str] = field(default_factory=Counter)

    def add(self, oid: str, where: str, geom: str, tags: Tags, area: bool = False) -> None:
        self.ids.append(oid)
        self.where.append(where)
        self.geoms.append(geom)
        self.tags.append(tags)
        self.is_area.append(area)
        self.family.append(next(((k, tags[k]) for k in self.family_keys if k in tags), ("", "")))
        self.keys.update(tags)

    def full(self) -> bool:
        n = len(self.ids)
        return n >= self.size or n * max(len(self.keys), 1) >= MAX_CELLS

    def flush(self) -> list[SourceBatch]:
        """The gathered features as batches, one per family (small families merged)."""
        groups: dict[tuple[str, str], list[int]] = {}
        for i, fam in enumerate(self.family):
            groups.setdefault(fam, []).append(i)
        merged: list[list[int]] = []
        small: list[int] = []
        for members in groups.values():
            if len(members) >= MIN_FAMILY:
                merged.append(members)
            else:
                small.extend(members)
        if small:
            merged.append(sorted(small))
        out = [self._batch(members) for members in merged]
        if out:
            out[0].notes = dict(self.notes)
        elif self.notes:
            out = [self._batch([])]
            out[0].notes = dict(self.notes)
        self.ids, self.where, self.geoms, self.tags, self.is_area = [], [], [], [], []
        self.family, self.keys, self.notes = [], set(), Counter()
        return out

    def _batch(self, members: list[int]) -> SourceBatch:
        # osmium writes hex; the pipeline takes WKB bytes
        geoms = np.empty(len(members), dtype=object)
        geoms[:] = [bytes.fromhex(self.geoms[i]) for i in members]
        areas = np.array([self.is_area[i] for i in members], dtype=bool)
        if self.area_points and areas.any():
            geoms[areas] = shapely.to_wkb(shapely.point_on_surface(shapely.from_wkb(geoms[areas])))
        tags = [self.tags[i] for i in members]
        props = _tag_table(tags)
        return SourceBatch(
            geoms=geoms,
            props=props,
            ids=np.array([self.ids[i] for i in members], dtype=object),
            where=np.array([self.where[i] for i in members], dtype=object),
        )


class OsmReader(Reader):
    """OSM PBF into one layer of the twin (see :data:`RULES`), coordinates in EPSG:4326."""

    name = "osm"
    suffixes = (".osm.pbf", ".pbf")
    scheme = "osm"

    def __init__(self, path: Path, layer: str, rule: LayerRule | None = None) -> None:
        super().__init__(path, layer)
        self.rule = rule or RULES.get(layer)

    def open(self) -> None:
        if self.rule is None:
            raise ImportFailed(
                f"{self.path}: an OSM file can feed the layers {', '.join(RULES)}, "
                f"not {self.layer!r}"
            )
        if not self.path.is_file():
            raise ImportFailed(f"{self.path}: no such file")
        try:
            lib = _osmium()
            reader = lib.io.Reader(str(self.path), lib.osm.NOTHING)
            try:
                reader.header()
            finally:
                reader.close()
        except RuntimeError as exc:
            raise ImportFailed(
                f"{self.path}: not a readable OSM PBF file ({exc}); is it complete?"
            ) from None

    def source_crs(self) -> int | None:
        return 4326

    def count(self) -> int | None:
        return None  # a PBF does not say how many objects it holds

    def batches(self, size: int) -> Iterator[SourceBatch]:
        rule = self.rule
        assert rule is not None, "open() first"
        with tempfile.TemporaryDirectory(prefix="twin-osm-") as tmp:
            yield from self._stream(rule, size, Path(tmp))

    # -- internals ---------------------------------------------------------------------------
    def _processor(self, rule: LayerRule, tmp: Path) -> osmium.FileProcessor:
        lib = _osmium()
        entities = lib.osm.NODE | lib.osm.WAY
        if rule.areas:
            entities |= lib.osm.RELATION
        fp: osmium.FileProcessor = lib.FileProcessor(str(self.path), entities)
        if rule.lines or rule.areas:
            fp.with_locations(location_index(self.path.stat().st_size, tmp))
        if rule.areas:
            fp.with_areas(lib.filter.KeyFilter(*rule.keys))
        return fp.with_filter(lib.filter.KeyFilter(*rule.keys))

    def _stream(self, rule: LayerRule, size: int, tmp: Path) -> Iterator[SourceBatch]:
        wkb = _osmium().geom.WKBFactory()
        acc = _Batch(size, rule.area_points, rule.keys)
        #: closed ways whose polygon osmium should assemble: id -> (tags, ring WKB or None
        #: when nodes are missing), until the area arrives; leftovers are dealt with at the end
        pending: dict[int, tuple[Tags, str | None]] = {}
        relations_wanted = relations_built = 0
        yielded = False
        it = iter(self._processor(rule, tmp))
        obj: Any  # a node, way, area or relation: osmium's union has no common methods
        while True:
            try:
                obj = next(it)
            except StopIteration:
                break
            except RuntimeError as exc:  # libosmium's PBF and I/O errors
                raise ImportFailed(
                    f"{self.path}: reading stopped ({exc}); is the file truncated or damaged? "
                    "Nothing was imported"
                ) from None
            tags = dict(obj.tags)
            if obj.is_node():
                if rule.nodes:
                    self._keep(
                        acc,
                        rule,
                        "node",
                        tags,
                        partial(wkb.create_point, obj),
                        f"n{obj.id}",
                        f"node {obj.id}",
                    )
            elif obj.is_way():
                if rule.lines:
                    self._keep(
                        acc,
                        rule,
                        "line",
                        tags,
                        partial(_line, wkb, obj, acc),
                        f"w{obj.id}",
                        f"way {obj.id}",
                    )
                elif isinstance(verdict := rule.select("line", tags), str):
                    acc.notes[verdict] += 1
                if rule.areas and rule.select("area", tags) is True:
                    if obj.is_closed():
                        pending[obj.id] = (tags, _ring(wkb, obj))
                    else:
                        acc.notes["way not closed: no polygon"] += 1
            elif obj.is_area():
                if rule.select("area", tags) is not True:
                    continue
                if obj.from_way():
                    pending.pop(obj.orig_id(), None)
                    oid, where = f"w{obj.orig_id()}", f"way {obj.orig_id()}"
                else:
                    relations_built += 1
                    oid, where = f"r{obj.orig_id()}", f"relation {obj.orig_id()}"
                try:
                    geom = wkb.create_multipolygon(obj)
                except (RuntimeError, _osmium().InvalidLocationError):
                    acc.notes["polygon osmium could not build"] += 1
                    continue
                self._add(acc, rule, oid, where, geom, tags, area=True)
            elif (
                obj.is_relation()
                and tags.get("type") in ("multipolygon", "boundary")
                and rule.select("area", tags) is True
            ):
                relations_wanted += 1
            if acc.full():
                yield from acc.flush()
                yielded = True
        self._leftovers(acc, rule, pending, relations_wanted - relations_built)
        if acc.ids or (yielded and acc.notes):
            yield from acc.flush()
        elif acc.notes:
            LOGGER.info(
                "%s: nothing for layer %s (%s)",
                self.path,
                self.layer,
                ", ".join(f"{n} {r}" for r, n in acc.notes.items()),
            )

    def _keep(
        self,
        acc: _Batch,
        rule: LayerRule,
        kind: str,
        tags: Tags,
        geom: Callable[[], str | None],
        oid: str,
        where: str,
    ) -> None:
        verdict = rule.select(kind, tags)
        if isinstance(verdict, str):
            acc.notes[verdict] += 1
        elif verdict:
            wkb = geom()
            if wkb is not None:
                self._add(acc, rule, oid, where, wkb, tags)

    @staticmethod
    def _add(
        acc: _Batch,
        rule: LayerRule,
        oid: str,
        where: str,
        geom: str,
        tags: Tags,
        area: bool = False,
    ) -> None:
        if rule.fix_tags is not None:
            tags = rule.fix_tags(tags)
        acc.add(oid, where, geom, tags, area)

    def _leftovers(
        self,
        acc: _Batch,
        rule: LayerRule,
        pending: dict[int, tuple[Tags, str | None]],
        relations_missing: int,
    ) -> None:
        """Closed ways osmium made no polygon of, and multipolygons it could not assemble."""
        for way_id, (tags, ring) in sorted(pending.items()):
            if ring is None:
                acc.notes["cut by the extract's edge (nodes missing)"] += 1
                continue
            # a self-intersecting ring: osmium refuses it, the import repairs it (make_valid)
            polygon = shapely.polygons(shapely.from_wkb(ring))
            self._add(
                acc,
                rule,
                f"w{way_id}",
                f"way {way_id}",
                shapely.to_wkb(polygon, hex=True),
                tags,
                area=True,
            )
        if relations_missing > 0:
            acc.notes["multipolygon relation incomplete in the extract"] += relations_missing


def _osmium() -> ModuleType:
    """pyosmium, imported when an OSM file is read (not when the registry looks at suffixes)."""
    import osmium

    return osmium


def location_index(file_size: int, tmp: Path) -> str:
    """osmium's node location index for a file of this size: memory, else a file in ``tmp``."""
    if file_size < DISK_INDEX_BYTES:
        return "flex_mem"
    kind = "dense_file_array" if file_size >= DENSE_INDEX_BYTES else "sparse_file_array"
    LOGGER.info("node locations go to a %s index in %s", kind, tmp)
    return f"{kind},{tmp / 'nodes.idx'}"


def _ring(wkb: osmium.geom.WKBFactory, way: osmium.osm.Way) -> str | None:
    try:
        return wkb.create_linestring(way)
    except (_osmium().InvalidLocationError, RuntimeError):
        return None


def _line(wkb: osmium.geom.WKBFactory, way: osmium.osm.Way, acc: _Batch) -> str | None:
    """The way as a line; a way cut by the extract keeps its parts that have locations."""
    try:
        return wkb.create_linestring(way)
    except (_osmium().InvalidLocationError, RuntimeError):
        pass  # missing node locations, or fewer than two distinct points
    runs: list[list[tuple[float, float]]] = [[]]
    missing = False
    for node in way.nodes:
        if node.location.valid():
            xy = (node.location.lon, node.location.lat)
            if not runs[-1] or runs[-1][-1] != xy:
                runs[-1].append(xy)
        else:
            missing = True
            if runs[-1]:
                runs.append([])
    parts = [r for r in runs if len(r) >= 2]
    if not parts:
        acc.notes[
            "cut by the extract's edge (nodes missing)"
            if missing
            else "way of fewer than two distinct points"
        ] += 1
        return None
    acc.notes["line clipped at the extract's edge"] += 1
    geom = shapely.LineString(parts[0]) if len(parts) == 1 else shapely.MultiLineString(parts)
    return str(shapely.to_wkb(geom, hex=True))


def _tag_table(tags: list[dict[str, str]]) -> pa.Table:
    """The features' tags as an Arrow table of text columns (a tag a feature lacks: null);
    a tag named like an id attribute is renamed ``osm:<key>``, or it would be taken as the
    feature's id."""
    keys = list(dict.fromkeys(k for t in tags for k in t))
    names = [f"osm:{k}" if k.lower() in ID_CANDIDATES else k for k in keys]
    columns = [pa.array([t.get(k) for t in tags], pa.string()) for k in keys]
    if not columns:
        return pa.table({"n": pa.nulls(len(tags))}).drop_columns(["n"])
    return pa.Table.from_arrays(columns, names=names)
