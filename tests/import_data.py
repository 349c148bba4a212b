"""Small import files generated on the fly, and a snapshot of the database to prove that a
refused import wrote nothing. Nothing is downloaded or committed: every test builds its files
in its own tmp_path."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, ClassVar

import geopandas as gpd
import numpy as np
import shapely
from pyproj import Transformer
from sqlalchemy import Engine, text

from geodata.models import Base

# -- places, in the CRSs the tests use -----------------------------------------------------
#: central Helsinki (EPSG:3067), Lyon (EPSG:2154 and EPSG:3946), Delft (EPSG:28992)
HELSINKI_LONLAT = (24.9410, 60.1700)
LYON_LONLAT = (4.8357, 45.7640)
DELFT_RD = (85_000.0, 447_000.0)


def project(lon: float, lat: float, epsg: int) -> tuple[float, float]:
    return Transformer.from_crs(4326, epsg, always_xy=True).transform(lon, lat)


def rect(
    x: float, y: float, w: float = 20.0, d: float = 12.0, angle: float = 0.0
) -> shapely.Polygon:
    """A w x d rectangle with its corner at (x, y), rotated by ``angle`` degrees."""
    box = shapely.box(x, y, x + w, y + d)
    return shapely.affinity.rotate(box, angle, origin=(x, y)) if angle else box


def buildings_gdf(
    epsg: int, origin: tuple[float, float], n: int = 3, **cols: list[Any]
) -> gpd.GeoDataFrame:
    """``n`` buildings 50 m apart in ``epsg`` (degrees are handled: 50 m ~ 0.0007 deg)."""
    step = 0.0007 if epsg == 4326 else 50.0
    size = (0.0002, 0.0001) if epsg == 4326 else (20.0, 12.0)
    geoms = [rect(origin[0] + i * step, origin[1], *size) for i in range(n)]
    data = {"ref": [f"b{i}" for i in range(n)], **cols}
    return gpd.GeoDataFrame(data, geometry=geoms, crs=f"EPSG:{epsg}")


def write_geojson(path: Path, features: list[dict[str, Any]], crs: str | None = None) -> Path:
    """A GeoJSON file, optionally with the legacy (2008) ``crs`` member."""
    doc: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if crs:
        doc["crs"] = {"type": "name", "properties": {"name": crs}}
    path.write_text(json.dumps(doc))
    return path


def feature(geom: shapely.Geometry | None, fid: Any = None, **props: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "Feature",
        "properties": props,
        "geometry": None if geom is None else shapely.geometry.mapping(geom),
    }
    if fid is not None:
        out["id"] = fid
    return out


# -- CityJSON ------------------------------------------------------------------------------
def gabled_house(
    x: float,
    y: float,
    z: float,
    w: float = 10.0,
    d: float = 8.0,
    eave: float = 6.0,
    ridge: float = 9.0,
) -> tuple[np.ndarray, list[Any], list[Any]]:
    """A gabled house as a LoD2 Solid: (vertices, boundaries, semantic values).

    Surfaces: 0 GroundSurface, 1 WallSurface, 2 RoofSurface (semantics.surfaces order).
    """
    v = np.array(
        [
            [x, y, z],
            [x + w, y, z],
            [x + w, y + d, z],
            [x, y + d, z],  # 0-3 ground
            [x, y, z + eave],
            [x + w, y, z + eave],
            [x + w, y + d, z + eave],  # 4-6 eaves
            [x, y + d, z + eave],  # 7
            [x, y + d / 2, z + ridge],
            [x + w, y + d / 2, z + ridge],  # 8-9 ridge
        ]
    )
    shell = [
        [[0, 3, 2, 1]],  # ground, facing down
        [[0, 1, 5, 4]],
        [[2, 3, 7, 6]],  # long walls
        [[1, 2, 6, 9, 5]],
        [[3, 0, 4, 8, 7]],  # gable walls
        [[4, 5, 9, 8]],
        [[6, 7, 8, 9]],  # roof planes
    ]
    values = [0, 1, 1, 1, 1, 2, 2]
    return v, [shell], [values]


def block(
    x: float, y: float, z: float, w: float, d: float, h: float
) -> tuple[np.ndarray, list[Any]]:
    """A LoD1 block (Solid, no semantics): (vertices, boundaries)."""
    v = np.array(
        [
            [x, y, z],
            [x + w, y, z],
            [x + w, y + d, z],
            [x, y + d, z],
            [x, y, z + h],
            [x + w, y, z + h],
            [x + w, y + d, z + h],
            [x, y + d, z + h],
        ]
    )
    shell = [
        [[0, 3, 2, 1]],
        [[4, 5, 6, 7]],
        [[0, 1, 5, 4]],
        [[1, 2, 6, 5]],
        [[2, 3, 7, 6]],
        [[3, 0, 4, 7]],
    ]
    return v, [shell]


class CityModel:
    """Builds CityObjects and one shared vertex list, stored with a transform (integers)."""

    SEMANTICS: ClassVar = [
        {"type": "GroundSurface"},
        {"type": "WallSurface"},
        {"type": "RoofSurface"},
    ]

    def __init__(
        self, scale: float = 0.001, translate: tuple[float, float, float] = (0, 0, 0)
    ) -> None:
        self.scale = np.array([scale] * 3)
        self.translate = np.array(translate, dtype=float)
        self.objects: dict[str, Any] = {}
        self.vertices: list[list[int]] = []

    def _add_vertices(self, v: np.ndarray) -> int:
        start = len(self.vertices)
        ints = np.rint((v - self.translate) / self.scale).astype(np.int64)
        self.vertices.extend(ints.tolist())
        return start

    @staticmethod
    def _shift(bounds: Any, k: int) -> Any:
        if isinstance(bounds, int):
            return bounds + k
        return [CityModel._shift(b, k) for b in bounds]

    def house(
        self,
        oid: str,
        x: float,
        y: float,
        z: float = 0.0,
        *,
        lod: str = "2.2",
        ridge: float = 9.0,
        attributes: dict[str, Any] | None = None,
        lod1: bool = True,
        lod0: bool = True,
        kind: str = "Building",
    ) -> None:
        """A Building with LoD0 footprint, LoD1 block and LoD2 gabled Solid."""
        geometry = []
        if lod0:
            v = np.array([[x, y, z], [x + 10, y, z], [x + 10, y + 8, z], [x, y + 8, z]])
            k = self._add_vertices(v)
            geometry.append(
                {"type": "MultiSurface", "lod": "0", "boundaries": [[[k, k + 1, k + 2, k + 3]]]}
            )
        if lod1:
            v, b = block(x, y, z, 10, 8, ridge)
            k = self._add_vertices(v)
            geometry.append({"type": "Solid", "lod": "1.2", "boundaries": self._shift(b, k)})
        v, b, values = gabled_house(x, y, z, ridge=ridge)
        k = self._add_vertices(v)
        geometry.append(
            {
                "type": "Solid",
                "lod": lod,
                "boundaries": self._shift(b, k),
                "semantics": {"surfaces": self.SEMANTICS, "values": values},
            }
        )
        self.objects[oid] = {"type": kind, "attributes": attributes or {}, "geometry": geometry}

    def lod1_only(
        self,
        oid: str,
        x: float,
        y: float,
        z: float,
        w: float,
        d: float,
        h: float,
        attributes: dict[str, Any] | None = None,
    ) -> None:
        v, b = block(x, y, z, w, d, h)
        k = self._add_vertices(v)
        self.objects[oid] = {
            "type": "Building",
            "attributes": attributes or {},
            "geometry": [{"type": "Solid", "lod": "1", "boundaries": self._shift(b, k)}],
        }

    def with_part(
        self, parent: str, part: str, x: float, y: float, z: float = 0.0, ridge: float = 14.0
    ) -> None:
        """A BuildingPart (its own LoD2 house) under ``parent``."""
        self.house(part, x, y, z, ridge=ridge, lod0=False, lod1=False, kind="BuildingPart")
        self.objects[part]["parents"] = [parent]
        self.objects[parent].setdefault("children", []).append(part)

    def tree(self, oid: str, x: float, y: float) -> None:
        k = self._add_vertices(np.array([[x, y, 0.0]]))
        self.objects[oid] = {
            "type": "SolitaryVegetationObject",
            "geometry": [{"type": "MultiPoint", "lod": "1", "boundaries": [k]}],
        }

    def header(self, version: str, crs: str | None) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "type": "CityJSON",
            "version": version,
            "transform": {"scale": self.scale.tolist(), "translate": self.translate.tolist()},
            "CityObjects": {},
            "vertices": [],
        }
        if crs:
            doc["metadata"] = {"referenceSystem": crs}
        return doc

    def write(
        self,
        path: Path,
        version: str = "2.0",
        crs: str | None = "https://www.opengis.net/def/crs/EPSG/0/7415",
    ) -> Path:
        doc = self.header(version, crs)
        doc["CityObjects"] = self.objects
        doc["vertices"] = self.vertices
        path.write_text(json.dumps(doc))
        return path

    def write_seq(
        self,
        path: Path,
        version: str = "2.0",
        crs: str | None = "https://www.opengis.net/def/crs/EPSG/0/7415",
    ) -> Path:
        """CityJSONSeq: the header line, then one CityJSONFeature per top-level object with
        its own, re-indexed vertices."""
        lines = [json.dumps(self.header(version, crs))]
        for oid, obj in self.objects.items():
            if obj.get("parents"):
                continue
            members = [oid, *obj.get("children", [])]
            used: dict[int, int] = {}
            objects = {}
            for m in members:
                o = json.loads(json.dumps(self.objects[m]))
                for g in o.get("geometry", []):
                    g["boundaries"] = self._reindex(g["boundaries"], used)
                objects[m] = o
            verts = [self.vertices[i] for i in sorted(used, key=used.get)]  # type: ignore[arg-type]
            lines.append(
                json.dumps(
                    {
                        "type": "CityJSONFeature",
                        "id": oid,
                        "CityObjects": objects,
                        "vertices": verts,
                    }
                )
            )
        path.write_text("\n".join(lines) + "\n")
        return path

    @staticmethod
    def _reindex(bounds: Any, used: dict[int, int]) -> Any:
        if isinstance(bounds, int):
            return used.setdefault(bounds, len(used))
        return [CityModel._reindex(b, used) for b in bounds]


# -- the database ----------------------------------------------------------------------------
def snapshot(engine: Engine) -> dict[str, Any]:
    """Row counts of every table, twin_meta's content and the geometry columns' SRIDs."""
    out: dict[str, Any] = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            out[table.name] = conn.execute(text(f"SELECT count(*) FROM {table.name}")).scalar()
        out["twin_meta"] = sorted(conn.execute(text("SELECT key, value FROM twin_meta")).all())
        out["srids"] = sorted(
            conn.execute(
                text("SELECT f_table_name, f_geometry_column, srid FROM geometry_columns")
            ).all()
        )
        out["datasets"] = sorted(
            conn.execute(text("SELECT source, layer, features FROM datasets")).all()
        )
    return out


def rows(engine: Engine, sql: str, **params: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text(sql), params).all())


def close_to(a: tuple[float, float], b: tuple[float, float], tol: float = 0.01) -> bool:
    return math.dist(a, b) <= tol
