"""Pure parts of the tiles package: frames, the quadtree, GLB encoding read by pygltflib."""

from __future__ import annotations

import re

import numpy as np
import pygltflib
import pytest
import shapely
from pyproj import Transformer

from geodata.errors import InputError
from tiles import metadata
from tiles.extrude import extrude
from tiles.frames import Y_UP_TO_Z_UP, Z_UP_TO_Y_UP, Frame, rigid_inverse
from tiles.gltf import GltfBuilder
from tiles.quadtree import Quadtree, TreeParams, decode, encode, parent
from tiles.tileset import MIN_HALF, boxes, corners


def test_frame_is_exact_enu_at_its_origin_and_keeps_earth_curvature() -> None:
    f = Frame.at(3067, 385000.0, 6672000.0)
    to_ecef = Transformer.from_crs("EPSG:3067", "EPSG:4978", always_xy=True)
    origin = np.array(to_ecef.transform(385000.0, 6672000.0, 0.0))
    assert np.allclose(f.origin, origin, atol=1e-6)
    r = f.rotation
    assert np.allclose(r.T @ r, np.eye(3), atol=1e-12)
    far = f.local(np.array([386000.0]), np.array([6672000.0]), np.array([0.0]))[0]
    # 1 km east: the ellipsoid drops below the tangent plane by about d^2 / 2R
    assert far[0] == pytest.approx(1000, abs=1.0)
    assert far[2] == pytest.approx(-(1000**2) / (2 * 6.38e6), abs=0.01)
    back = f.matrix @ np.append(far, 1.0)
    assert np.allclose(back[:3], to_ecef.transform(386000.0, 6672000.0, 0.0), atol=1e-6)


def test_rigid_inverse_of_one_frame_and_of_a_stack_is_the_inverse() -> None:
    xs, ys = np.array([385000.0, 390000.0, 250000.0]), np.array([6672000.0, 6680000.0, 7000000.0])
    mats = np.stack([f.matrix for f in Frame.many(3067, xs, ys)])
    stacked = rigid_inverse(mats)
    for m, inv in zip(mats, stacked, strict=True):
        assert np.allclose(inv, np.linalg.inv(m), atol=1e-9)
        assert np.array_equal(rigid_inverse(m), inv)  # one alone: the same numbers


def test_boxes_and_corners_of_many_boxes() -> None:
    lo = np.array([[0.0, 1.0, 2.0], [-5.0, -5.0, 0.0]])
    hi = np.array([[2.0, 5.0, 2.0], [5.0, 5.0, 10.0]])
    c = corners(lo, hi)
    assert c.shape == (2, 8, 3)
    for i in range(2):  # every combination of lo and hi, each once
        got = {tuple(p) for p in c[i].tolist()}
        want = {
            (x, y, z)
            for x in (lo[i, 0], hi[i, 0])
            for y in (lo[i, 1], hi[i, 1])
            for z in (lo[i, 2], hi[i, 2])
        }
        assert got == want
    flat, tall = boxes(lo, hi)
    # centre, then the half axes; a flat box keeps a usable thickness
    assert flat == [1.0, 3.0, 2.0, 1.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, MIN_HALF]
    assert tall == [0.0, 0.0, 5.0, 5.0, 0.0, 0.0, 0.0, 5.0, 0.0, 0.0, 0.0, 5.0]


def test_root_node_matrix_undoes_the_viewers_y_up_rotation() -> None:
    m = np.array(Z_UP_TO_Y_UP).reshape(4, 4).T
    v = np.array([1.0, 2.0, 3.0, 1.0])
    assert np.allclose(m @ v, [1.0, 3.0, -2.0, 1.0])  # z-up -> y-up
    assert np.allclose(Y_UP_TO_Z_UP @ m, np.eye(4))


def test_quadtree_keys_round_trip_and_have_parents() -> None:
    k = int(encode(5, 17, 9))
    assert decode(k) == (5, 17, 9)
    assert decode(parent(k)) == (4, 8, 4)
    assert parent(int(encode(0, 0, 0))) is None


