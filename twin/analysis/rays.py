"""Rays cast at a :class:`~twin.analysis.scene.Scene` with Embree, through embreex called
directly (trimesh's wrappers reach only 20–50% of it), in several processes: embreex holds
the GIL, so threads would gain nothing.

The worker processes are started once (spawn: safe beside the app's threads) and kept. A
scene reaches them as a memory-mapped file of its triangles, named by its key, which each
worker loads once and keeps; rays and answers travel the same way (a file in RAM-backed
``/dev/shm`` where there is one), so a million rays cost no pickling.
"""

from __future__ import annotations

import atexit
import itertools
import multiprocessing as mp
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from twin.analysis.scene import Scene

#: below this many rays, the calling process casts them itself (a pool round trip costs more)
IN_PROCESS_BELOW = 65_536
_pool: Pool | None = None
_pool_size = 0
_pool_lock = threading.Lock()


def _scratch_root() -> Path:
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())


def _embree(soup: NDArray[np.float32]) -> Any:
    from embreex import rtcore_scene as rtcs
    from embreex.mesh_construction import TriangleMesh

    scene = rtcs.EmbreeScene()
    TriangleMesh(scene, soup)
    return scene


def _cast(
    embree: Any,
    origins: NDArray[np.float32],
    dirs: NDArray[np.float32],
    tmax: NDArray[np.float32] | None,
    occluded: bool,
) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
    """Answers of one batch: the triangle hit (-1: none) and its distance (inf: none);
    for occlusion, the first array is 1 where blocked."""
    kw: dict[str, Any] = {} if tmax is None else {"dists": tmax}
    if occluded:
        hit = embree.run(origins, dirs, query="OCCLUDED", **kw)
        return (np.asarray(hit) >= 0).astype(np.int32), np.zeros(0, np.float32)
    out = embree.run(origins, dirs, output=1, **kw)
    prim = np.asarray(out["primID"], dtype=np.int32)
    t = np.where(prim >= 0, np.asarray(out["tfar"], np.float32), np.float32(np.inf))
    return prim, t.astype(np.float32)


# -- worker side ----------------------------------------------------------------------------
_scenes: OrderedDict[str, Any] = OrderedDict()


def _worker_scene(key: str, path: str) -> Any:
    if key not in _scenes:
        _scenes[key] = _embree(np.load(path, mmap_mode="r").copy())
        while len(_scenes) > 2:
            _scenes.popitem(last=False)
    _scenes.move_to_end(key)
    return _scenes[key]


def _work(task: tuple[str, str, str, int, int, int, bool, bool]) -> None:
    key, scene_path, rays_path, n, start, stop, occluded, has_tmax = task
    rays = np.memmap(rays_path, mode="r+", dtype=np.float32, shape=(n, 9))
    o = np.ascontiguousarray(rays[start:stop, 0:3])
    d = np.ascontiguousarray(rays[start:stop, 3:6])
    tmax = np.ascontiguousarray(rays[start:stop, 6]) if has_tmax else None
    prim, t = _cast(_worker_scene(key, scene_path), o, d, tmax, occluded)
    rays[start:stop, 7] = prim.astype(np.float32)
    if not occluded:
        rays[start:stop, 8] = t
    rays.flush()


