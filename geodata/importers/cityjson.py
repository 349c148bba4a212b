"""CityJSON 1.0, 1.1 and 2.0 files and CityJSONSeq (``.jsonl``) streams: buildings with their LoDs.

Each ``Building`` (with its ``BuildingPart`` s merged in) becomes one feature:

- footprint: the 2D union of the ground surfaces of each object's lowest-LoD geometry (the
  ``GroundSurface`` semantic surfaces; for a solid without semantics its bottom faces; for LoD0
  the surfaces themselves; as a last resort the 2D projection of every face), with z = base;
- base z: the lowest vertex of the best (highest-LoD) geometry, so base + height is the roof;
- ``lod2``: every surface of the highest LoD >= 2 geometry as a MultiPolygon Z, kept so tiles
  can show the real roofs rather than an extruded footprint;
- attributes as they are (the mapping knows ``measuredHeight``, ``storeysAboveGround``,
  ``roofType``, ``function``, ``yearOfConstruction``), plus the LoD height (max z - min z) under
  :data:`geodata.importers.base.LOD_HEIGHT` for the height fallback.

Memory: a CityJSONSeq file is read line by line, one feature at a time, so memory stays flat
whatever its size. A plain CityJSON file is one JSON document whose vertices are shared by all
objects, so it cannot be streamed without a full incremental parser: it is loaded whole (parsed
with orjson, vertices kept as one numpy array). Convert very large files to CityJSONSeq first
(``cjio big.city.json export jsonl big.city.jsonl``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import shapely
from numpy.typing import NDArray
from pyproj import CRS
from pyproj.exceptions import CRSError as ProjCRSError

from geodata.errors import ImportFailed
from geodata.importers.base import LOD_HEIGHT, Reader, SourceBatch

#: CityJSON versions whose geometry model this reader understands (major.minor)
VERSIONS = ("1.0", "1.1", "2.0")
#: nesting depth of ``boundaries`` down to a surface, per geometry type
_SURFACE_DEPTH = {
    "MultiSurface": 1,
    "CompositeSurface": 1,
    "Solid": 2,
    "MultiSolid": 3,
    "CompositeSolid": 3,
}
_EPSG = re.compile(r"EPSG(?:/[^/]*/|:[^:/]*:|:)(\d+)", re.IGNORECASE)
#: a face lies on the bottom of a solid when all its vertices are this close to its lowest z
_BOTTOM = 0.01
_SEQ_SUFFIXES = (".jsonl", ".city.jsonl", ".cityjsonseq")
_UPGRADE = "upgrade it with cjio (`cjio in.city.json upgrade save out.city.json`)"


@dataclass
class _Context:
    """What every feature needs from the file's header: transform and geometry templates."""

    scale: NDArray[Any]
    translate: NDArray[Any]
    templates: list[dict[str, Any]]
    template_vertices: NDArray[Any]


