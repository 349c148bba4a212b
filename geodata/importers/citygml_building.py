"""One CityGML ``bldg:Building`` element into a batch of the CityJSON reader's collector.

The CityGML reader (:mod:`geodata.importers.citygml`) hands each parsed Building here; its
attributes and geometries go into :class:`geodata.importers.cityjson_geometry.Collector` as
flat lists (:meth:`~geodata.importers.cityjson_geometry.Collector.add_flat`): per part (the
Building, then its ``BuildingPart`` s), one geometry per LoD whose polygons carry their
semantic surface type, and the vertices of all their rings. The footprint, base, LoD height
and LoD2 rules are then the CityJSON ones, in one place, for both formats.

What is read, for CityGML 1.0, 2.0 and 3.0 alike (elements are matched by local name, so the
2.0 ``bldg:boundedBy`` / ``bldg:lod2MultiSurface`` and the 3.0 ``core:boundary`` /
``core:lod2MultiSurface`` are the same thing here):

- geometry under ``lodN*`` properties (``lod1Solid``, ``lod2MultiSurface``, ``lod0FootPrint``...),
  one geometry per object and LoD; polygons under a boundary surface (``RoofSurface``,
  ``WallSurface``, ``GroundSurface``...) keep its type as their semantics, also when a solid
  refers to them by ``xlink:href`` or they refer to the solid's polygons;
- attributes: the simple properties (``measuredHeight``, ``storeysAboveGround``, ``roofType``,
  ``function``, ``usage``, ``yearOfConstruction``, ``gml:name``...) under their CityGML names,
  which the attribute scheme maps; 3.0's ``con:height`` (``con:Height`` or the draft's
  ``con:HeightAboveGround``) as ``measuredHeight``; generic attributes (2.0
  ``gen:stringAttribute`` ..., 3.0 ``core:genericAttribute`` / ``gen:StringAttribute`` ...) by
  their names, sets as nested objects; the first address as one line of text;
- skipped and counted: terrain intersection curves, appearances, implicit geometries; skipped:
  openings, installations and rooms (LoD3/4 detail the buildings table does not hold).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np

from geodata.errors import ImportFailed
from geodata.importers.citygml_attrs import address, generic, height, leaf, local
from geodata.importers.cityjson_geometry import Collector, FlatGeometry

if TYPE_CHECKING:
    from lxml import etree  # annotations only: lxml loads with a CityGML file (citygml.py)

GML_NS = ("http://www.opengis.net/gml", "http://www.opengis.net/gml/3.2")
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
_RINGS = tuple(f"{{{ns}}}LinearRing" for ns in GML_NS)
_POS = tuple(f"{{{ns}}}pos" for ns in GML_NS)
_COORDS = tuple(f"{{{ns}}}coordinates" for ns in GML_NS)
_MEMBERS = tuple(f"{{{ns}}}surfaceMember" for ns in GML_NS)
_GML_ID = tuple(f"{{{ns}}}id" for ns in GML_NS)
_LOD = re.compile(r"^lod([0-4])(.*)$")
_PARTS = ("consistsOfBuildingPart", "buildingPart")
_BOUNDARIES = ("boundedBy", "boundary")
#: LoD3/4 detail and references the buildings table does not hold
_SKIP = frozenset(
    {
        "opening",
        "interiorRoom",
        "buildingRoom",
        "outerBuildingInstallation",
        "interiorBuildingInstallation",
        "buildingInstallation",
        "buildingConstructiveElement",
        "buildingFurniture",
        "buildingSubdivision",
        "externalReference",
        "generalizesTo",
        "relatedTo",
        "dynamizer",
        "pointCloud",
        "occupancy",
        "boundedBy",  # gml:boundedBy (an envelope); the CityGML one is handled before
    }
)
TERRAIN = "terrain intersection curve (not imported)"
APPEARANCE = "appearance: texture or colour (not imported)"
IMPLICIT = "implicit (template) geometry (not imported)"


def gml_id(el: etree._Element) -> str | None:
    for key in _GML_ID:
        value = el.get(key)
        if value is not None:
            return str(value)
    return None


class BuildingReader:
    """Reads one Building element (and its parts) into city objects and vertices.

    :param file: the file name for messages
    :param check_srs: called with (srsName, line) for every geometry that names its CRS, so the
        reader can refuse a file mixing CRSs
    """

    def __init__(self, file: str, check_srs: Any, gml: str = GML_NS[0]) -> None:
        self.file = file
        self.check_srs = check_srs
        # the tags of the file's GML (3.1.1 in CityGML 1.0 and 2.0, 3.2 in 3.0): one tag per
        # lxml iteration is the fastest it goes
        self._polygons = (f"{{{gml}}}Polygon", f"{{{gml}}}Triangle")
        self._pos_list = f"{{{gml}}}posList"
        self._other_rings = (f"{{{gml}}}pos", f"{{{gml}}}coordinates")
        self._id = f"{{{gml}}}id"

    def read(self, el: etree._Element, where: str, out: Collector) -> None:
        """Add the Building element ``el`` (with its parts) to the batch ``out``."""
        self.where = where
        self.notes = out.notes
        self.parts: list[list[FlatGeometry]] = []
        self.tokens: list[str] = []
        props: dict[str, Any] = {}
        oid = gml_id(el) or f"line-{el.sourceline}"
        self._object(el, oid, props)
        try:
            coords = np.array(self.tokens, dtype=np.float64).reshape(-1, 3)
        except ValueError:
            bad = next(t for t in self.tokens if not _is_number(t))
            raise ImportFailed(
                f"{self.file}, {where}: coordinate {bad[:40]!r} is not a number: the file is "
                "corrupt; export it again"
            ) from None
        out.add_flat(oid, where, props, self.parts, coords)

    # -- objects ----------------------------------------------------------------------------
    def _object(self, el: etree._Element, oid: str, props: dict[str, Any]) -> None:
        """A Building or BuildingPart: attributes into ``props`` (the Building's first, as
        CityJSON's parts are merged), geometries as one part of the building."""
        geoms: dict[int, _Geometry] = {}
        parts: list[etree._Element] = []
        for child in el:
            role, name, lod = _role(child.tag)
            if role == _GEOMETRY:
                self._lod_property(child, lod, None, geoms)
            elif role == _BOUNDARY:
                for surface in child:
                    surface_kind = _role(surface.tag)[1]
                    if surface_kind:
                        self._surface(surface, surface_kind, geoms)
            elif role == _LEAF:
                if len(child) == 0:
                    value = leaf(child, name)
                    if value is not None:
                        props.setdefault(name, value)
            elif role == _PART:
                parts.extend(p for p in child if _role(p.tag)[1] == "BuildingPart")
            elif role == _APPEARANCE:
                self.notes[APPEARANCE] += 1
            elif role == _TERRAIN:
                self.notes[TERRAIN] += 1
            elif role == _IMPLICIT:
                self.notes[IMPLICIT] += 1
            elif role == _ADDRESS:
                props.setdefault("address", address(child))
            elif role == _HEIGHT:
                height(child, props)
            elif role == _GENERIC_LIST:
                for attr in child:
                    generic(attr, props)
            elif role == _GENERIC:
                generic(child, props)
        flat = []
        for lod in sorted(geoms):
            geom = geoms[lod]
            if geom.ring_len:
                self.tokens.extend(geom.finish())
                flat.append(FlatGeometry(lod, geom.sem, geom.ring_poly, geom.ring_len))
        self.parts.append(flat)
        for k, part in enumerate(parts):
            self._object(part, gml_id(part) or f"{oid}-part-{k + 1}", props)

    def _surface(self, surface: etree._Element, kind: str, geoms: dict[int, _Geometry]) -> None:
        """A boundary surface (RoofSurface...): its LoD geometries, typed by ``kind``."""
        for prop in surface:
            role, _, lod = _role(prop.tag)
            if role == _GEOMETRY:
                self._lod_property(prop, lod, kind, geoms)

    def _lod_property(
        self,
        prop: etree._Element,
        lod: int,
        kind: str | None,
        geoms: dict[int, _Geometry],
    ) -> None:
        geom = geoms.get(lod)
        if geom is None:
            geom = geoms[lod] = _Geometry()
        dim = 3
        for root in prop:
            if isinstance(root.tag, str):
                srs = root.get("srsName")
                if srs is not None:
                    self.check_srs(srs, root.sourceline)
                dim = _dimension(root, 3)
                break
        # one pass over the polygons and their rings (exterior first, then the interiors),
        # in document order: the hot loop of the reader, so the common case (posList) is
        # inline; a polygon with a ring of gml:pos or gml:coordinates is read again by
        # :meth:`_slow_polygon`
        poly: etree._Element | None = None
        p = rings = 0
        marks = (0, 0)
        slow = False
        sem, ring_len, ring_poly, tokens = geom.sem, geom.ring_len, geom.ring_poly, geom.tokens
        for el in prop.iter(*self._polygons, self._pos_list, *self._other_rings):
            tag = el.tag
            if tag in self._polygons:
                if poly is not None:
                    self._close(poly, rings, kind, geom, dim, marks if slow else None)
                poly, p, rings, slow = el, len(sem), 0, False
                marks = (len(ring_len), len(tokens))
                continue
            if poly is None:
                continue  # not in a polygon: a line draws nothing
            if tag != self._pos_list:
                slow = True
                continue
            if rings < 0:
                continue  # in a dropped polygon
            parts = (el.text or "").split()
            n = len(parts) // 3
            if len(parts) % 3 or el.get("srsDimension", dim) not in (3, "3"):
                ok = self._ring(parts, _dimension(el, dim), el, geom, p)
            elif n > 3 or (n == 3 and parts[:3] != parts[-3:]):
                tokens.extend(parts)
                ring_len.append(n)
                ring_poly.append(p)
                ok = 1
            else:
                ok = 0
            if ok:
                rings += 1
            elif rings == 0:
                rings = -1  # a degenerate exterior: the polygon is dropped, its holes too
        if poly is not None:
            self._close(poly, rings, kind, geom, dim, marks if slow else None)
        elif kind is not None:
            for member in prop.iter(*_MEMBERS):  # a boundary surface naming a solid's polygons
                href = member.get(XLINK_HREF)
                if href:
                    geom.refs.append((href.lstrip("#"), kind))

    def _close(
        self,
        poly: etree._Element,
        rings: int,
        kind: str | None,
        geom: _Geometry,
        dim: int,
        redo: tuple[int, int] | None,
    ) -> None:
        """The end of a polygon: registered when it has rings. ``redo``: the polygon has rings
        of gml:pos or gml:coordinates, so what the fast path read of it (from these ring and
        token counts on) is dropped and every ring read again, in order."""
        p = len(geom.sem)
        if redo is not None:
            del geom.ring_len[redo[0] :], geom.ring_poly[redo[0] :], geom.tokens[redo[1] :]
            rings = 0
            for ring in poly.iter(*_RINGS):
                pos_list = ring.find(self._pos_list)
                if pos_list is not None:
                    got = (pos_list.text or "").split(), _dimension(pos_list, dim)
                else:
                    got = _ring_parts(ring, dim)
                ok = self._ring(*got, ring, geom, p) if rings >= 0 else 0
                rings = rings + 1 if ok else (-1 if rings == 0 else rings)
        if rings > 0:
            pid = poly.get(self._id)
            if pid is not None:
                geom.ids[pid] = p
            geom.sem.append(kind)

    def _ring(self, parts: list[str], dim: int, el: etree._Element, geom: _Geometry, p: int) -> int:
        """Queue one ring of polygon ``p`` (its closing vertex kept); 1, or 0 when it has
        fewer than three corners."""
        if dim not in (2, 3) or len(parts) % dim:
            raise ImportFailed(
                f"{self.file}, {self.where}, line {el.sourceline}: a ring has {len(parts)} "
                f"numbers, not a multiple of its dimension {dim}: the file is corrupt; export "
                "it again"
            )
        if dim == 2:  # a flat ring: z = 0
            parts = [v for k in range(0, len(parts), 2) for v in (parts[k], parts[k + 1], "0")]
        n = len(parts) // 3
        if n < 3 or (n == 3 and parts[:3] == parts[-3:]):
            return 0
        geom.tokens.extend(parts)
        geom.ring_len.append(n)
        geom.ring_poly.append(p)
        return 1


class _Geometry:
    """The rings of one object at one LoD while it is read (:class:`FlatGeometry` after)."""

    __slots__ = ("ids", "refs", "ring_len", "ring_poly", "sem", "tokens")

    def __init__(self) -> None:
        self.sem: list[str | None] = []
        self.ring_poly: list[int] = []
        self.ring_len: list[int] = []
        self.tokens: list[str] = []
        self.ids: dict[str, int] = {}
        self.refs: list[tuple[str, str]] = []

    def finish(self) -> list[str]:
        """Give the polygons a solid refers to the type of the surface naming them; the
        coordinates."""
        for pid, kind in self.refs:
            k = self.ids.get(pid)
            if k is not None and self.sem[k] is None:
                self.sem[k] = kind
        return self.tokens


def _dimension(el: etree._Element, default: int) -> int:
    """``srsDimension`` of ``el`` (default: its geometry's); not a number is -1, which
    the ring check refuses naming the line."""
    value = el.get("srsDimension")
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        return -1


def _ring_parts(ring: etree._Element, dim: int) -> tuple[list[str], int]:
    pos = list(ring.iterchildren(*_POS))
    if pos:
        return " ".join(p.text or "" for p in pos).split(), _dimension(pos[0], dim)
    coords = next(iter(ring.iterchildren(*_COORDS)), None)
    return ((coords.text or "").replace(",", " ").split() if coords is not None else []), dim


# -- what each element of a building is, by tag (memoised: a file has few distinct tags) --------
_GEOMETRY, _BOUNDARY, _LEAF, _PART, _APPEARANCE, _ADDRESS, _HEIGHT = range(7)
_GENERIC_LIST, _GENERIC, _SKIPPED, _TERRAIN, _IMPLICIT = 7, 8, 9, 10, 11
_ROLES: dict[Any, tuple[int, str, int]] = {}


def _role(tag: Any) -> tuple[int, str, int]:
    """(role, local name, LoD) of a child element of a Building, BuildingPart or surface."""
    known = _ROLES.get(tag)
    if known is not None:
        return known
    name = local(tag)
    ns = tag[1 : tag.index("}")] if name and tag[0] == "{" else ""
    lod = _LOD.match(name)
    role = _SKIPPED
    if not name or (name in _SKIP and not (name == "boundedBy" and ns not in GML_NS)):
        role = _SKIPPED
    elif lod and lod[2].startswith("TerrainIntersection"):
        role = _TERRAIN
    elif lod and lod[2].startswith("ImplicitRepresentation"):
        role = _IMPLICIT
    elif lod and "Curve" in lod[2]:
        role = _SKIPPED  # lines draw nothing
    elif lod:
        role = _GEOMETRY
    elif name in _PARTS:
        role = _PART
    elif name in _BOUNDARIES:
        role = _BOUNDARY
    elif name == "appearance":
        role = _APPEARANCE
    elif name == "address":
        role = _ADDRESS
    elif name in ("height", "heightAboveGround") and "construction" in ns:
        role = _HEIGHT
    elif name == "genericAttribute":
        role = _GENERIC_LIST
    elif "generics" in ns:
        role = _GENERIC
    else:
        role = _LEAF
    out = (role, lod[2] if lod else name, int(lod[1]) if lod else 0)
    if isinstance(tag, str) and len(_ROLES) < 10_000:
        _ROLES[tag] = out
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