def test_quadtree_puts_the_largest_first_within_budgets() -> None:
    rng = np.random.default_rng(1)
    n = 20_000
    x, y = rng.uniform(0, 5000, n), rng.uniform(0, 5000, n)
    size = np.sort(rng.pareto(2.0, n) * 10 + 5)[::-1]
    nbytes = np.full(n, 1000)
    tree = Quadtree.around(
        0,
        0,
        5000,
        5000,
        float(nbytes.sum()),
        TreeParams(max_tile_bytes=100_000, max_tile_features=100),
    )
    keys = np.concatenate(
        [
            tree.assign(x[i : i + 5000], y[i : i + 5000], nbytes[i : i + 5000], size[i : i + 5000])
            for i in range(0, n, 5000)
        ]
    )
    assert (keys >= 0).all()
    levels = np.array([decode(k)[0] for k in keys])
    root = keys == keys[0]
    assert levels[0] == 0 and root.sum() * 1000 <= tree.byte_budget(0)
    # the root holds the largest features, and level 0 + 1 stay within the first-view share
    assert size[root].min() >= size[~root].max()
    first_view = nbytes[levels <= 1].sum() / nbytes.sum()
    assert first_view <= TreeParams().first_view_fraction + 1e-9
    for k, count in zip(*np.unique(keys, return_counts=True), strict=True):
        assert count <= 100 or decode(int(k))[0] == tree.depth
        assert parent(int(k)) is None or parent(int(k)) in tree.nodes
    errors = tree.geometric_errors()
    for k in tree.nodes:
        p = parent(k)
        if p is not None:
            assert errors[k] <= errors[p]


def test_root_square_is_snapped_so_small_edits_keep_every_tile_key() -> None:
    a = Quadtree.around(385003.0, 6672011.0, 386950.0, 6673900.0, 1.0)
    b = Quadtree.around(385000.0, 6672000.0, 386990.0, 6673990.0, 1.0)
    assert (a.x0, a.y0, a.side) == (b.x0, b.y0, b.side)
    assert a.x0 <= 385000 and a.x0 + a.side >= 386990


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    "extent",
    [
        (-10.0, 5.0, 10.0, 20.0),  # crosses x = 0 (hung forever before)
        (5.0, -10.0, 20.0, 10.0),  # crosses y = 0
        (-300.0, -0.5, 0.0, 400.0),  # both, touching 0 on one side
        (-0.25, -0.25, 0.0, 0.0),
        (-7e8, -1.0, 9e8, 3e8),  # far out, still inside MAX_COORDINATE
    ],
)
def test_root_square_of_an_extent_crossing_zero_holds_it(
    extent: tuple[float, float, float, float],
) -> None:
    xmin, ymin, xmax, ymax = extent
    t = Quadtree.around(*extent, 1.0)
    assert t.holds(xmin, ymin) and t.holds(xmax, ymax)
    # no larger than needed by more than the snapping: at most 4x the extent's side
    assert t.side <= 4 * max(xmax - xmin, ymax - ymin, 1.0)


def test_root_square_of_extents_not_crossing_zero_is_as_before() -> None:
    """Tile keys are the cells of this square: an existing tileset must keep them, or its
    next incremental build would rewrite every tile."""
    seen = {
        (385000.0, 6672000.0, 386000.0, 6673000.0): (376832.0, 6668288.0, 16384.0),
        (-500.0, -300.0, -20.0, -1.0): (-512.0, -512.0, 512.0),
        (0.0, 0.0, 1000.0, 10.0): (0.0, 0.0, 1024.0),
        (-3e6, -2e6, -1e6, -1.5e6): (-4194304.0, -4194304.0, 4194304.0),
        (100.5, 0.0, 5000.0, 3.0): (0.0, 0.0, 8192.0),
    }
    for extent, square in seen.items():
        t = Quadtree.around(*extent, 1.0)
        assert (t.x0, t.y0, t.side) == square, extent


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("extent", "says"),
    [
        ((0.0, 0.0, 1e300, 1.0), "beyond 1e+09 m"),
        ((-1e300, -1e300, 0.0, 0.0), "beyond 1e+09 m"),
        ((0.0, 0.0, float("inf"), 1.0), "not finite"),
        ((float("nan"), 0.0, 1.0, 1.0), "not finite"),
        ((5.0, 0.0, 1.0, 1.0), "inverted"),
    ],
)
def test_root_square_of_an_absurd_extent_is_a_clear_error(
    extent: tuple[float, float, float, float], says: str
) -> None:
    with pytest.raises(InputError, match=re.escape(says)):
        Quadtree.around(*extent, 1.0)