class CityJSONReader(Reader):
    """Buildings from CityJSON (``.city.json``, or ``.json`` with ``"type": "CityJSON"``) and
    CityJSONSeq (``.city.jsonl``, ``.jsonl``): see the module docstring for what is kept."""

    name = "cityjson"
    suffixes = (".city.json", ".json", *_SEQ_SUFFIXES)
    scheme = "cityjson"

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> bool:
        """A ``.json`` file is CityJSON only when it says so; the other endings always are."""
        name = path.name.lower()
        if name.endswith(".json") and not name.endswith(".city.json"):
            return b'"CityJSON"' in head
        return super().sniff(path, head)

    def __init__(self, path: Path, layer: str) -> None:
        super().__init__(path, layer)
        self._seq = path.name.lower().endswith(_SEQ_SUFFIXES)
        self._doc: dict[str, Any] | None = None
        self._ctx: _Context | None = None
        self._crs: int | None = None
        self._crs_problem: str | None = None
        self._count: int | None = None

    # -- metadata -------------------------------------------------------------------------
    def open(self) -> None:
        if self.layer != "buildings":
            raise ImportFailed(
                f"{self.path}: CityJSON files import into --layer buildings only "
                f"(not {self.layer}); export other city objects to GeoJSON or GeoPackage"
            )
        if self._seq:
            header, self._count = self._read_header()
        else:
            header = self._load_document()
            self._count = sum(1 for _ in _roots(header.get("CityObjects") or {}))
        self._check_version(header, "line 1" if self._seq else None)
        self._ctx = self._context(header)
        ref = (header.get("metadata") or {}).get("referenceSystem")
        if ref:
            self._crs, self._crs_problem = _epsg_of(ref, self.path)

    def source_crs(self) -> int | None:
        """The horizontal part of ``metadata.referenceSystem``; a problem with it is raised
        only here, so that ``--crs`` (which skips this call) can override a bad one."""
        if self._crs_problem:
            raise ImportFailed(self._crs_problem)
        return self._crs

    def count(self) -> int | None:
        return self._count

    def _load_document(self) -> dict[str, Any]:
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            raise ImportFailed(f"{self.path}: cannot read the file ({exc.strerror})") from None
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ImportFailed(
                f"{self.path}: not valid JSON ({exc}); is the file truncated? Export it again"
            ) from None
        del raw
        if not isinstance(doc, dict) or doc.get("type") != "CityJSON":
            raise ImportFailed(
                f'{self.path}: not a CityJSON file (no "type": "CityJSON" at the top); '
                "GeoJSON goes through the same command with a .geojson name"
            )
        if not isinstance(doc.get("vertices"), list):
            raise ImportFailed(
                f'{self.path}: no "vertices" array: the CityJSON file is incomplete; export it '
                "again"
            )
        if not isinstance(doc.get("CityObjects"), dict):
            raise ImportFailed(f'{self.path}: no "CityObjects": the CityJSON file is incomplete')
        self._doc = doc
        return doc

    def _read_header(self) -> tuple[dict[str, Any], int]:
        """First line of a CityJSONSeq: the CityJSON header; also count the feature lines."""
        try:
            with self.path.open("rb") as f:
                first = f.readline()
                features = sum(1 for line in f if line.strip())
        except OSError as exc:
            raise ImportFailed(f"{self.path}: cannot read the file ({exc.strerror})") from None
        try:
            header = orjson.loads(first)
        except orjson.JSONDecodeError as exc:
            raise ImportFailed(
                f"{self.path}, line 1: not valid JSON ({exc}); a CityJSONSeq file starts with "
                "a CityJSON header line"
            ) from None
        if not isinstance(header, dict) or header.get("type") != "CityJSON":
            raise ImportFailed(
                f'{self.path}, line 1: expected the CityJSON header ("type": "CityJSON" with '
                "transform and metadata), found "
                f"{header.get('type') if isinstance(header, dict) else type(header).__name__!r}"
            )
        return header, features

    def _check_version(self, header: dict[str, Any], line: str | None) -> None:
        where = f"{self.path}, {line}" if line else str(self.path)
        version = str(header.get("version", ""))
        match = re.match(r"^(\d+)\.(\d+)", version)
        if not match or f"{match[1]}.{match[2]}" not in VERSIONS:
            raise ImportFailed(
                f"{where}: CityJSON version {version or '(none)'!r} is not supported "
                f"(supported: {', '.join(VERSIONS)}); {_UPGRADE}"
            )

    def _context(self, header: dict[str, Any]) -> _Context:
        scale, translate = _transform(header, str(self.path))
        tpl = header.get("geometry-templates") or {}
        tverts = _vertex_array(tpl.get("vertices-templates") or [], str(self.path), "templates")
        return _Context(scale, translate, list(tpl.get("templates") or []), tverts)

    # -- features -------------------------------------------------------------------------
    def batches(self, size: int) -> Iterator[SourceBatch]:
        assert self._ctx is not None
        out = _Collector(self._ctx, str(self.path))
        for objects, verts, where_of in self._features():
            roots = list(_roots(objects))
            merged = {part for oid in roots for part in _parts(objects, oid)}
            for oid, obj in objects.items():
                if oid in merged:
                    if oid in roots:
                        out.add_building(objects, oid, verts, where_of(oid))
                else:
                    out.notes[f"not a building: {obj.get('type', 'untyped object')}"] += 1
                if len(out) >= size:
                    yield out.build()
                    out = _Collector(self._ctx, str(self.path))
        if len(out) or out.notes:
            yield out.build()

    def _features(self) -> Iterator[tuple[dict[str, Any], NDArray[Any], Callable[[str], str]]]:
        """(city objects, their real-world vertices, how to name an object) per feature: the
        whole document for CityJSON, one line at a time for CityJSONSeq."""
        assert self._ctx is not None
        ctx = self._ctx
        if not self._seq:
            assert self._doc is not None
            verts = _vertex_array(self._doc.pop("vertices"), str(self.path), "vertices")
            yield (
                self._doc["CityObjects"],
                _real(verts, ctx, str(self.path)),
                lambda oid: f"CityObject {oid!r}",
            )
            self._doc = None
            return
        with self.path.open("rb") as f:
            f.readline()
            for lineno, line in enumerate(f, start=2):
                if not line.strip():
                    continue
                try:
                    feature = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise ImportFailed(
                        f"{self.path}, line {lineno}: not valid JSON ({exc}); is the file "
                        "truncated? Export it again"
                    ) from None
                if not isinstance(feature, dict) or feature.get("type") != "CityJSONFeature":
                    raise ImportFailed(
                        f'{self.path}, line {lineno}: expected a "CityJSONFeature" object'
                    )
                objects = feature.get("CityObjects")
                if not isinstance(objects, dict) or not isinstance(feature.get("vertices"), list):
                    raise ImportFailed(
                        f'{self.path}, line {lineno}: the feature has no "CityObjects" or no '
                        '"vertices": the file is incomplete; export it again'
                    )
                verts = _vertex_array(
                    feature["vertices"], f"{self.path}, line {lineno}", "vertices"
                )
                yield (
                    objects,
                    _real(verts, ctx, f"{self.path}, line {lineno}"),
                    partial(_line_of, lineno),
                )

    def close(self) -> None:
        self._doc = None


