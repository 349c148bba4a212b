"""Buildings as CityJSON 2.0 and CityJSONSeq 2.0: the twin's model handed back to 3DCityDB,
cjio or any CityJSON tool, and re-importable by ``twin import`` to the same buildings.

Each building is one ``Building`` city object keyed by ``{source}:{source_id}``, with:

- an LoD1 ``Solid`` (a ``MultiSolid`` for a footprint of several polygons): the footprint at
  ``base_z`` extruded to ``base_z + height``, outward-facing as the specification asks
  (ground faces down, roof up, walls out, holes too), its surfaces typed ``GroundSurface``,
  ``WallSurface`` and ``RoofSurface``, so the re-import takes the footprint from the ground
  surfaces and the base from the lowest vertex;
- where the twin holds LoD2 faces, an LoD 2.2 ``MultiSurface`` of them; the twin keeps no
  surface types for them, so each face's type is read from its normal (up: roof, down:
  ground, else wall), the rule CityJSON tools apply to untyped roofs;
- attributes under their CityGML/CityJSON names (``measuredHeight`` only for a height that
  was measured, or read from an LoD geometry: a default or levels-derived height is the
  twin's estimate, which the solid carries; ``storeysAboveGround``, ``roofType``,
  ``function``, ``yearOfConstruction``, ``name``, ``address``), ``source_id``, and the
  attributes the import kept, each under its own name.

Vertices are integers under one ``transform`` (scale 1 mm), shared within a building. The
document writer streams: city objects are written as rows arrive and their vertices spill to
a temporary file, appended after them, so memory stays bounded by a batch whatever the model
size; ``transform`` and ``metadata`` (title, reference system, extent) close the document,
since JSON members have no order. CityJSONSeq writes its header line after the first batch
(whose lowest corner is the translation), then one ``CityJSONFeature`` a line.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import date
from typing import Any

import numpy as np
import orjson
import shapely
from numpy.typing import NDArray
from shapely.geometry.polygon import orient
from sqlalchemy import Engine

from geodata.export.plan import ExportPlan, batches
from geodata.features import _attrs, output_geometry

VERSION = "2.0"
#: vertices are integers of this many metres
SCALE = 0.001
_SURFACES = [{"type": "GroundSurface"}, {"type": "WallSurface"}, {"type": "RoofSurface"}]
_GROUND, _WALL, _ROOF = 0, 1, 2
#: a face whose normal's z component passes this is a roof (up) or a ground (down)
_FLAT = 0.3
#: twin column -> CityJSON attribute
_ATTRIBUTES = (
    ("levels", "storeysAboveGround"),
    ("roof_type", "roofType"),
    ("usage", "function"),
    ("year_built", "yearOfConstruction"),
    ("name", "name"),
    ("address", "address"),
    ("source_id", "source_id"),
)
_MEASURED = ("measured", "lod")


def _sql(plan: ExportPlan) -> str:
    assert plan.srid is not None
    foot = output_geometry(plan.layer, plan.srid, plan.out, axis_order=False)
    lod2 = output_geometry(plan.layer, plan.srid, plan.out, axis_order=False, geom="lod2")
    columns = ", ".join(c for c, _ in _ATTRIBUTES)
    return (
        f"SELECT source, height, height_source, {columns}, attrs::text AS attrs, "
        f"ST_AsBinary({foot}) AS foot, ST_AsBinary({lod2}) AS lod2 "
        f"FROM buildings WHERE {plan.where} ORDER BY id"
    )


class _Vertices:
    """The vertices of one building, as integer rows under the transform, with their index
    offset in the file's vertex list."""

    def __init__(self, translate: NDArray[np.float64], offset: int) -> None:
        self.translate = translate
        self.offset = offset
        self.parts: list[NDArray[np.float64]] = []
        self.count = 0

    def add(self, xyz: NDArray[np.float64]) -> list[int]:
        """Indices of ``xyz`` (n x 3, real-world metres)."""
        self.parts.append(xyz)
        first = self.offset + self.count
        self.count += len(xyz)
        return list(range(first, first + len(xyz)))

    def integers(self) -> NDArray[np.int64]:
        if not self.parts:
            return np.empty((0, 3), dtype=np.int64)
        ints: NDArray[np.int64] = np.round((np.vstack(self.parts) - self.translate) / SCALE).astype(
            np.int64
        )
        return ints


def _rings(polygon: shapely.Polygon) -> list[NDArray[np.float64]]:
    """The exterior (counter-clockwise from above) and holes (clockwise), open rings."""
    polygon = orient(polygon, 1.0)
    rings = [polygon.exterior, *polygon.interiors]
    return [np.asarray(r.coords, dtype=np.float64)[:-1, :3] for r in rings]


