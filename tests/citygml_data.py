"""CityGML 2.0 and 3.0 files written for the tests and the import benchmark (synthetic data).

:class:`CityGMLWriter` writes buildings as CityGML writers do: LoD1 solids, LoD2 gabled houses
whose polygons sit in their boundary surfaces (Ground, Wall, Roof) and whose ``lod2Solid``
refers to them by ``xlink:href`` (as 3DCityDB exports them), ``BuildingPart`` s, CityGML
attributes, generic attributes, terrain intersection curves and appearances. The geometry is
that of :func:`tests.import_data.gabled_house` and :func:`tests.import_data.block`, so a
CityJSON file of the same buildings can be written beside (:class:`tests.import_data.CityModel`).
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from tests.import_data import block, gabled_house

NS = {
    "2.0": {
        "core": "http://www.opengis.net/citygml/2.0",
        "bldg": "http://www.opengis.net/citygml/building/2.0",
        "gen": "http://www.opengis.net/citygml/generics/2.0",
        "app": "http://www.opengis.net/citygml/appearance/2.0",
        "gml": "http://www.opengis.net/gml",
    },
    "3.0": {
        "core": "http://www.opengis.net/citygml/3.0",
        "bldg": "http://www.opengis.net/citygml/building/3.0",
        "con": "http://www.opengis.net/citygml/construction/3.0",
        "gen": "http://www.opengis.net/citygml/generics/3.0",
        "app": "http://www.opengis.net/citygml/appearance/3.0",
        "gml": "http://www.opengis.net/gml/3.2",
    },
}
SEMANTIC = {0: "GroundSurface", 1: "WallSurface", 2: "RoofSurface"}


def pos_list(v: np.ndarray, ring: list[int]) -> str:
    pts = [*ring, ring[0]]
    return " ".join(f"{c:.3f}" for i in pts for c in v[i])


def polygon(v: np.ndarray, ring: list[int], pid: str | None = None) -> str:
    ident = f' gml:id="{pid}"' if pid else ""
    return (
        f"<gml:Polygon{ident}><gml:exterior><gml:LinearRing><gml:posList>"
        f"{pos_list(v, ring)}</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon>"
    )


class CityGMLWriter:
    """Writes one CityModel, building by building, to a text stream."""

    def __init__(self, out: IO[str], version: str = "2.0", srs: str | None = "EPSG:28992"):
        self.out = out
        self.version = version
        self.srs = srs
        self.ns = NS[version]
        # where the two versions name the same thing differently
        self.boundary = "bldg:boundedBy" if version == "2.0" else "core:boundary"
        self.surface_ns = "bldg" if version == "2.0" else "con"
        self.geom_ns = "bldg" if version == "2.0" else "core"
        self.part = "bldg:consistsOfBuildingPart" if version == "2.0" else "bldg:buildingPart"

    def start(self, envelope: tuple[float, ...] | None = None) -> None:
        xmlns = " ".join(f'xmlns:{p}="{u}"' for p, u in self.ns.items())
        xlink = 'xmlns:xlink="http://www.w3.org/1999/xlink"'
        self.out.write(
            f'<?xml version="1.0" encoding="UTF-8"?>\n<core:CityModel {xmlns} {xlink}>\n'
        )
        if envelope is not None:
            srs = f" srsName={quoteattr(self.srs)}" if self.srs else ""
            x0, y0, z0, x1, y1, z1 = envelope
            self.out.write(
                f'<gml:boundedBy><gml:Envelope{srs} srsDimension="3">'
                f"<gml:lowerCorner>{x0} {y0} {z0}</gml:lowerCorner>"
                f"<gml:upperCorner>{x1} {y1} {z1}</gml:upperCorner></gml:Envelope>"
                "</gml:boundedBy>\n"
            )

    def end(self) -> None:
        self.out.write("</core:CityModel>\n")

    # -- pieces -------------------------------------------------------------------------------
    def attributes(self, attrs: dict[str, Any]) -> str:
        """CityGML's own attributes (in schema order is not needed by the reader)."""
        out = []
        for key, value in attrs.items():
            if key == "measuredHeight" and self.version == "3.0":
                out.append(
                    "<con:height><con:Height><con:highReference>highestRoofEdge"
                    "</con:highReference><con:lowReference>lowestGroundPoint</con:lowReference>"
                    f'<con:status>measured</con:status><con:value uom="m">{value}</con:value>'
                    "</con:Height></con:height>"
                )
            elif key == "name":
                out.append(f"<gml:name>{escape(str(value))}</gml:name>")
            else:
                uom = ' uom="m"' if key == "measuredHeight" else ""
                out.append(f"<bldg:{key}{uom}>{escape(str(value))}</bldg:{key}>")
        return "".join(out)

    def generic(self, attrs: dict[str, Any]) -> str:
        out = []
        for key, value in attrs.items():
            kind = (
                "int"
                if isinstance(value, int)
                else "double"
                if isinstance(value, float)
                else "string"
            )
            if self.version == "2.0":
                out.append(
                    f"<gen:{kind}Attribute name={quoteattr(key)}><gen:value>"
                    f"{escape(str(value))}</gen:value></gen:{kind}Attribute>"
                )
            else:
                cap = kind.capitalize()
                out.append(
                    f"<core:genericAttribute><gen:{cap}Attribute><gen:name>{escape(key)}"
                    f"</gen:name><gen:value>{escape(str(value))}</gen:value>"
                    f"</gen:{cap}Attribute></core:genericAttribute>"
                )
        return "".join(out)

    def srs_attr(self, geometry_srs: bool) -> str:
        return f" srsName={quoteattr(self.srs)}" if geometry_srs and self.srs else ""

    def lod1_solid(
        self, x: float, y: float, z: float, w: float, d: float, h: float, srs: bool
    ) -> str:
        v, b = block(x, y, z, w, d, h)
        faces = "".join(
            f"<gml:surfaceMember>{polygon(v, face[0])}</gml:surfaceMember>" for face in b[0]
        )
        return (
            f"<{self.geom_ns}:lod1Solid><gml:Solid{self.srs_attr(srs)}><gml:exterior>"
            f"<gml:CompositeSurface>{faces}</gml:CompositeSurface></gml:exterior></gml:Solid>"
            f"</{self.geom_ns}:lod1Solid>"
        )

    def lod2_house(self, oid: str, x: float, y: float, z: float, ridge: float, srs: bool) -> str:
        """Boundary surfaces holding the polygons, and a lod2Solid referring to them."""
        v, b, values = gabled_house(x, y, z, ridge=ridge)
        surfaces, refs = [], []
        for k, (face, value) in enumerate(zip(b[0], values[0], strict=True)):
            pid = f"{oid}-poly-{k}"
            refs.append(f'<gml:surfaceMember xlink:href="#{pid}"/>')
            kind = SEMANTIC[value]
            surfaces.append(
                f"<{self.boundary}><{self.surface_ns}:{kind}>"
                f"<{self.geom_ns}:lod2MultiSurface><gml:MultiSurface{self.srs_attr(srs)}>"
                f"<gml:surfaceMember>{polygon(v, face[0], pid)}</gml:surfaceMember>"
                f"</gml:MultiSurface></{self.geom_ns}:lod2MultiSurface>"
                f"</{self.surface_ns}:{kind}></{self.boundary}>"
            )
        solid = (
            f"<{self.geom_ns}:lod2Solid><gml:Solid><gml:exterior><gml:CompositeSurface>"
            f"{''.join(refs)}</gml:CompositeSurface></gml:exterior></gml:Solid>"
            f"</{self.geom_ns}:lod2Solid>"
        )
        return solid + "".join(surfaces)

    def terrain(self, x: float, y: float, z: float) -> str:
        name = (
            "lod2TerrainIntersection" if self.version == "2.0" else "lod2TerrainIntersectionCurve"
        )
        ns = self.geom_ns
        return (
            f"<{ns}:{name}><gml:MultiCurve><gml:curveMember><gml:LineString><gml:posList>"
            f"{x} {y} {z} {x + 10} {y} {z}</gml:posList></gml:LineString></gml:curveMember>"
            f"</gml:MultiCurve></{ns}:{name}>"
        )

    def appearance(self) -> str:
        prop = "app:appearance" if self.version == "2.0" else "core:appearance"
        return f"<{prop}><app:Appearance><app:theme>rgb</app:theme></app:Appearance></{prop}>"

    # -- buildings -----------------------------------------------------------------------------
    def building(
        self,
        oid: str,
        x: float,
        y: float,
        z: float = 0.0,
        *,
        lod: int = 2,
        ridge: float = 9.0,
        attrs: dict[str, Any] | None = None,
        generic: dict[str, Any] | None = None,
        parts: list[dict[str, Any]] | None = None,
        geometry_in_parts: bool = False,
        terrain: bool = False,
        appearance: bool = False,
        srs_on_geometry: bool = False,
        block_size: tuple[float, float, float] = (10.0, 8.0, 9.0),
    ) -> None:
        body = [self.attributes(attrs or {}), self.generic(generic or {})]
        if appearance:
            body.append(self.appearance())
        if not geometry_in_parts:
            body.append(self.geometry(oid, x, y, z, lod, ridge, srs_on_geometry, block_size))
        if terrain:
            body.append(self.terrain(x, y, z))
        for k, part in enumerate(parts or []):
            pid = part.get("id", f"{oid}-part-{k}")
            inner = self.attributes(part.get("attrs") or {}) + self.geometry(
                pid,
                part["x"],
                part["y"],
                part.get("z", z),
                part.get("lod", lod),
                part.get("ridge", ridge),
                srs_on_geometry,
                part.get("block_size", block_size),
            )
            body.append(
                f'<{self.part}><bldg:BuildingPart gml:id="{pid}">{inner}</bldg:BuildingPart>'
                f"</{self.part}>"
            )
        self.out.write(
            f'<core:cityObjectMember><bldg:Building gml:id="{oid}">{"".join(body)}'
            "</bldg:Building></core:cityObjectMember>\n"
        )

    def geometry(
        self,
        oid: str,
        x: float,
        y: float,
        z: float,
        lod: int,
        ridge: float,
        srs: bool,
        block_size: tuple[float, float, float],
    ) -> str:
        if lod == 1:
            w, d, h = block_size
            return self.lod1_solid(x, y, z, w, d, h, srs)
        return self.lod2_house(oid, x, y, z, ridge, srs)

    def tree(self, oid: str, x: float, y: float) -> None:
        veg = self.ns["core"].replace("/citygml/", "/citygml/vegetation/")
        self.out.write(
            f'<core:cityObjectMember><veg:SolitaryVegetationObject xmlns:veg="{veg}" '
            f'gml:id="{oid}"><veg:height>5</veg:height></veg:SolitaryVegetationObject>'
            "</core:cityObjectMember>\n"
        )


def write_citygml(
    path: Path,
    buildings: list[dict[str, Any]],
    *,
    version: str = "2.0",
    srs: str | None = "EPSG:28992",
    envelope: tuple[float, ...] | None = (0, 0, 0, 1, 1, 1),
    trees: int = 0,
) -> Path:
    """A CityGML file of ``buildings`` (keyword arguments of :meth:`CityGMLWriter.building`)."""
    with path.open("w", encoding="utf-8") as f:
        w = CityGMLWriter(f, version, srs)
        w.start(envelope)
        for b in buildings:
            w.building(**b)
        for k in range(trees):
            w.tree(f"tree-{k}", 0, 0)
        w.end()
    return path