# -- batches: gather in flat lists, build with a few vectorised calls --------------------------
class _Collector:
    """The buildings of one batch, with every surface of every geometry in flat lists.

    Rings, polygons, LoD surfaces and footprints are then built with one vectorised shapely
    call per batch instead of several calls per surface: per-call overhead, not GEOS work,
    is what dominates with thousands of small buildings.
    """

    def __init__(self, ctx: _Context, file: str) -> None:
        self.ctx = ctx
        self.file = file
        self.notes: Counter[str] = Counter()
        self.ids: list[str] = []
        self.where: list[str] = []
        self.props: list[dict[str, Any]] = []
        #: per building, per part: indices of its geometries
        self.parts: list[list[list[int]]] = []
        self.geom_lod: list[float] = []
        self.poly_geom: list[int] = []  # polygon -> geometry
        self.poly_sem: list[str | None] = []  # polygon -> semantic surface type
        self.ring_poly: list[int] = []  # ring -> polygon
        self.ring_len: list[int] = []
        self.coords: list[NDArray[Any]] = []
        # vertex indices waiting to be looked up in the current vertex array (``pool``)
        self._pool: NDArray[Any] | None = None
        self._pool_idx: list[int] = []
        self._pool_geoms: list[tuple[int, str]] = []  # (end offset in _pool_idx, where)

    def __len__(self) -> int:
        return len(self.ids)

    # -- gathering ------------------------------------------------------------------------
    def add_building(
        self, objects: dict[str, Any], oid: str, verts: NDArray[Any], where: str
    ) -> None:
        props: dict[str, Any] = {}
        parts: list[list[int]] = []
        for part in _parts(objects, oid):
            obj = objects[part]
            for key, value in (obj.get("attributes") or {}).items():
                props.setdefault(key, value)
            if "address" not in props and obj.get("address"):
                props["address"] = _address(obj["address"])
            geoms: list[int] = []
            for raw in obj.get("geometry") or ():
                try:
                    g = self._add_geometry(raw, verts, where)
                except (TypeError, ValueError, KeyError, AttributeError) as exc:
                    raise ImportFailed(
                        f"{self.file}, {where}: malformed geometry ({exc!r}): check the file "
                        "against the CityJSON specification (cjio in.city.json validate)"
                    ) from None
                if g is not None:
                    geoms.append(g)
            parts.append(geoms)
        self.ids.append(oid)
        self.where.append(where)
        self.props.append(props)
        self.parts.append(parts)

    def _use(self, verts: NDArray[Any]) -> None:
        if verts is not self._pool:
            self._flush()
            self._pool = verts

    def _flush(self) -> None:
        """Look up the waiting vertex indices, naming the object if one is out of range."""
        if not self._pool_idx:
            return
        assert self._pool is not None
        idx = np.asarray(self._pool_idx, dtype=np.int64)
        n = len(self._pool)
        if idx.min() < 0 or idx.max() >= n:
            start = 0
            for end, where in self._pool_geoms:
                part = idx[start:end]
                if len(part) and (part.min() < 0 or part.max() >= n):
                    raise ImportFailed(
                        f"{self.file}, {where}: a geometry uses vertex {int(part.max())} but "
                        f"there are only {n} vertices: the file is incomplete or corrupt; "
                        "export it again"
                    )
                start = end
        self.coords.append(self._pool[idx])
        self._pool_idx, self._pool_geoms = [], []

    def _add_geometry(self, raw: dict[str, Any], verts: NDArray[Any], where: str) -> int | None:
        """Queue the surfaces of one geometry; its index, or None for points and lines."""
        if raw.get("type") == "GeometryInstance":
            template, moved = _instance(raw, verts, self.ctx, self.file, where)
            self._flush()
            self._pool = moved
            try:
                return self._add_geometry(template, moved, where)
            finally:
                self._flush()
                self._pool = None
        depth = _SURFACE_DEPTH.get(raw.get("type", ""))
        if depth is None:
            return None
        self._use(verts)
        surfaces: list[Any] = []
        values: list[Any] = []
        sem = raw.get("semantics") or {}
        _walk(raw.get("boundaries") or [], sem.get("values"), depth, surfaces, values)
        kinds = sem.get("surfaces") or []
        g = len(self.geom_lod)
        first_poly = len(self.poly_sem)
        for surface, value in zip(surfaces, values, strict=True):
            if not surface or len(set(surface[0])) < 3:
                continue  # degenerate outer ring: nothing to draw
            p = len(self.poly_sem)
            for ring in surface:
                if len(set(ring)) >= 3:
                    self._pool_idx.extend(ring)
                    self.ring_len.append(len(ring))
                    self.ring_poly.append(p)
            kind = kinds[value] if isinstance(value, int) and 0 <= value < len(kinds) else None
            self.poly_sem.append(kind.get("type") if isinstance(kind, dict) else None)
            self.poly_geom.append(g)
        if len(self.poly_sem) == first_poly:
            return None
        self._pool_geoms.append((len(self._pool_idx), where))
        self.geom_lod.append(_lod(raw.get("lod")))
        return g

    # -- building ---------------------------------------------------------------------------
    def build(self) -> SourceBatch:
        self._flush()
        n = len(self.ids)
        footprints = np.full(n, None, dtype=object)
        lod2 = np.full(n, None, dtype=object)
        lod_height = np.full(n, np.nan)
        if self.ring_len:
            self._geometry(footprints, lod2, lod_height)
        props = pd.DataFrame(self.props, index=pd.RangeIndex(n))
        props[LOD_HEIGHT] = lod_height
        return SourceBatch(
            geoms=footprints,
            props=props,
            ids=np.array(self.ids, dtype=object),
            where=np.array(self.where, dtype=object),
            lod2=lod2 if any(g is not None for g in lod2) else None,
            notes=dict(self.notes),
        )

    def _geometry(
        self, footprints: NDArray[Any], lod2: NDArray[Any], lod_height: NDArray[Any]
    ) -> None:
        coords = np.concatenate(self.coords)
        ring_len = np.asarray(self.ring_len)
        ring_poly = np.asarray(self.ring_poly)
        poly_geom = np.asarray(self.poly_geom)
        rings = shapely.linearrings(coords, indices=np.repeat(np.arange(len(ring_len)), ring_len))
        polys = shapely.polygons(rings, indices=ring_poly)
        # z ranges: per ring, per polygon's outer ring, per geometry
        z = coords[:, 2]
        starts = np.concatenate([[0], np.cumsum(ring_len)[:-1]])
        ring_zmin, ring_zmax = np.minimum.reduceat(z, starts), np.maximum.reduceat(z, starts)
        face_zmax = ring_zmax[_firsts(ring_poly)]
        ring_geom = poly_geom[ring_poly]
        geom_first_ring = _firsts(ring_geom)
        geom_zmin = np.minimum.reduceat(ring_zmin, geom_first_ring)
        geom_zmax = np.maximum.reduceat(ring_zmax, geom_first_ring)
        poly_start = _firsts(poly_geom)
        poly_end = np.append(poly_start[1:], len(poly_geom))
        flat = shapely.force_2d(polys)
        with np.errstate(over="ignore", invalid="ignore"):  # absurd ones are refused later
            has_area = shapely.area(flat) > 1e-9
        valid = shapely.is_valid(flat)
        ground = np.asarray(self.poly_sem, dtype=object) == "GroundSurface"
        lod = np.asarray(self.geom_lod)

        def faces(g: int) -> NDArray[Any]:
            """Ground faces of geometry ``g`` (see the module docstring for the rules)."""
            s, e = poly_start[g], poly_end[g]
            area = has_area[s:e]
            pick = ground[s:e] & area
            if not pick.any():
                pick = area if lod[g] < 1 else (face_zmax[s:e] - geom_zmin[g] < _BOTTOM) & area
                if not pick.any():
                    pick = area
            return np.asarray(np.flatnonzero(pick) + s)

        base = np.full(len(footprints), np.nan)
        lod_polys: list[NDArray[Any]] = []
        lod_owner: list[int] = []
        for b, parts in enumerate(self.parts):
            chosen: list[NDArray[Any]] = []
            zmin, zmax = np.inf, -np.inf
            for geoms in parts:
                if not geoms:
                    continue
                ordered = sorted(geoms, key=lambda g: lod[g])
                for g in ordered:  # the lowest LoD that has a ground outline
                    f = faces(g)
                    if len(f):
                        chosen.append(f)
                        break
                best = ordered[-1]
                zmin, zmax = min(zmin, geom_zmin[best]), max(zmax, geom_zmax[best])
                if lod[best] >= 2:
                    lod_polys.append(np.arange(poly_start[best], poly_end[best]))
                    lod_owner.append(b)
            if np.isfinite(zmin):
                base[b], lod_height[b] = zmin, zmax - zmin
            if chosen:
                footprints[b] = _outline(flat, valid, np.concatenate(chosen))
        has = np.array([f is not None for f in footprints], dtype=bool)
        if has.any():
            footprints[has] = shapely.to_wkb(shapely.force_3d(footprints[has], base[has]))
        if lod_polys:
            owners = np.array(lod_owner)
            parts_of = np.concatenate(lod_polys)
            owner_of = np.repeat(owners, [len(p) for p in lod_polys])
            keep = np.unique(owners)
            rank = np.searchsorted(keep, owner_of)
            lod2[keep] = shapely.multipolygons(polys[parts_of], indices=rank)


