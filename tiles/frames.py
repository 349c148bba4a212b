"""Local east-north-up frames: working CRS -> ECEF (EPSG:4978) -> a tile's own ENU frame.

3D Tiles place content in ECEF through ``tile.transform``. Vertices stored as float32 need a
local origin (ECEF coordinates are ~6.4e6 m: float32 there is off by half a metre), so every
tile gets an ENU frame at its centre and its vertices are exact ECEF positions expressed in
that frame: the earth's curvature is kept (about 2 cm at 500 m from the centre), not
approximated by a flat projection.

Heights (z) of the working CRS are treated as ellipsoidal heights: the twin has no geoid grid
offline, and every layer of a twin shares the same vertical reference, so they stay consistent
with each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from pyproj import Transformer

from geodata.crs import transformer

#: WGS 84 ellipsoid (EPSG:4978 / EPSG:4979).
WGS84_A = 6378137.0
WGS84_F = 1 / 298.257223563
WGS84_E2 = WGS84_F * (2 - WGS84_F)

F64 = NDArray[np.float64]


def _to_lonlat(epsg: int) -> Transformer:
    return transformer(epsg, 4326)


def _ecef_to_geodetic() -> Transformer:
    return transformer(4978, 4979)


def _from_lonlat(epsg: int) -> Transformer:
    return transformer(4326, epsg)


def lonlat(epsg: int, x: F64, y: F64) -> tuple[F64, F64]:
    """Longitude and latitude in degrees of working-CRS points (vectorised)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size == 1:  # pyproj takes one-element arrays for scalars (and warns about it)
        lo, la = _to_lonlat(epsg).transform(float(x.reshape(-1)[0]), float(y.reshape(-1)[0]))
        return np.full(x.shape, lo), np.full(x.shape, la)
    lon, lat = _to_lonlat(epsg).transform(x, y)
    return np.asarray(lon, float), np.asarray(lat, float)


def geodetic_to_ecef(lon_deg: F64, lat_deg: F64, h: F64) -> F64:
    """ECEF (n, 3) of geodetic points; matches PROJ's EPSG:4979 -> EPSG:4978 to 1e-9 m."""
    lon = np.radians(lon_deg)
    lat = np.radians(lat_deg)
    s = np.sin(lat)
    c = np.cos(lat)
    n = WGS84_A / np.sqrt(1.0 - WGS84_E2 * s * s)
    out = np.empty((np.size(lon), 3), dtype=np.float64)
    out[:, 0] = (n + h) * c * np.cos(lon)
    out[:, 1] = (n + h) * c * np.sin(lon)
    out[:, 2] = (n * (1.0 - WGS84_E2) + h) * s
    return out


def enu_to_ecef_matrix(lon_deg: float, lat_deg: float, h: float) -> F64:
    """4x4 matrix taking ENU coordinates at a geodetic point to ECEF (column vectors)."""
    lon = np.radians(lon_deg)
    lat = np.radians(lat_deg)
    east = np.array([-np.sin(lon), np.cos(lon), 0.0])
    north = np.array([-np.sin(lat) * np.cos(lon), -np.sin(lat) * np.sin(lon), np.cos(lat)])
    up = np.array([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])
    origin = geodetic_to_ecef(np.array([lon_deg]), np.array([lat_deg]), np.array([h]))[0]
    m = np.eye(4)
    m[:3, 0] = east
    m[:3, 1] = north
    m[:3, 2] = up
    m[:3, 3] = origin
    return m


@dataclass(frozen=True)
class Frame:
    """An ENU frame at a point of the working CRS; ``matrix`` is ENU -> ECEF."""

    epsg: int
    x: float
    y: float
    z: float
    matrix: F64

    @classmethod
    def at(cls, epsg: int, x: float, y: float, z: float = 0.0) -> Frame:
        lon, lat = _to_lonlat(epsg).transform(float(x), float(y))
        return cls(epsg, x, y, z, enu_to_ecef_matrix(float(lon), float(lat), z))

    @classmethod
    def many(cls, epsg: int, xs: F64, ys: F64) -> list[Frame]:
        """``Frame.at`` for many points, with one PROJ call and array maths (a build makes
        a frame per tile for its tileset.json: thousands)."""
        xs, ys = np.asarray(xs, float), np.asarray(ys, float)
        if xs.size < 2:
            return [cls.at(epsg, float(x), float(y)) for x, y in zip(xs, ys, strict=True)]
        lon_d, lat_d = lonlat(epsg, xs, ys)
        lon, lat = np.radians(lon_d), np.radians(lat_d)
        so, co, sa, ca = np.sin(lon), np.cos(lon), np.sin(lat), np.cos(lat)
        m = np.zeros((len(xs), 4, 4))
        m[:, :3, 0] = np.stack([-so, co, np.zeros_like(so)], axis=1)
        m[:, :3, 1] = np.stack([-sa * co, -sa * so, ca], axis=1)
        m[:, :3, 2] = np.stack([ca * co, ca * so, sa], axis=1)
        m[:, :3, 3] = geodetic_to_ecef(lon_d, lat_d, np.zeros_like(lon_d))
        m[:, 3, 3] = 1.0
        return [
            cls(epsg, x, y, 0.0, m[i])
            for i, (x, y) in enumerate(zip(xs.tolist(), ys.tolist(), strict=True))
        ]

    @property
    def rotation(self) -> F64:
        return self.matrix[:3, :3]

    @property
    def origin(self) -> F64:
        return self.matrix[:3, 3]

    def from_ecef(self, ecef: F64) -> F64:
        """ECEF (n, 3) -> this frame (n, 3), in float64."""
        return (ecef - self.origin) @ self.rotation

    def local_from_lonlat(self, lon: F64, lat: F64, h: F64) -> F64:
        return self.from_ecef(geodetic_to_ecef(lon, lat, h))

    def local(self, x: F64, y: F64, z: F64) -> F64:
        """Working-CRS points (x, y, z) -> this frame (n, 3), float64."""
        lon, lat = lonlat(self.epsg, x, y)
        return self.local_from_lonlat(lon, lat, np.asarray(z, float))

    def to_working(self, local: F64) -> F64:
        """This frame (n, 3) -> working-CRS points (n, 3) with ellipsoidal heights: the
        inverse of :meth:`local`, so a point found in the frame (a ray's hit) is reported
        where the twin stores things."""
        ecef = np.asarray(local, float).reshape(-1, 3) @ self.rotation.T + self.origin
        if len(ecef) == 1:  # pyproj wants scalars, not one-element arrays
            lo, la, h1 = _ecef_to_geodetic().transform(*ecef[0].tolist())
            x1, y1 = _from_lonlat(self.epsg).transform(lo, la)
            return np.array([[x1, y1, h1]], dtype=float)
        lon, lat, h = _ecef_to_geodetic().transform(ecef[:, 0], ecef[:, 1], ecef[:, 2])
        x, y = _from_lonlat(self.epsg).transform(lon, lat)
        return np.stack([np.asarray(x, float), np.asarray(y, float), np.asarray(h, float)], axis=1)

    def up_in_frame(self, lon: F64, lat: F64) -> F64:
        """The ellipsoid normal at each point, expressed in this frame (n, 3)."""
        la = np.radians(lat)
        lo = np.radians(lon)
        up = np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=1)
        out: F64 = up @ self.rotation
        return out


