"""CityJSON city objects to building features: footprints, base, LoD height and LoD2 surfaces.

The rules (which surfaces make a footprint, which LoD gives the base and the roof) are in the
docstring of :mod:`geodata.importers.cityjson`, whose reader hands each document (or
CityJSONSeq line) here as city objects and real-world vertices. A :class:`Collector` gathers
the surfaces of a batch in flat lists and builds them with a few vectorised shapely calls.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray

from geodata.errors import ImportFailed
from geodata.importers.base import LOD_HEIGHT, SourceBatch

#: nesting depth of ``boundaries`` down to a surface, per geometry type
_SURFACE_DEPTH = {
    "MultiSurface": 1,
    "CompositeSurface": 1,
    "Solid": 2,
    "MultiSolid": 3,
    "CompositeSolid": 3,
}
#: a face lies on the bottom of a solid when all its vertices are this close to its lowest z
_BOTTOM = 0.01


@dataclass
class Context:
    """What every feature needs from the file's header: transform and geometry templates."""

    scale: NDArray[Any]
    translate: NDArray[Any]
    templates: list[dict[str, Any]]
    template_vertices: NDArray[Any]


@dataclass
class FlatGeometry:
    """One geometry of a building as flat lists (:meth:`Collector.add_flat`): its LoD, the
    semantic surface type of each polygon (None: none), the polygon (0-based, in this
    geometry) of each ring and each ring's number of vertices."""

    lod: float
    sem: list[str | None]
    ring_poly: list[int]
    ring_len: list[int]


# -- batches: gather in flat lists, build with a few vectorised calls --------------------------
class Collector:
    """The buildings of one batch, with every surface of every geometry in flat lists.

    Rings, polygons, LoD surfaces and footprints are then built with one vectorised shapely
    call per batch instead of several calls per surface: per-call overhead, not GEOS work,
    is what dominates with thousands of small buildings.
    """

    def __init__(self, ctx: Context, file: str) -> None:
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
        for part in building_parts(objects, oid):
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

    def add_flat(
        self,
        oid: str,
        where: str,
        props: dict[str, Any],
        parts: list[list[FlatGeometry]],
        coords: NDArray[Any],
    ) -> None:
        """A building whose geometries a reader of another format has already flattened
        (CityGML: :mod:`geodata.importers.citygml_building`), built by the same rules as a
        CityJSON one: per part, its geometries; ``coords`` holds the vertices of every ring of
        them, in order. Not to be mixed with :meth:`add_building` in one batch."""
        owned: list[list[int]] = []
        for geoms in parts:
            ids: list[int] = []
            for geom in geoms:
                if not geom.ring_len:
                    continue
                g = len(self.geom_lod)
                first = len(self.poly_sem)
                self.geom_lod.append(float(geom.lod))
                self.poly_sem.extend(geom.sem)
                self.poly_geom.extend([g] * len(geom.sem))
                self.ring_poly.extend([first + p for p in geom.ring_poly])
                self.ring_len.extend(geom.ring_len)
                ids.append(g)
            owned.append(ids)
        if len(coords):
            self.coords.append(coords)
        self.ids.append(oid)
        self.where.append(where)
        self.props.append(props)
        self.parts.append(owned)

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
        # CityJSON attributes mix JSON types (a number here, text or a list there): a frame
        # holds them as they are, the pipeline's adapter types them (geodata.importers.frames)
        from geodata.importers.lean import with_pandas

        with_pandas()
        import pandas as pd

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


def building_roots(objects: dict[str, Any]) -> Iterator[str]:
    """Ids of the buildings to import: Buildings, and BuildingParts whose parent is missing."""
    for oid, obj in objects.items():
        kind = obj.get("type")
        orphan = kind == "BuildingPart" and not any(
            objects.get(p, {}).get("type") in ("Building", "BuildingPart")
            for p in obj.get("parents") or ()
        )
        if kind == "Building" or orphan:
            yield oid


def building_parts(objects: dict[str, Any], oid: str) -> list[str]:
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
    raw: dict[str, Any], verts: NDArray[Any], ctx: Context, file: str, where: str
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