def _firsts(group: NDArray[Any]) -> NDArray[Any]:
    """Start offset of each run of equal values in a sorted group-id array."""
    return np.concatenate([[0], np.flatnonzero(np.diff(group)) + 1])


def _outline(
    flat: NDArray[Any], valid: NDArray[Any], faces: NDArray[Any]
) -> shapely.Geometry | None:
    """2D union of the chosen faces (repaired when invalid), polygons only."""
    if len(faces) == 1 and valid[faces[0]]:
        return flat[faces[0]]
    parts = flat[faces].copy()
    bad = ~valid[faces]
    if bad.any():
        parts[bad] = shapely.make_valid(parts[bad])
    return _polygonal(shapely.union_all(parts))


def _roots(objects: dict[str, Any]) -> Iterator[str]:
    """Ids of the buildings to import: Buildings, and BuildingParts whose parent is missing."""
    for oid, obj in objects.items():
        kind = obj.get("type")
        orphan = kind == "BuildingPart" and not any(
            objects.get(p, {}).get("type") in ("Building", "BuildingPart")
            for p in obj.get("parents") or ()
        )
        if kind == "Building" or orphan:
            yield oid


def _parts(objects: dict[str, Any], oid: str) -> list[str]:
    """``oid`` and its BuildingPart descendants (parts of parts too)."""
    out, todo = [], [oid]
    while todo:
        cur = todo.pop()
        if cur in out:
            continue
        out.append(cur)
        for child in objects.get(cur, {}).get("children") or ():
            if objects.get(child, {}).get("type") == "BuildingPart":
                todo.append(child)
    return out