def _work_panorama(task: tuple[str, str, str, int, float, tuple[float, ...], int, int]) -> None:
    """A band of rows of an equirectangular panorama: its rays made here, not shipped."""
    from twin.analysis.panorama import directions

    key, scene_path, out_path, width, heading, origin, start, stop = task
    d = directions(width, heading, (start, stop))
    o = np.empty_like(d)
    o[:] = np.asarray(origin, np.float32)
    prim, t = _cast(_worker_scene(key, scene_path), o, d, None, False)
    out = np.memmap(out_path, mode="r+", dtype=np.int32, shape=(width * (width // 2), 2))
    out[start * width : stop * width, 0] = prim
    out[start * width : stop * width, 1] = t.view(np.int32)
    out.flush()


def sun_block(
    embree: Any,
    origins: NDArray[np.float32],
    normals: NDArray[np.float64],
    dirs: NDArray[np.float64],
) -> NDArray[np.bool_]:
    """(T, P) lit of the steps ``dirs``: the sun in front of each point's surface (a point
    without a normal takes it from anywhere above) and one occlusion ray each, per step."""
    free = ~normals.any(axis=1)
    lit = np.zeros((len(dirs), len(origins)), bool)
    for t, d in enumerate(dirs):
        idx = np.flatnonzero((normals @ d > 0) | free)
        if len(idx) == 0:
            continue
        o = origins if len(idx) == len(origins) else np.ascontiguousarray(origins[idx])
        rays = np.ascontiguousarray(np.broadcast_to(d.astype(np.float32), o.shape))
        blocked, _ = _cast(embree, o, rays, None, True)
        lit[t, idx] = blocked == 0
    return lit


def _work_sun(task: tuple[str, str, str, str, int, int, int, int]) -> int:
    """Steps ``start:stop`` of a sun-hours block: rays made here from the points and the sun's
    directions (shared once), only the lit flags written back."""
    key, scene_path, inputs_path, out_path, n_points, n_steps, start, stop = task
    inputs = np.memmap(inputs_path, mode="r", dtype=np.float64, shape=(2 * n_points + n_steps, 3))
    origins = np.ascontiguousarray(inputs[:n_points], dtype=np.float32)
    normals = np.asarray(inputs[n_points : 2 * n_points])
    dirs = np.asarray(inputs[2 * n_points + start : 2 * n_points + stop])
    lit = sun_block(_worker_scene(key, scene_path), origins, normals, dirs)
    out = np.memmap(out_path, mode="r+", dtype=np.bool_, shape=(n_steps, n_points))
    out[start:stop] = lit
    out.flush()
    return stop - start


# -- caller side ----------------------------------------------------------------------------
def _get_pool(processes: int) -> Pool:
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size != processes:
            if _pool is not None:
                _pool.terminate()
            _pool = mp.get_context("spawn").Pool(processes)
            _pool_size = processes
        return _pool


@atexit.register
def _close_pool() -> None:
    global _pool
    if _pool is not None:
        _pool.terminate()
        _pool = None


def processes_for(setting: int) -> int:
    """TWIN_ANALYSIS_PROCESSES, 0 meaning one per core."""
    return setting if setting > 0 else max(1, os.cpu_count() or 1)


class RayCaster:
    """Casts batches of rays at one scene. ``processes`` 1 casts in the calling process."""

    def __init__(self, scene: Scene, processes: int = 1) -> None:
        self.scene = scene
        self.processes = max(1, processes)
        self._key = scene.key
        self._embree: Any = None
        self._dir: Path | None = None
        self._scene_path: str | None = None

    def _local(self) -> Any:
        if self._embree is None:
            self._embree = _embree(self.scene.soup())
        return self._embree

    def _shared_scene(self) -> str:
        if self._scene_path is None:
            self._dir = Path(tempfile.mkdtemp(prefix="twin-rays-", dir=_scratch_root()))
            path = self._dir / f"{self._key}.npy"
            np.save(path, self.scene.soup())
            self._scene_path = str(path)
        return self._scene_path

    def _run(
        self,
        origins: NDArray[Any],
        dirs: NDArray[Any],
        tmax: NDArray[Any] | None,
        occluded: bool,
    ) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
        o = np.ascontiguousarray(origins, dtype=np.float32).reshape(-1, 3)
        d = np.ascontiguousarray(dirs, dtype=np.float32).reshape(-1, 3)
        if d.shape[0] == 1 and o.shape[0] > 1:
            d = np.ascontiguousarray(np.broadcast_to(d, o.shape))
        if o.shape[0] == 1 and d.shape[0] > 1:
            o = np.ascontiguousarray(np.broadcast_to(o, d.shape))
        n = o.shape[0]
        # a copy: Embree writes the hit distance into it (a broadcast view is read-only)
        tm = None if tmax is None else np.array(np.broadcast_to(tmax, (n,)), np.float32)
        if self.processes == 1 or n < IN_PROCESS_BELOW:
            return _cast(self._local(), o, d, tm, occluded)
        scene_path = self._shared_scene()
        assert self._dir is not None
        rays_path = self._dir / f"rays-{threading.get_ident()}.f32"
        rays = np.memmap(rays_path, mode="w+", dtype=np.float32, shape=(n, 9))
        rays[:, 0:3], rays[:, 3:6] = o, d
        if tm is not None:
            rays[:, 6] = tm
        rays.flush()
        chunks = np.linspace(0, n, self.processes * 4 + 1).astype(int)
        tasks = [
            (self._key, scene_path, str(rays_path), n, int(a), int(b), occluded, tm is not None)
            for a, b in itertools.pairwise(chunks)
            if b > a
        ]
        try:
            _get_pool(self.processes).map(_work, tasks, chunksize=1)
            prim = np.asarray(rays[:, 7]).astype(np.int32)
            t = np.zeros(0, np.float32) if occluded else np.array(rays[:, 8], dtype=np.float32)
        finally:
            del rays
            rays_path.unlink(missing_ok=True)
        return prim, t

    def intersect(
        self, origins: NDArray[Any], dirs: NDArray[Any], tmax: NDArray[Any] | None = None
    ) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
        """The first triangle each ray hits (-1: none, the sky) and the distance to it."""
        return self._run(origins, dirs, tmax, occluded=False)

    def occluded(
        self, origins: NDArray[Any], dirs: NDArray[Any], tmax: NDArray[Any] | None = None
    ) -> NDArray[np.bool_]:
        """Whether something lies on each ray (before ``tmax``): Embree's cheaper query."""
        return self._run(origins, dirs, tmax, occluded=True)[0].astype(bool)

    def panorama(
        self, origin: NDArray[Any], width: int, heading: float
    ) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
        """:meth:`intersect` of an equirectangular panorama's rays from ``origin``
        (:func:`twin.analysis.panorama.directions`), row by row from the top. In the worker
        processes each band's rays are made where they are cast: only the answers travel."""
        from twin.analysis.panorama import directions

        height = width // 2
        o = np.asarray(origin, np.float32).reshape(3)
        if self.processes == 1 or width * height < IN_PROCESS_BELOW:
            d = directions(width, heading)
            return _cast(self._local(), np.ascontiguousarray(np.broadcast_to(o, d.shape)), d,
                         None, False)  # fmt: skip
        scene_path = self._shared_scene()
        assert self._dir is not None
        out_path = self._dir / f"panorama-{threading.get_ident()}.i32"
        out = np.memmap(out_path, mode="w+", dtype=np.int32, shape=(width * height, 2))
        bands = np.linspace(0, height, self.processes * 4 + 1).astype(int)
        origin_t = tuple(float(v) for v in o)
        tasks = [
            (self._key, scene_path, str(out_path), width, float(heading), origin_t, int(a), int(b))
            for a, b in itertools.pairwise(bands)
            if b > a
        ]
        try:
            _get_pool(self.processes).map(_work_panorama, tasks, chunksize=1)
            prim = np.array(out[:, 0], dtype=np.int32)
            t = np.array(out[:, 1], dtype=np.int32).view(np.float32)
        finally:
            del out
            out_path.unlink(missing_ok=True)
        return prim, t

    def sunlit(
        self,
        origins: NDArray[Any],
        normals: NDArray[Any],
        dirs: NDArray[Any],
        progress: Any = None,
    ) -> NDArray[np.bool_]:
        """(P, T) lit: :func:`sun_block` over every step. In the worker processes each takes
        a range of steps and makes its rays itself from the points and directions, shared
        once: only a flag per ray comes back (9 floats a ray went out before).
        ``progress(done_steps)`` is told as ranges finish."""
        o = np.ascontiguousarray(origins, dtype=np.float32).reshape(-1, 3)
        nrm = np.asarray(normals, dtype=np.float64).reshape(-1, 3)
        d = np.asarray(dirs, dtype=np.float64).reshape(-1, 3)
        n_points, n_steps = len(o), len(d)
        if self.processes == 1 or n_points * n_steps < IN_PROCESS_BELOW:
            lit = np.zeros((n_steps, n_points), bool)
            chunk = max(1, n_steps // 8)
            for a in range(0, n_steps, chunk):
                lit[a : a + chunk] = sun_block(self._local(), o, nrm, d[a : a + chunk])
                if progress is not None:
                    progress(min(n_steps, a + chunk))
            return lit.T
        scene_path = self._shared_scene()
        assert self._dir is not None
        tag = threading.get_ident()
        inputs_path = self._dir / f"sun-in-{tag}.f64"
        out_path = self._dir / f"sun-out-{tag}.u8"
        inputs = np.memmap(
            inputs_path, mode="w+", dtype=np.float64, shape=(2 * n_points + n_steps, 3)
        )
        inputs[:n_points], inputs[n_points : 2 * n_points], inputs[2 * n_points :] = o, nrm, d
        inputs.flush()
        out = np.memmap(out_path, mode="w+", dtype=np.bool_, shape=(n_steps, n_points))
        bounds = np.linspace(0, n_steps, self.processes * 4 + 1).astype(int)
        tasks = [
            (self._key, scene_path, str(inputs_path), str(out_path), n_points, n_steps, int(a),
             int(b))
            for a, b in itertools.pairwise(bounds)
            if b > a
        ]  # fmt: skip
        try:
            done = 0
            for k in _get_pool(self.processes).imap_unordered(_work_sun, tasks):
                done += k
                if progress is not None:
                    progress(done)
            lit = np.array(out, dtype=bool).T
        finally:
            del inputs, out
            inputs_path.unlink(missing_ok=True)
            out_path.unlink(missing_ok=True)
        return lit

    def close(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
            self._scene_path = None

    def __enter__(self) -> RayCaster:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
