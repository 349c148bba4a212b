"""One CityGML ``bldg:Building`` element to the city objects the CityJSON collector builds from.

The CityGML reader (:mod:`geodata.importers.citygml`) hands each parsed Building here; what
comes back is what :class:`geodata.importers.cityjson_geometry.Collector` takes from a CityJSON
file: city objects (the Building and its ``BuildingPart`` s, parents naming their children)
with attributes and ``MultiSurface`` geometries per LoD carrying semantic surface types, plus
one vertex array. The footprint, base, LoD height and LoD2 rules are then the CityJSON ones,
in one place, for both formats.

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
from collections import Counter
from typing import Any

import numpy as np
from lxml import etree
from numpy.typing import NDArray

from geodata.errors import ImportFailed

GML_NS = ("http://www.opengis.net/gml", "http://www.opengis.net/gml/3.2")
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
_POLYGONS = tuple(f"{{{ns}}}{name}" for ns in GML_NS for name in ("Polygon", "Triangle"))
_RINGS = tuple(f"{{{ns}}}LinearRing" for ns in GML_NS)
_POS_LIST = tuple(f"{{{ns}}}posList" for ns in GML_NS)
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
_FEET = 0.3048


def local(tag: Any) -> str:
    """The local name of an element tag (``{ns}Building`` -> ``Building``); "" for comments."""
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def gml_id(el: etree._Element) -> str | None:
    for key in _GML_ID:
        value = el.get(key)
        if value is not None:
            return value
    return None


class BuildingReader:
    """Reads one Building element (and its parts) into city objects and vertices.

    :param file: the file name for messages
    :param check_srs: called with (srsName, line) for every geometry that names its CRS, so the
        reader can refuse a file mixing CRSs
    """

    def __init__(self, file: str, check_srs: Any) -> None:
        self.file = file
        self.check_srs = check_srs

    def read(
        self, el: etree._Element, where: str
    ) -> tuple[str, dict[str, Any], NDArray[Any], Counter[str]]:
        """(Building id, city objects, vertices, notes) of the Building element ``el``."""
        self.where = where
        self.tokens: list[str] = []
        self.notes: Counter[str] = Counter()
        self.objects: dict[str, Any] = {}
        oid = gml_id(el) or f"line-{el.sourceline}"
        self._object(el, "Building", oid)
        try:
            verts = np.array(self.tokens, dtype=np.float64).reshape(-1, 3)
        except ValueError:
            bad = next(t for t in self.tokens if not _is_number(t))
            raise ImportFailed(
                f"{self.file}, {where}: coordinate {bad[:40]!r} is not a number: the file is "
                "corrupt; export it again"
            ) from None
        return oid, self.objects, verts, self.notes

    # -- objects ----------------------------------------------------------------------------
    def _object(self, el: etree._Element, kind: str, oid: str) -> None:
        attributes: dict[str, Any] = {}
        geoms: dict[int, _Geometry] = {}
        children: list[str] = []
        self.objects[oid] = {"type": kind}  # placed first: the Building before its parts
        for child in el:
            name = local(child.tag)
            if not name:
                continue
            ns = child.tag[1 : child.tag.index("}")] if child.tag[0] == "{" else ""
            lod = _LOD.match(name)
            if name in _PARTS:
                for part in child:
                    if local(part.tag) == "BuildingPart":
                        pid = gml_id(part) or f"{oid}-part-{len(children) + 1}"
                        children.append(pid)
                        self._object(part, "BuildingPart", pid)
            elif name in _BOUNDARIES and ns not in GML_NS:
                for surface in child:
                    kind_name = local(surface.tag)
                    if kind_name:
                        self._surface(surface, kind_name, geoms)
            elif lod:
                self._lod_property(child, int(lod[1]), lod[2], None, geoms)
            elif name == "appearance":
                self.notes[APPEARANCE] += 1
            elif name == "address":
                attributes.setdefault("address", _address(child))
            elif name in ("height", "heightAboveGround") and "construction" in ns:
                _height(child, attributes)
            elif name == "genericAttribute":
                for attr in child:
                    _generic(attr, attributes)
            elif "generics" in ns:
                _generic(child, attributes)
            elif name in _SKIP:
                continue
            elif len(child) == 0:
                value = _leaf(child, name)
                if value is not None:
                    attributes.setdefault(name, value)
        obj = self.objects[oid]
        obj["attributes"] = attributes
        obj["geometry"] = [g.as_cityjson(lod) for lod, g in sorted(geoms.items()) if g.values]
        if children:
            obj["children"] = children
            for pid in children:
                self.objects[pid]["parents"] = [oid]

    def _surface(self, surface: etree._Element, kind: str, geoms: dict[int, _Geometry]) -> None:
        """A boundary surface (RoofSurface...): its LoD geometries, typed by ``kind``."""
        for prop in surface:
            lod = _LOD.match(local(prop.tag))
            if lod:
                self._lod_property(prop, int(lod[1]), lod[2], kind, geoms)

    def _lod_property(
        self,
        prop: etree._Element,
        lod: int,
        what: str,
        kind: str | None,
        geoms: dict[int, _Geometry],
    ) -> None:
        if what.startswith("TerrainIntersection"):
            self.notes[TERRAIN] += 1
            return
        if what.startswith("ImplicitRepresentation"):
            self.notes[IMPLICIT] += 1
            return
        if "Curve" in what:
            return  # lines draw nothing
        geom = geoms.get(lod)
        if geom is None:
            geom = geoms[lod] = _Geometry()
        root = next((c for c in prop if local(c.tag)), None)
        if root is not None:
            srs = root.get("srsName")
            if srs is not None:
                self.check_srs(srs, root.sourceline)
        dim = int(root.get("srsDimension", "3")) if root is not None else 3
        found = False
        for poly in prop.iter(*_POLYGONS):
            found = True
            self._polygon(poly, kind, geom, dim)
        if not found and kind is not None:
            for member in prop.iter(*_MEMBERS):  # a boundary surface naming a solid's polygons
                href = member.get(XLINK_HREF)
                if href:
                    geom.refer(href.lstrip("#"), kind)

    def _polygon(
        self, poly: etree._Element, kind: str | None, geom: _Geometry, dim: int
    ) -> None:
        surface: list[list[int]] = []
        for ring in poly.iter(*_RINGS):
            indices = self._ring(ring, dim)
            if indices:
                surface.append(indices)
        if surface:
            geom.add(surface, kind, gml_id(poly))

    def _ring(self, ring: etree._Element, dim: int) -> list[int] | None:
        """The ring's vertices appended to the building's; their indices (closing one off)."""
        pos_list = next(iter(ring.iterchildren(*_POS_LIST)), None)
        if pos_list is not None:
            parts = (pos_list.text or "").split()
            dim = int(pos_list.get("srsDimension", dim))
        else:
            pos = list(ring.iterchildren(*_POS))
            if pos:
                parts = " ".join(p.text or "" for p in pos).split()
                dim = int(pos[0].get("srsDimension", dim)) if dim == 3 else dim
            else:
                coords = next(iter(ring.iterchildren(*_COORDS)), None)
                parts = (coords.text or "").replace(",", " ").split() if coords is not None else []
        if dim not in (2, 3) or len(parts) % dim:
            raise ImportFailed(
                f"{self.file}, {self.where}, line {ring.sourceline}: a ring has {len(parts)} "
                f"numbers, not a multiple of its dimension {dim}: the file is corrupt; export "
                "it again"
            )
        if dim == 2:  # a flat ring: z = 0
            parts = [v for k in range(0, len(parts), 2) for v in (parts[k], parts[k + 1], "0")]
        n = len(parts) // 3
        if n > 1 and parts[:3] == parts[-3:]:
            n -= 1
            del parts[-3:]
        if n < 3:
            return None
        start = len(self.tokens) // 3
        self.tokens.extend(parts)
        return list(range(start, start + n))


class _Geometry:
    """The polygons of one object at one LoD, as a CityJSON MultiSurface with semantics."""

    def __init__(self) -> None:
        self.boundaries: list[list[list[int]]] = []
        self.values: list[int | None] = []
        self.kinds: list[str] = []
        self.ids: dict[str, int] = {}
        self.refs: list[tuple[str, str]] = []

    def add(self, surface: list[list[int]], kind: str | None, pid: str | None) -> None:
        if pid is not None:
            self.ids[pid] = len(self.values)
        self.boundaries.append(surface)
        self.values.append(self._kind(kind))

    def refer(self, pid: str, kind: str) -> None:
        self.refs.append((pid, kind))

    def _kind(self, kind: str | None) -> int | None:
        if kind is None:
            return None
        if kind not in self.kinds:
            self.kinds.append(kind)
        return self.kinds.index(kind)

    def as_cityjson(self, lod: int) -> dict[str, Any]:
        for pid, kind in self.refs:
            k = self.ids.get(pid)
            if k is not None and self.values[k] is None:
                self.values[k] = self._kind(kind)
        return {
            "type": "MultiSurface",
            "lod": lod,
            "boundaries": self.boundaries,
            "semantics": {"surfaces": [{"type": k} for k in self.kinds], "values": self.values},
        }


# -- attributes ---------------------------------------------------------------------------------
def _leaf(el: etree._Element, name: str) -> Any:
    text = (el.text or "").strip()
    if not text:
        return None
    if name == "measuredHeight":
        return _metres(text, el.get("uom"))
    return text


def _metres(text: str, uom: str | None) -> Any:
    """A length in metres (CityGML says its unit in ``uom``: m, or feet as ft / #ft / urn:...:ft)."""
    try:
        value = float(text)
    except ValueError:
        return text  # the attribute rules report a value that is not a number
    if uom and re.search(r"(^|[#:/])(ft|foot|feet)$", uom.strip(), re.IGNORECASE):
        return value * _FEET
    return value


def _height(prop: etree._Element, attributes: dict[str, Any]) -> None:
    """3.0 ``con:height``: the building's height above ground, measured from its lowest ground
    point to its highest roof edge when it says so; another pair of references is kept only
    when no such height comes."""
    for height in prop:
        values = {local(c.tag): c for c in height}
        value = values.get("value")
        if value is None or not (value.text or "").strip():
            continue
        metres = _metres(value.text.strip(), value.get("uom"))
        high = (values["highReference"].text or "") if "highReference" in values else ""
        high = high or ((values["heightReference"].text or "") if "heightReference" in values else "")
        low = (values["lowReference"].text or "") if "lowReference" in values else ""
        full = high.strip() in ("highestRoofEdge", "") and low.strip() in ("lowestGroundPoint", "")
        if full:
            attributes["measuredHeight"] = metres
        else:
            attributes.setdefault("measuredHeight", metres)


_GEN_NUMBER = {"intattribute": int, "doubleattribute": float, "measureattribute": float}


def _generic(el: etree._Element, attributes: dict[str, Any]) -> None:
    """A generic attribute (2.0 ``gen:stringAttribute name=..``, 3.0 ``gen:StringAttribute``
    with ``gen:name``), by its name; a set as a nested object."""
    kind = local(el.tag).lower()
    if not kind.endswith("attribute") and kind != "genericattributeset":
        return
    name = el.get("name")
    value_el = None
    members: list[etree._Element] = []
    for child in el:
        child_name = local(child.tag)
        if child_name == "name" and name is None:
            name = (child.text or "").strip()
        elif child_name == "value":
            value_el = child
            members.extend(c for c in child if local(c.tag))
        elif child_name.lower().endswith("attribute"):
            members.append(child)
    if not name:
        return
    if kind == "genericattributeset":
        nested: dict[str, Any] = {}
        for member in members:
            _generic(member, nested)
        attributes.setdefault(name, nested)
        return
    text = (value_el.text or "").strip() if value_el is not None else ""
    cast = _GEN_NUMBER.get(kind)
    value: Any = text
    if cast is not None:
        try:
            value = cast(text)
        except ValueError:
            value = text
    attributes.setdefault(name, value)


_ADDRESS_PARTS = (
    ("ThoroughfareNumber", "ThoroughfareName"),
    ("PostalCodeNumber", "LocalityName"),
)
#: xAL 3 (CityGML 3.0) names by (parent, element), as xAL 2's
_XAL3 = {
    ("Thoroughfare", "NameElement"): "ThoroughfareName",
    ("Thoroughfare", "Number"): "ThoroughfareNumber",
    ("Locality", "NameElement"): "LocalityName",
    ("PostCode", "Identifier"): "PostalCodeNumber",
}


def _address(el: etree._Element) -> str | None:
    """The first xAL address as "12 Main Street, 1234 Town" (xAL 2 and 3 element names)."""
    found: dict[str, str] = {}
    for sub in el.iter():
        name = local(sub.tag)
        text = (sub.text or "").strip()
        if not name or not text or len(sub):
            continue
        parent = sub.getparent()
        name = _XAL3.get((local(parent.tag) if parent is not None else "", name), name)
        found.setdefault(name, text)
    lines = [" ".join(found[k] for k in keys if k in found) for keys in _ADDRESS_PARTS]
    return ", ".join(line for line in lines if line) or None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
