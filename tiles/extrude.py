"""Building meshes: LoD1 extrusion of footprints (vectorised) and LoD2 from stored 3D faces.

LoD1 makes one closed solid per building: walls (one quad per ring edge, flat normal facing
out), roof (earcut triangulation of the footprint with its holes, at base_z + height) and
floor (the same triangles reversed, at base_z). Rings are oriented with shapely first
(exterior counter-clockwise, holes clockwise) so every wall faces outwards, holes included.
Wall corners, roof and floor share exact coordinates, so the solid is watertight once
coincident vertices are merged (flat shading duplicates them on purpose).

Everything except the earcut call per polygon runs as numpy over the whole tile.
"""

from __future__ import annotations

from collections.abc import Sequence

import mapbox_earcut
import numpy as np
import shapely
from numpy.typing import NDArray

from tiles.frames import Frame, FrameSet, lonlat
from tiles.mesh import Mesh, unit

_QUAD = np.array([0, 1, 2, 0, 2, 3], dtype=np.uint32)
#: edges shorter than this (metres) make no wall: they are repeated points
MIN_EDGE = 1e-4


def _open_rings(
    polys: NDArray[np.object_],
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]:
    """Vertices of every ring without the closing point and repeated points.

    Returns (xy or xyz coordinates, ring index per vertex, polygon index per ring).
    """
    rings, ring_poly = shapely.get_rings(polys, return_index=True)
    has_z = bool(np.any(shapely.has_z(rings))) if len(rings) else False
    coords, ring_of = shapely.get_coordinates(rings, include_z=has_z, return_index=True)
    if not len(coords):
        return coords, ring_of, ring_poly
    counts = np.bincount(ring_of, minlength=len(rings))
    keep = np.ones(len(coords), dtype=bool)
    keep[np.cumsum(counts)[counts > 0] - 1] = False  # closing vertex
    same_ring = np.zeros(len(coords), dtype=bool)
    same_ring[1:] = ring_of[1:] == ring_of[:-1]
    repeated = np.zeros(len(coords), dtype=bool)
    repeated[1:] = np.all(coords[1:] == coords[:-1], axis=1)
    keep &= ~(same_ring & repeated)
    return coords[keep], ring_of[keep], ring_poly


def _ring_layout(ring_of: NDArray[np.int64], n_rings: int) -> tuple[NDArray[np.int64], ...]:
    ring_n = np.bincount(ring_of, minlength=n_rings)
    ring_start = np.cumsum(ring_n) - ring_n
    idx = np.arange(len(ring_of))
    pos = idx - ring_start[ring_of]
    nxt = np.where(pos + 1 == ring_n[ring_of], ring_start[ring_of], idx + 1)
    return ring_n, ring_start, nxt


def _orient(
    xy: NDArray[np.float64],
    ring_of: NDArray[np.int64],
    ring_n: NDArray[np.int64],
    ring_start: NDArray[np.int64],
    nxt: NDArray[np.int64],
    ring_poly: NDArray[np.int64],
) -> NDArray[np.float64]:
    """Exterior rings counter-clockwise, holes clockwise (what shapely.orient_polygons does,
    in numpy on the ring arrays we already have: about twice as fast)."""
    cross = xy[:, 0] * xy[nxt, 1] - xy[nxt, 0] * xy[:, 1]
    area2 = np.bincount(ring_of, weights=cross, minlength=len(ring_n))
    exterior = np.ones(len(ring_n), dtype=bool)
    exterior[1:] = ring_poly[1:] != ring_poly[:-1]  # the first ring of a polygon
    flip = np.where(exterior, area2 < 0, area2 > 0)
    if not flip.any():
        return xy
    idx = np.arange(len(xy))
    pos = idx - ring_start[ring_of]
    rev = ring_start[ring_of] + ring_n[ring_of] - 1 - pos
    out: NDArray[np.float64] = xy[np.where(flip[ring_of], rev, idx)]
    return out