def _solid(
    polygon: shapely.Polygon, top: float, verts: _Vertices
) -> tuple[list[list[list[int]]], list[int]]:
    """One shell (surfaces of rings of vertex indices) and its surface types."""
    ground: list[list[int]] = []
    roof: list[list[int]] = []
    walls: list[list[list[int]]] = []
    for ring in _rings(polygon):
        bottom = verts.add(ring)
        raised = ring.copy()
        raised[:, 2] = top
        upper = verts.add(raised)
        ground.append(bottom[::-1])
        roof.append(upper)
        n = len(bottom)
        walls += [
            [[bottom[i], bottom[(i + 1) % n], upper[(i + 1) % n], upper[i]]] for i in range(n)
        ]
    shell = [ground, roof, *walls]
    return shell, [_GROUND, _ROOF] + [_WALL] * len(walls)


def _lod1(footprint: shapely.Geometry, height: float, verts: _Vertices) -> dict[str, Any]:
    polygons = list(shapely.get_parts(footprint))
    z = float(shapely.get_coordinates(footprint, include_z=True)[:, 2].min())
    solids = [_solid(p, z + height, verts) for p in polygons]
    if len(solids) == 1:
        shell, values = solids[0]
        return {
            "type": "Solid",
            "lod": "1",
            "boundaries": [shell],
            "semantics": {"surfaces": _SURFACES, "values": [values]},
        }
    return {
        "type": "MultiSolid",
        "lod": "1",
        "boundaries": [[shell] for shell, _ in solids],
        "semantics": {"surfaces": _SURFACES, "values": [[v] for _, v in solids]},
    }


def _face_type(ring: NDArray[np.float64]) -> int:
    """Roof, ground or wall from the face's normal (Newell's method, any polygon)."""
    nxt = np.roll(ring, -1, axis=0)
    normal = np.array(
        [
            np.sum((ring[:, 1] - nxt[:, 1]) * (ring[:, 2] + nxt[:, 2])),
            np.sum((ring[:, 2] - nxt[:, 2]) * (ring[:, 0] + nxt[:, 0])),
            np.sum((ring[:, 0] - nxt[:, 0]) * (ring[:, 1] + nxt[:, 1])),
        ]
    )
    length = float(np.linalg.norm(normal))
    nz = normal[2] / length if length > 0 else 0.0
    return _ROOF if nz > _FLAT else _GROUND if nz < -_FLAT else _WALL


def _lod2(faces: shapely.Geometry, verts: _Vertices) -> dict[str, Any] | None:
    surfaces: list[list[list[int]]] = []
    values: list[int] = []
    for polygon in shapely.get_parts(faces):
        rings = [polygon.exterior, *polygon.interiors]
        coords = [np.asarray(r.coords, dtype=np.float64)[:-1, :3] for r in rings]
        if len(coords[0]) < 3:
            continue
        surfaces.append([verts.add(c) for c in coords])
        values.append(_face_type(coords[0]))
    if not surfaces:
        return None
    return {
        "type": "MultiSurface",
        "lod": "2.2",
        "boundaries": surfaces,
        "semantics": {"surfaces": _SURFACES, "values": values},
    }


def _key(source: str, source_id: str) -> str:
    return f"{source}:{source_id}"


def _city_object(row: Any, verts: _Vertices) -> dict[str, Any] | None:
    """A ``Building`` of a row of :func:`_sql`, or None for a row without a placeable
    footprint (one odd row must not fail the file)."""
    if row.foot is None:
        return None
    attributes = _attrs(row.attrs)
    if row.height_source in _MEASURED:
        attributes["measuredHeight"] = float(row.height)
    for column, name in _ATTRIBUTES:
        value = getattr(row, column)
        if value is not None:
            attributes[name] = value
    geometry = [_lod1(shapely.from_wkb(row.foot), float(row.height), verts)]
    if row.lod2 is not None and (lod2 := _lod2(shapely.from_wkb(row.lod2), verts)) is not None:
        geometry.append(lod2)
    return {"type": "Building", "attributes": attributes, "geometry": geometry}