def test_glb_reads_back_with_pygltflib_and_metadata_round_trips() -> None:
    frame = Frame.at(3067, 385000, 6672000)
    geoms = [
        shapely.to_wkb(
            shapely.MultiPolygon([shapely.box(385000 + 20 * i, 6672000, 385010 + 20 * i, 6672008)])
        )
        for i in range(3)
    ]
    mesh = extrude(frame, geoms, np.zeros(3), np.array([5.0, 6.0, 7.0]), np.arange(3))
    gb = GltfBuilder()
    mat = gb.material("m", (0.5, 0.5, 0.5, 1.0))
    cols = {
        "id": [10, 11, 12],
        "layer": ["buildings"] * 3,
        "height": [5.0, 6.0, 7.0],
        "base_z": [0.0] * 3,
        "levels": [None, 2, 3],
        "usage": ["école", None, "office"],
        "roof_type": [None] * 3,
        "year_built": [1900, None, 2001],
        "name": ["", "a", "b"],
        "source_id": ["x", "y", "z"],
        "scenario_id": [None] * 3,
        "replaces_id": [None] * 3,
    }
    table = metadata.property_table(gb, "building", cols, 3)
    prim = mesh.primitive(gb, mat, 3, 0)
    gb.z_up_root([gb.node({"mesh": gb.mesh([prim])})])
    metadata.attach(gb, [table], ["building"])
    data = gb.glb()

    g = pygltflib.GLTF2.load_from_bytes(data)
    assert g.asset.version == "2.0"
    assert g.nodes[g.scenes[0].nodes[0]].matrix == Z_UP_TO_Y_UP
    p = g.meshes[0].primitives[0]
    assert g.accessors[p.attributes.POSITION].count == mesh.vertex_count
    assert "KHR_mesh_quantization" in g.extensionsRequired
    meta = g.extensions["EXT_structural_metadata"]
    assert meta["schema"]["id"] == "twin"
    back = metadata.read_property_table(*_split(data), 0)
    assert back["id"] == [10, 11, 12]
    assert back["levels"] == [-1, 2, 3] and back["year_built"] == [1900, -1, 2001]
    assert back["usage"] == ["école", "", "office"] and back["name"] == ["", "a", "b"]
    assert back["height"] == [5.0, 6.0, 7.0]


def _split(data: bytes) -> tuple[dict, bytes]:
    from tiles.gltf import read_glb

    return read_glb(data)


def test_more_than_65535_features_switch_feature_ids_to_float() -> None:
    ids = np.arange(70_000, dtype=np.uint32)
    assert metadata.feature_ids(70_000, ids).dtype == np.float32
    assert metadata.feature_ids(100, ids[:100]).dtype == np.uint16


@pytest.mark.parametrize("exterior_cw", [False, True])
def test_extrusion_faces_outwards_whatever_the_ring_orientation(exterior_cw: bool) -> None:
    import trimesh

    frame = Frame.at(3067, 385000, 6672000)
    shell = [
        (385000, 6672000),
        (385020, 6672000),
        (385020, 6672012),
        (385008, 6672012),
        (385008, 6672020),
        (385000, 6672020),
    ]  # an L
    hole = [(385002, 6672002), (385006, 6672002), (385006, 6672006), (385002, 6672006)]
    poly = shapely.orient_polygons(shapely.Polygon(shell, [hole]), exterior_cw=exterior_cw)
    mesh = extrude(
        frame,
        [shapely.to_wkb(shapely.MultiPolygon([poly]))],
        np.array([3.0]),
        np.array([10.0]),
        np.array([0]),
    )
    tm = trimesh.Trimesh(mesh.positions - mesh.positions.mean(axis=0), mesh.triangles)
    assert tm.is_watertight and tm.is_winding_consistent
    assert tm.volume == pytest.approx(poly.area * 10.0, rel=2e-3)
    # stored normals agree with the triangles' winding
    face_n = tm.face_normals
    vert_n = mesh.normals[mesh.triangles[:, 0]]
    assert (np.einsum("ij,ij->i", face_n, vert_n) > 0.99).all()