def _triangulate(
    xy: NDArray[np.float64],
    ring_n: NDArray[np.int64],
    ring_start: NDArray[np.int64],
    ring_poly: NDArray[np.int64],
    n_polys: int,
) -> NDArray[np.uint32]:
    """Earcut each polygon (exterior + holes); returns (m, 3) indices into ``xy``.

    Polygons whose exterior has fewer than 3 vertices are skipped; such holes are dropped.
    """
    first_ring = np.searchsorted(ring_poly, np.arange(n_polys))
    last_ring = np.searchsorted(ring_poly, np.arange(n_polys), side="right")
    rings_per_poly = last_ring - first_ring
    # Fast path: convex polygons without holes (most footprints) are fanned in numpy.
    fan_ring = first_ring[(rings_per_poly == 1)]
    fan_ring = fan_ring[_convex(xy, ring_n, ring_start, fan_ring)]
    tris = [_fan(ring_n, ring_start, fan_ring)]
    is_fan = np.zeros(n_polys, dtype=bool)
    is_fan[ring_poly[fan_ring]] = True
    ring_n_l = ring_n.tolist()
    ring_start_l = ring_start.tolist()
    first_l, last_l = first_ring.tolist(), last_ring.tolist()
    # ring end offsets within their polygon, for every ring at once (earcut's second argument)
    cs = np.cumsum(ring_n)
    ends_all = (cs - np.repeat(cs[first_ring] - ring_n[first_ring], rings_per_poly)).astype(
        np.uint32
    )
    earcut = mapbox_earcut.triangulate_float64
    for p in np.nonzero(~is_fan)[0].tolist():
        r0, r1 = first_l[p], last_l[p]
        if r0 == r1 or ring_n_l[r0] < 3:
            continue
        if all(ring_n_l[r] >= 3 for r in range(r0 + 1, r1)):
            v0 = ring_start_l[r0]
            tris.append(earcut(xy[v0 : v0 + int(ends_all[r1 - 1])], ends_all[r0:r1]) + v0)
            continue
        rings = [r for r in range(r0, r1) if ring_n_l[r] >= 3]
        if rings:
            # some hole is degenerate: gather the usable rings
            sel = np.concatenate(
                [np.arange(ring_start_l[r], ring_start_l[r] + ring_n_l[r]) for r in rings]
            )
            ends = np.cumsum([ring_n_l[r] for r in rings]).astype(np.uint32)
            t = earcut(np.ascontiguousarray(xy[sel]), ends)
            tris.append(sel[t].astype(np.uint32))
    return np.concatenate(tris).astype(np.uint32, copy=False).reshape(-1, 3)


def _convex(
    xy: NDArray[np.float64],
    ring_n: NDArray[np.int64],
    ring_start: NDArray[np.int64],
    rings: NDArray[np.int64],
) -> NDArray[np.bool_]:
    """Mask over ``rings``: counter-clockwise rings of >= 3 vertices that are convex."""
    ok = ring_n[rings] >= 3
    sub = rings[ok]
    result = np.zeros(len(rings), dtype=bool)
    if not len(sub):
        return result
    n = ring_n[sub]
    owner = np.repeat(np.arange(len(sub)), n)
    k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    start = ring_start[sub][owner]
    cur = start + k
    prv = start + (k - 1) % n[owner]
    nxt = start + (k + 1) % n[owner]
    a = xy[cur] - xy[prv]
    b = xy[nxt] - xy[cur]
    cross = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    scale = np.abs(a).sum(axis=1) * np.abs(b).sum(axis=1)
    concave = np.bincount(owner, weights=cross < -1e-12 * scale, minlength=len(sub)) > 0
    result[np.nonzero(ok)[0][~concave]] = True
    return result


def _fan(
    ring_n: NDArray[np.int64], ring_start: NDArray[np.int64], rings: NDArray[np.int64]
) -> NDArray[np.uint32]:
    """Fan triangles (v0, vk, vk+1) of convex rings."""
    if not len(rings):
        return np.zeros(0, dtype=np.uint32)
    t = ring_n[rings] - 2
    owner = np.repeat(np.arange(len(rings)), t)
    k = np.arange(t.sum()) - np.repeat(np.cumsum(t) - t, t)
    s = ring_start[rings][owner]
    out: NDArray[np.uint32] = (
        np.stack([s, s + k + 1, s + k + 2], axis=1).astype(np.uint32).reshape(-1)
    )
    return out


def _ccw(tri: NDArray[np.uint32], xy: NDArray[np.float64]) -> NDArray[np.uint32]:
    """Triangles reordered counter-clockwise in the plane (seen from +z)."""
    a, b, c = xy[tri[:, 0]], xy[tri[:, 1]], xy[tri[:, 2]]
    cross = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    out = tri.copy()
    flip = cross < 0
    out[flip, 1], out[flip, 2] = tri[flip, 2], tri[flip, 1]
    return out