def _metadata(plan: ExportPlan, extent: list[float] | None) -> dict[str, Any]:
    """Title (with the terms: the metadata has no licence member), reference system and
    extent."""
    terms = [f"{k}: {v}" for k, v in plan.terms.items() if v and k in ("licence", "attribution")]
    meta: dict[str, Any] = {
        "title": plan.title + (f" ({'; '.join(terms)})" if terms else ""),
        "referenceDate": date.today().isoformat(),
        "referenceSystem": f"https://www.opengis.net/def/crs/EPSG/0/{plan.out.srid}",
    }
    if extent is not None:
        meta["geographicalExtent"] = extent
    return meta


class _Extent:
    def __init__(self) -> None:
        self.low = np.full(3, np.inf)
        self.high = np.full(3, -np.inf)

    def add(self, ints: NDArray[np.int64], translate: NDArray[np.float64]) -> None:
        if len(ints):
            real = ints * SCALE + translate
            self.low = np.minimum(self.low, real.min(axis=0))
            self.high = np.maximum(self.high, real.max(axis=0))

    def box(self) -> list[float] | None:
        if not np.isfinite(self.low).all():
            return None
        return [round(float(v), 3) for v in (*self.low, *self.high)]


def _translate(rows: Any) -> NDArray[np.float64]:
    """The lowest corner of a batch's footprints, to the metre: vertices stay small."""
    geoms = [shapely.from_wkb(r.foot) for r in rows if r.foot is not None]
    if not geoms:
        return np.zeros(3)
    coords = shapely.get_coordinates(geoms, include_z=True)
    low: NDArray[np.float64] = np.floor(coords.min(axis=0))
    return low


def _transform(translate: NDArray[np.float64] | None) -> dict[str, list[float]]:
    moved = translate if translate is not None else np.zeros(3)
    return {"scale": [SCALE] * 3, "translate": [float(v) for v in moved]}


def _batches(engine: Engine, plan: ExportPlan) -> Iterator[Any]:
    """The buildings' rows in batches; none when nothing is stored yet."""
    if plan.srid is not None:
        yield from batches(engine, plan, _sql(plan))


def cityjson_chunks(engine: Engine, plan: ExportPlan) -> Iterator[bytes]:
    """A CityJSON 2.0 document, chunk by chunk (see the module docstring)."""
    yield b'{"type":"CityJSON","version":"' + VERSION.encode() + b'","CityObjects":{'
    translate: NDArray[np.float64] | None = None
    extent = _Extent()
    count = 0
    first = True
    with tempfile.TemporaryFile() as spill:
        for rows in _batches(engine, plan):
            if translate is None:
                translate = _translate(rows)
            parts = []
            for row in rows:
                verts = _Vertices(translate, count)
                obj = _city_object(row, verts)
                if obj is None:
                    continue
                ints = verts.integers()
                extent.add(ints, translate)
                count += len(ints)
                if len(ints):
                    spill.write(orjson.dumps(ints, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1] + b",")
                parts.append(
                    orjson.dumps(_key(row.source, row.source_id)) + b":" + orjson.dumps(obj)
                )
            if parts:
                yield (b"" if first else b",") + b",".join(parts)
                first = False
        yield b'},"vertices":['
        size = spill.tell()
        spill.seek(0)
        left = size - 1 if size else 0  # without the trailing comma
        while left > 0:
            chunk = spill.read(min(left, 1 << 20))
            left -= len(chunk)
            yield chunk
    tail = {"transform": _transform(translate), "metadata": _metadata(plan, extent.box())}
    yield b"]," + orjson.dumps(tail)[1:] + b"\n"


def cityjsonseq_chunks(engine: Engine, plan: ExportPlan) -> Iterator[bytes]:
    """CityJSONSeq 2.0: a header line, then one ``CityJSONFeature`` per building and line,
    each with its own vertices."""
    translate: NDArray[np.float64] | None = None

    def header(extent: list[float] | None) -> bytes:
        doc = {
            "type": "CityJSON",
            "version": VERSION,
            "transform": _transform(translate),
            "metadata": _metadata(plan, extent),
            "CityObjects": {},
            "vertices": [],
        }
        return orjson.dumps(doc) + b"\n"

    for rows in _batches(engine, plan):
        if translate is None:
            translate = _translate(rows)
            yield header(None)
        lines = []
        for row in rows:
            verts = _Vertices(translate, 0)
            obj = _city_object(row, verts)
            if obj is None:
                continue
            key = _key(row.source, row.source_id)
            feature = {
                "type": "CityJSONFeature",
                "id": key,
                "CityObjects": {key: obj},
                "vertices": verts.integers(),
            }
            lines.append(orjson.dumps(feature, option=orjson.OPT_SERIALIZE_NUMPY))
        if lines:
            yield b"\n".join(lines) + b"\n"
    if translate is None:
        yield header(None)