def _address(addresses: Any) -> str | None:
    """CityJSON 2.0 ``address`` objects -> "12 Main Street, 1234 Town" (the first one)."""
    if isinstance(addresses, dict):
        addresses = [addresses]
    if not isinstance(addresses, list) or not addresses or not isinstance(addresses[0], dict):
        return None
    a = addresses[0]
    street = " ".join(str(a[k]) for k in ("ThoroughfareNumber", "ThoroughfareName") if a.get(k))
    town = " ".join(str(a[k]) for k in ("PostalCode", "LocalityName") if a.get(k))
    return ", ".join(p for p in (street, town) if p) or None


# -- geometry helpers ---------------------------------------------------------------------------
def _walk(bounds: Any, values: Any, depth: int, surfaces: list[Any], out: list[Any]) -> None:
    """Flatten ``boundaries`` to a list of surfaces, with the semantic value of each."""
    for k, sub in enumerate(bounds):
        value = values[k] if isinstance(values, list) and k < len(values) else None
        if depth == 1:
            surfaces.append(sub)
            out.append(value)
        else:
            _walk(sub, value, depth - 1, surfaces, out)


def _instance(
    raw: dict[str, Any], verts: NDArray[Any], ctx: _Context, file: str, where: str
) -> tuple[dict[str, Any], NDArray[Any]]:
    """A GeometryInstance as its template's geometry, moved to the reference point."""
    try:
        template = ctx.templates[int(raw["template"])]
        ref = verts[int(raw["boundaries"][0])]
        matrix = np.asarray(raw.get("transformationMatrix", np.eye(4).ravel()), dtype=np.float64)
        matrix = matrix.reshape(4, 4)
    except (KeyError, IndexError, TypeError, ValueError):
        raise ImportFailed(
            f"{file}, {where}: a GeometryInstance refers to a missing template or vertex"
        ) from None
    tv = ctx.template_vertices
    moved = (np.c_[tv, np.ones(len(tv))] @ matrix.T)[:, :3] + ref
    return template, moved