def _geometries(values: Sequence[bytes | shapely.Geometry]) -> NDArray[np.object_]:
    """Rows carry WKB straight from PostGIS; tests pass shapely geometries: accept both."""
    if len(values) and isinstance(values[0], bytes):
        return np.asarray(shapely.from_wkb(values), dtype=object)
    return np.asarray(values, dtype=object)


def extrude(
    frame: Frame | FrameSet,
    footprints: Sequence[bytes | shapely.Geometry],
    base_z: NDArray[np.float64],
    height: NDArray[np.float64],
    feature: NDArray[np.int64],
    frame_of: NDArray[np.intp] | None = None,
) -> Mesh:
    """LoD1 solids of (Multi)Polygon footprints, one feature index per building.

    With a :class:`FrameSet`, ``frame_of`` says in which frame each building is meshed (an
    incremental build meshes the changed buildings of many tiles in one pass); each vertex
    then has the coordinates a pass over its frame alone would give it."""
    fs = FrameSet.of([frame]) if isinstance(frame, Frame) else frame
    geoms = _geometries(footprints)
    if not len(geoms):
        return Mesh.empty()
    polys, poly_bld = shapely.get_parts(geoms, return_index=True)
    xy, ring_of, ring_poly = _open_rings(polys)
    if not len(xy):
        return Mesh.empty()
    bld = poly_bld[ring_poly[ring_of]]  # orienting reverses rings, never moves a vertex out
    which = np.zeros(len(bld), dtype=np.intp) if frame_of is None else frame_of[bld]
    centre = fs.xy[0] if len(fs) == 1 else fs.xy[which]
    xy = xy[:, :2] - centre  # relative: exact shoelace and earcut
    ring_n, ring_start, nxt = _ring_layout(ring_of, len(ring_poly))
    xy = _orient(xy, ring_of, ring_n, ring_start, nxt, ring_poly)
    xy_abs = xy + centre
    valid_ring = ring_n >= 3
    lon, lat = lonlat(fs.epsg, xy_abs[:, 0], xy_abs[:, 1])
    # ECEF(lon, lat, h) = ECEF(lon, lat, 0) + h * up(lon, lat) exactly, so one geodetic
    # conversion serves the floor and the roof
    ground = fs.local_from_lonlat(lon, lat, np.zeros(len(lon)), which)
    up64 = fs.up_in_frame(lon, lat, which)
    bottom = ground + base_z[bld][:, None] * up64
    top = ground + (base_z[bld] + height[bld])[:, None] * up64
    up = up64.astype(np.float32)
    fid = feature[bld].astype(np.uint32)

    # walls: quads (b_i, b_next, t_next, t_i)
    i = np.nonzero(valid_ring[ring_of])[0]
    j = nxt[i]
    edge = bottom[j] - bottom[i]
    i = i[np.einsum("ij,ij->i", edge, edge) > MIN_EDGE * MIN_EDGE]
    j = nxt[i]
    quad = np.stack([bottom[i], bottom[j], top[j], top[i]], axis=1)  # (e, 4, 3)
    n = unit(np.cross(quad[:, 1] - quad[:, 0], quad[:, 3] - quad[:, 0])).astype(np.float32)
    e = len(i)
    wall = Mesh(
        quad.reshape(-1, 3),
        np.repeat(n, 4, axis=0),
        np.repeat(fid[i], 4).astype(np.uint32),
        (np.arange(e, dtype=np.uint32)[:, None] * 4 + _QUAD).reshape(-1, 3).astype(np.uint32),
    )

    # roof and floor: earcut in the working CRS plane, relative to the frame origin
    tri = _ccw(_triangulate(xy, ring_n, ring_start, ring_poly, len(polys)), xy)
    roof = Mesh(top, up, fid, tri)
    floor = Mesh(bottom, -up, fid, tri[:, ::-1].copy())
    return Mesh.concat([wall, roof, floor])


