"""``twin analyse dig`` / ``POST /api/analysis/dig``: every buried segment and node whose
uncertainty band meets a planned dig (the rule: :mod:`.rule`), with the reports
(:mod:`.report`). The polygon is an RFC 7946 geometry (lon/lat, CRS84) turned into the
working CRS; an invalid one is refused, naming why (shapely's ``explain_validity``)."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import numpy as np
import shapely
from pydantic import Field
from pyproj import CRS
from shapely.validation import explain_validity
from sqlalchemy import Connection, text

from geodata.crs import transformer
from geodata.errors import InputError
from geodata.vocab import material_rigidity
from geodata.working_crs import require_working_crs
from twin.analysis.base import Analysis, AnalysisContext, Params, Result
from twin.analysis.dig.rule import CLASS_B_M, band_m, gap, needs_investigation

#: the deepest dig the analysis accepts (m): deeper work is not a trench
MAX_DEPTH_M = 30.0


class DigParams(Params):
    polygon: dict[str, Any] = Field(
        description="the dig's outline: an RFC 7946 Polygon or MultiPolygon (lon/lat, CRS84)"
    )
    depth: float = Field(gt=0, le=MAX_DEPTH_M, description="how deep the dig goes (m below ground)")
    class_c_radius: float | None = Field(
        None,
        gt=0,
        le=50,
        description="band of class-C networks (m); default TWIN_DIG_CLASS_C_RADIUS",
    )


class DigSafety(Analysis[DigParams]):
    name = "dig"
    title = "Digging safety (DT-DICT): the buried networks a dig may meet, with a report"
    Params = DigParams
    layers: ClassVar[tuple[str, ...]] = ("networks", "network-nodes")
    tables: ClassVar[tuple[str, ...]] = ("network_segments", "network_nodes")
    example: ClassVar[dict[str, Any]] = {
        "polygon": {
            "type": "Polygon",
            "coordinates": [
                [
                    [24.9445, 60.1685],
                    [24.9452, 60.1685],
                    [24.9452, 60.1688],
                    [24.9445, 60.1688],
                    [24.9445, 60.1685],
                ]
            ],
        },
        "depth": 1.5,
    }

    def run(self, ctx: AnalysisContext, params: DigParams) -> Result:
        radius = params.class_c_radius or ctx.settings.dig_class_c_radius
        with ctx.engine.connect() as conn:
            epsg = require_working_crs(conn)
            dig = dig_polygon(params.polygon, epsg)
            conflicts, shapes = find_conflicts(conn, dig, epsg, params.depth, radius)
            context = _context_lines(conn, dig, max(radius, CLASS_B_M) + 20.0)
        doc = {
            "depth_m": params.depth,
            "class_c_radius_m": radius,
            "area_m2": round(float(dig.area), 2),
            "epsg": epsg,
            "conflicts": conflicts,
            "count": len(conflicts),
            "investigations_needed": sum(1 for c in conflicts if c["investigations"]),
            "by_network": _by_network(conflicts),
            "rule": "class A 0.40 m rigid / 0.50 m flexible (unknown material: flexible), "
            f"class B 1.5 m, class C {radius} m; in plan from the outer wall, in depth from "
            "the cover depth to the dig's bottom",
        }
        from twin.analysis.dig.report import html_report, map_png, pdf_report

        png = map_png(dig, shapes, context)
        return Result(
            doc,
            {
                "dig.html": html_report(doc, png),
                "dig.pdf": pdf_report(doc, png),
                "dig.png": png,
            },
        )


def dig_polygon(geometry: dict[str, Any], epsg: int) -> Any:
    """The RFC 7946 polygon in the working CRS, refused (naming why) unless a valid,
    non-empty Polygon or MultiPolygon of lon/lat."""
    kind = geometry.get("type") if isinstance(geometry, dict) else None
    if kind == "Feature":
        inner = geometry.get("geometry")
        geometry = inner if isinstance(inner, dict) else {}
        kind = geometry.get("type")
    if kind not in ("Polygon", "MultiPolygon"):
        raise InputError(
            f"polygon: a GeoJSON Polygon or MultiPolygon is needed (got {kind or 'nothing'})"
        )
    try:
        shape = shapely.from_geojson(json.dumps(geometry))
    except Exception as exc:  # shapely raises GEOSException for malformed coordinates
        raise InputError(f"polygon: not a readable GeoJSON {kind}: {exc}") from None
    if shape.is_empty:
        raise InputError("polygon: it is empty; give the dig's outline")
    lon, lat = shapely.get_coordinates(shape).T
    if (abs(lon) > 180).any() or (abs(lat) > 90).any():
        raise InputError(
            "polygon: coordinates are longitude/latitude in degrees (RFC 7946, CRS84); these "
            "look like projected metres — convert them to lon/lat"
        )
    if not shape.is_valid:
        raise InputError(
            f"polygon: invalid ({explain_validity(shape)}); a dig outline "
            "must not cross itself: redraw it or split it into polygons"
        )
    area = CRS.from_epsg(epsg).area_of_use
    if area is not None and not (
        area.west - 1 <= lon.min() and lon.max() <= area.east + 1
        and area.south - 1 <= lat.min() and lat.max() <= area.north + 1
    ):  # fmt: skip
        raise InputError(
            f"polygon: it lies outside the area EPSG:{epsg} (the twin's working CRS) covers "
            f"({area.name}); is it a dig of this city, in lon/lat order?"
        )
    out = shapely.transform(shape, lambda xy: _project(xy, epsg))
    if not np.isfinite(shapely.get_coordinates(out)).all():
        raise InputError(
            f"polygon: it lies outside the area EPSG:{epsg} (the twin's working CRS) covers"
        )
    if not out.area > 0:
        raise InputError("polygon: it has no area; give at least three distinct corners")
    return out


def _project(xy: Any, epsg: int) -> Any:
    x, y = transformer(4326, epsg).transform(xy[:, 0], xy[:, 1])
    return np.column_stack([x, y])


_ROWS = """
SELECT 'segment' AS element, s.id, s.source_id, s.network, NULL AS node_kind, s.depth_m,
       s.diameter_mm, s.material, s.operator, s.location_class, s.status, s.synthetic,
       ST_Distance(ST_Force2D(s.geom), d.g) AS centre,
       ST_AsGeoJSON(ST_Transform(s.geom, 4326), 7) AS gj, ST_AsBinary(ST_Force2D(s.geom)) AS wkb