def _lod(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry | None:
    """Only the polygons of ``geom`` (a union can leave lines and points), or None."""
    parts = [
        p
        for p in shapely.get_parts(geom)
        if p.geom_type in ("Polygon", "MultiPolygon") and not p.is_empty
    ]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else shapely.union_all(parts)


def _vertex_array(values: Iterable[Any], file: str, what: str) -> NDArray[Any]:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ImportFailed(
            f"{file}: the {what} are not all [x, y, z] numbers: the file is corrupt; export it "
            "again"
        ) from None
    if arr.size == 0:
        return np.zeros((0, 3))
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ImportFailed(f"{file}: the {what} are not all [x, y, z] triples")
    return arr


def _transform(header: dict[str, Any], file: str) -> tuple[NDArray[Any], NDArray[Any]]:
    """``transform.scale`` and ``transform.translate`` of a CityJSON header.

    CityJSON 1.0 made ``transform`` optional (vertices are then real coordinates); from 1.1
    on it is mandatory (vertices are integers). A scale must be three positive finite numbers
    and a translate three finite ones; an absurd but finite scale is caught later, where
    every coordinate is checked against the CRS's area of use.
    """
    version = str(header.get("version", ""))
    if "transform" not in header:
        if version.startswith("1.0"):
            return np.ones(3), np.zeros(3)
        raise ImportFailed(
            f'{file}: no "transform": CityJSON {version} requires one (vertices are integers '
            "scaled by transform.scale and moved by transform.translate); add it, or export "
            "the file again"
        )
    transform = header["transform"]
    if not isinstance(transform, dict):
        raise ImportFailed(
            f'{file}: "transform" must be an object {{"scale": [sx, sy, sz], "translate": '
            f"[tx, ty, tz]}}, not {type(transform).__name__} {_short(transform)}"
        )
    out = []
    for key in ("scale", "translate"):
        value = transform.get(key)
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            arr = np.zeros(0)
        ok = arr.shape == (3,) and bool(np.isfinite(arr).all())
        if ok and key == "scale":
            ok = bool((arr > 0).all())
        if not ok:
            what = "3 positive numbers" if key == "scale" else "3 finite numbers"
            raise ImportFailed(
                f"{file}: transform.{key} must be {what}, found {_short(value)}: fix the "
                "file's transform or export it again"
            )
        out.append(arr)
    return out[0], out[1]


def _real(verts: NDArray[Any], ctx: _Context, where: str) -> NDArray[Any]:
    """Real-world vertices (``vertex * scale + translate``); a product beyond floating point
    range means a corrupt transform (the coordinate rule of the layer checks the rest)."""
    with np.errstate(over="ignore", invalid="ignore"):
        real = verts * ctx.scale + ctx.translate
    bad = ~np.isfinite(real).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ImportFailed(
            f"{where}: vertex {i} {verts[i].tolist()} times transform.scale "
            f"{ctx.scale.tolist()} is not a finite coordinate: the transform or the vertices "
            "are corrupt; export the file again"
        )
    return np.asarray(real)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _epsg_of(ref: str, path: Path) -> tuple[int | None, str | None]:
    """EPSG code of the horizontal part of a CityJSON ``referenceSystem``, or the problem."""
    match = _EPSG.search(str(ref))
    fix = "give the right one with --crs EPSG:XXXX"
    if not match:
        return None, f"{path}: metadata.referenceSystem {ref!r} names no EPSG code: {fix}"
    try:
        crs = CRS.from_epsg(int(match[1]))
    except ProjCRSError:
        return None, f"{path}: metadata.referenceSystem {ref!r} is an unknown CRS: {fix}"
    if crs.is_compound:
        crs = crs.sub_crs_list[0]  # horizontal part; z is kept as stored
    elif len(crs.axis_info) == 3:
        crs = crs.to_2d()
    code = crs.to_epsg()
    if code is None:
        return None, f"{path}: the horizontal CRS of {ref!r} has no EPSG code: {fix}"
    return code, None


def _line_of(lineno: int, oid: str) -> str:
    return f"line {lineno} (CityObject {oid!r})"