def _newell(pts: NDArray[np.float64]) -> NDArray[np.float64]:
    nxt = np.roll(pts, -1, axis=0)
    return np.array(
        [
            np.sum((pts[:, 1] - nxt[:, 1]) * (pts[:, 2] + nxt[:, 2])),
            np.sum((pts[:, 2] - nxt[:, 2]) * (pts[:, 0] + nxt[:, 0])),
            np.sum((pts[:, 0] - nxt[:, 0]) * (pts[:, 1] + nxt[:, 1])),
        ]
    )


def faces(
    frame: Frame, surfaces: Sequence[bytes | shapely.Geometry], feature: NDArray[np.int64]
) -> Mesh:
    """LoD2 meshes from MultiPolygonZ faces (one flat-shaded face per polygon).

    A face's outside is the side its exterior ring turns counter-clockwise around (the
    CityGML convention); its normal is Newell's normal of the ring in the tile frame.
    """
    geoms = _geometries(surfaces)
    if not len(geoms):
        return Mesh.empty()
    polys, poly_bld = shapely.get_parts(geoms, return_index=True)
    xyz, ring_of, ring_poly = _open_rings(polys)
    if not len(xyz) or xyz.shape[1] < 3:
        return Mesh.empty()
    ring_n, ring_start, _ = _ring_layout(ring_of, len(ring_poly))
    local = frame.local(xyz[:, 0], xyz[:, 1], xyz[:, 2])
    first_ring = np.searchsorted(ring_poly, np.arange(len(polys)))
    last_ring = np.searchsorted(ring_poly, np.arange(len(polys)), side="right")
    out: list[Mesh] = []
    for p in range(len(polys)):
        r0, r1 = int(first_ring[p]), int(last_ring[p])
        if r0 == r1 or ring_n[r0] < 3:
            continue
        rings = [r for r in range(r0, r1) if ring_n[r] >= 3]
        sel = np.concatenate([np.arange(ring_start[r], ring_start[r] + ring_n[r]) for r in rings])
        pts = local[sel]
        normal = _newell(pts[: ring_n[r0]])
        length = np.linalg.norm(normal)
        if length < 2e-4:
            continue  # under 1 cm² (|Newell| = 2 x area): a sliver, or float noise of a line
        normal /= length
        # a 2D basis (u, v) of the face plane with u x v = normal
        helper = np.array([0.0, 0.0, 1.0]) if abs(normal[2]) < 0.9 else np.array([1.0, 0, 0])
        u = np.cross(helper, normal)
        u /= np.linalg.norm(u)
        v = np.cross(normal, u)
        uv = np.stack([(pts - pts[0]) @ u, (pts - pts[0]) @ v], axis=1)
        ends = np.cumsum([ring_n[r] for r in rings]).astype(np.uint32)
        tri = mapbox_earcut.triangulate_float64(uv, ends).astype(np.uint32).reshape(-1, 3)
        if not len(tri):
            continue
        tri = _ccw(tri, uv)
        k = len(sel)
        out.append(
            Mesh(
                pts,
                np.tile(normal.astype(np.float32), (k, 1)),
                np.full(k, feature[poly_bld[p]], dtype=np.uint32),
                tri,
            )
        )
    return Mesh.concat(out)


def building_mesh(
    frame: Frame,
    footprints: Sequence[bytes | shapely.Geometry],
    base_z: NDArray[np.float64],
    height: NDArray[np.float64],
    lod2: Sequence[bytes | shapely.Geometry | None],
) -> Mesh:
    """Buildings as the twin draws them everywhere (tiles and the analyses' scene): LoD2 faces
    where stored and usable, else the LoD1 extrusion; feature index = position in the lists.

    A LoD2 geometry whose faces give no triangle (degenerate) falls back to LoD1: every
    building must be drawn, and must block rays where it stands.
    """
    n = len(footprints)
    has_lod2 = np.fromiter((g is not None for g in lod2), dtype=bool, count=n)
    idx = np.arange(n)
    parts: list[Mesh] = []
    if has_lod2.any():
        sel = idx[has_lod2]
        lod2_mesh = faces(frame, [lod2[i] for i in sel.tolist()], sel)
        parts.append(lod2_mesh)
        has_lod2[sel[~np.isin(sel, lod2_mesh.features)]] = False
    lod1 = idx[~has_lod2]
    if len(lod1):
        fps = [footprints[i] for i in lod1.tolist()]
        parts.append(extrude(frame, fps, base_z[lod1], height[lod1], lod1))
    return Mesh.concat(parts)