@dataclass(frozen=True)
class FrameSet:
    """Several tile frames at once, for meshing the features of many tiles in one pass (an
    incremental build patches hundreds of tiles, each for one or two buildings: numpy's
    per-call cost, not the arithmetic, is what a pass per tile spends). Each point says
    which frame it is expressed in; one frame computes exactly as :class:`Frame` does."""

    epsg: int
    xy: F64  # (k, 2) frame centres in the working CRS
    origin: F64  # (k, 3) ECEF origins
    rotation: F64  # (k, 3, 3) ENU -> ECEF rotations

    @classmethod
    def of(cls, frames: list[Frame]) -> FrameSet:
        return cls(
            frames[0].epsg,
            np.array([[f.x, f.y] for f in frames], dtype=np.float64).reshape(-1, 2),
            np.stack([f.origin for f in frames]),
            np.stack([f.rotation for f in frames]),
        )

    @classmethod
    def many(cls, epsg: int, centres: list[tuple[float, float]]) -> FrameSet:
        """The frames at ``centres`` (one PROJ call, as :meth:`Frame.many`)."""
        xy = np.array(centres, dtype=np.float64).reshape(-1, 2)
        return cls.of(Frame.many(epsg, xy[:, 0], xy[:, 1]))

    def __len__(self) -> int:
        return len(self.xy)

    def subset(self, which: list[int]) -> FrameSet:
        return FrameSet(self.epsg, self.xy[which], self.origin[which], self.rotation[which])

    def frame(self, i: int) -> Frame:
        m = np.eye(4)
        m[:3, :3] = self.rotation[i]
        m[:3, 3] = self.origin[i]
        return Frame(self.epsg, float(self.xy[i, 0]), float(self.xy[i, 1]), 0.0, m)

    def _rotate(self, v: F64, which: NDArray[np.intp]) -> F64:
        """Row vectors ``v`` (ECEF directions) into their frames: ``v @ R`` per point."""
        if len(self) == 1:  # one frame: the very product Frame computes
            out: F64 = v @ self.rotation[0]
        else:
            out = np.einsum("ni,nij->nj", v, self.rotation[which])
        return out

    def local_from_lonlat(self, lon: F64, lat: F64, h: F64, which: NDArray[np.intp]) -> F64:
        ecef = geodetic_to_ecef(lon, lat, h)
        origin = self.origin[0] if len(self) == 1 else self.origin[which]
        return self._rotate(ecef - origin, which)

    def up_in_frame(self, lon: F64, lat: F64, which: NDArray[np.intp]) -> F64:
        la = np.radians(lat)
        lo = np.radians(lon)
        up = np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=1)
        return self._rotate(up, which)


def rigid_inverse(m: F64) -> F64:
    """Inverse of a rotation-plus-translation 4x4 matrix, or of each of a stack of them: the
    transpose of the rotation, the origin undone (exact for a rigid frame, and many times
    cheaper than a general 4x4 inverse)."""
    out = np.zeros(m.shape)
    r = np.swapaxes(m[..., :3, :3], -1, -2)
    out[..., :3, :3] = r
    out[..., :3, 3] = -(r @ m[..., :3, 3:])[..., 0]
    out[..., 3, 3] = 1.0
    return out


def column_major(m: F64) -> list[float]:
    """A 4x4 matrix as the 16 numbers 3D Tiles and glTF expect (column-major)."""
    out: list[float] = np.asarray(m, float).T.reshape(-1).tolist()
    return out


#: glTF is y-up; 3D Tiles viewers rotate content +90 degrees about X (y-up -> z-up) before the
#: tile transform. Our vertices are z-up, so the glTF root node carries the inverse rotation
#: (x, y, z) -> (x, z, -y); the two cancel and the vertices land in the tile frame unchanged.
Z_UP_TO_Y_UP = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
#: the rotation viewers apply to glTF content (y-up -> z-up), as a 4x4 matrix.
Y_UP_TO_Z_UP = np.array(
    [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, -1.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
)