FROM network_segments s, d WHERE s.scenario_id IS NULL AND ST_DWithin(s.geom, d.g, :reach)
UNION ALL
SELECT 'node', n.id, n.source_id, n.network, n.kind, n.depth_m, NULL, NULL,
       n.attrs->>'operator', n.location_class, NULL, n.synthetic,
       ST_Distance(ST_Force2D(n.geom), d.g), ST_AsGeoJSON(ST_Transform(n.geom, 4326), 7),
       ST_AsBinary(ST_Force2D(n.geom))
FROM network_nodes n, d WHERE n.scenario_id IS NULL AND ST_DWithin(n.geom, d.g, :reach)
"""


def find_conflicts(
    conn: Connection, dig: Any, epsg: int, depth: float, class_c_radius: float
) -> tuple[list[dict[str, Any]], list[tuple[str, Any]]]:
    """The conflicts, nearest first, and their (network, working-CRS plan geometry). The
    database only narrows to what lies within the widest band (plus a metre for pipe radii);
    the rule itself is :mod:`.rule`'s."""
    reach = max(class_c_radius, CLASS_B_M) + 1.0
    rows = conn.execute(
        text(f"WITH d AS (SELECT ST_GeomFromWKB(:wkb, :srid) AS g) {_ROWS}"),
        {"wkb": shapely.to_wkb(dig), "srid": epsg, "reach": reach},
    ).mappings()
    out: list[tuple[Any, dict[str, Any]]] = []
    for r in rows:
        band = band_m(r["location_class"], r["material"], class_c_radius)
        g = gap(r["centre"], r["diameter_mm"], r["depth_m"], depth, band)
        if not g.conflicts:
            continue
        out.append(
            (
                shapely.from_wkb(bytes(r["wkb"])),
                {
                    "source_id": r["source_id"],
                    "id": r["id"],
                    "element": r["element"],
                    "node_kind": r["node_kind"],
                    "network": r["network"],
                    "depth_m": r["depth_m"],
                    "diameter_mm": r["diameter_mm"],
                    "material": r["material"],
                    "rigidity": material_rigidity(r["material"]),
                    "operator": r["operator"],
                    "location_class": r["location_class"],
                    "band_m": band,
                    "horizontal_m": round(g.horizontal_m, 3),
                    "vertical_m": round(g.vertical_m, 3),
                    "distance_m": round(g.distance_m, 3),
                    "investigations": needs_investigation(r["network"], r["location_class"]),
                    "status": r["status"],
                    "synthetic": r["synthetic"],
                    "geometry": json.loads(r["gj"]),
                },
            )
        )
    out.sort(key=lambda c: (c[1]["distance_m"], c[1]["network"], c[1]["source_id"]))
    return [c for _, c in out], [(c["network"], g) for g, c in out]


def _context_lines(conn: Connection, dig: Any, margin: float) -> list[tuple[str, Any]]:
    """The segments around the dig, for the map picture: (network, geometry)."""
    minx, miny, maxx, maxy = dig.bounds
    rows = conn.execute(
        text(
            "SELECT network, ST_AsBinary(ST_Force2D(geom)) FROM network_segments WHERE "
            "scenario_id IS NULL AND geom && ST_MakeEnvelope(:a, :b, :c, :d, "
            "ST_SRID(geom)) LIMIT 5000"
        ),
        {"a": minx - margin, "b": miny - margin, "c": maxx + margin, "d": maxy + margin},
    ).all()
    return [(r[0], shapely.from_wkb(bytes(r[1]))) for r in rows]


def _by_network(conflicts: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in conflicts:
        out[c["network"]] = out.get(c["network"], 0) + 1
    return dict(sorted(out.items()))
