"""Direct-sun hours: at each time step the sun is up, is each point lit?

A point is lit at a step when the sun is in front of its surface (dot(sun, normal) > 0; a
point without a normal takes the sun from any direction above the horizon) and nothing lies
between it and the sun (one Embree occlusion ray). Only steps with the sun's apparent
elevation above 0 are looked at: night is never counted as shade, and a point's sun hours
are its lit steps times the step. Each step stands for the ``step`` minutes around its
instant (midpoint rule), so a day's steps are 00:05, 00:15, ... at 10 minutes.

``min_continuous`` drops sunny spells shorter than that many minutes (a point lit for 20
minutes between two shadows does not count as a sunny spot in a rule asking for an hour).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

from twin.analysis.base import Progress
from twin.analysis.rays import RayCaster
from twin.analysis.sun import sun_angles
from twin.analysis.sunlight import sun_vectors

#: rays per occlusion call: a day of 10-minute steps on 10,000 points is one or two calls
RAYS_PER_CALL = 1 << 21


def step_times(start: datetime, end: datetime, step_minutes: float) -> list[datetime]:
    """The middle of each ``step_minutes`` interval from ``start`` up to ``end``."""
    step = timedelta(minutes=step_minutes)
    n = int((end - start) / step)
    return [start + step * (i + 0.5) for i in range(n)]


def sun_steps(times: list[datetime], lat: float, lon: float) -> dict[str, NDArray[Any]]:
    """Of ``times``: which steps the sun is up at (apparent elevation > 0), their true
    azimuths and elevations, unit vectors to the sun in a scene's ENU frame, and whether
    each up step directly follows the previous one (a night in between ends a spell)."""
    if not times:
        empty = np.zeros(0)
        none = np.zeros(0, bool)
        return {"up": none, "index": np.zeros(0, np.int64), "azimuth": empty,
                "elevation": empty, "dirs": np.zeros((0, 3)), "follows": none}  # fmt: skip
    angles = sun_angles(times, lat, lon)
    elevation = angles["apparent_elevation"]
    up = elevation > 0
    index = np.flatnonzero(up)
    follows = np.concatenate([[False], np.diff(index) == 1]) if len(index) else np.zeros(0, bool)
    return {
        "up": up,
        "index": index,
        "azimuth": angles["azimuth"][up],
        "elevation": elevation[up],
        "dirs": sun_vectors(angles["azimuth"][up], elevation[up]),
        "follows": follows,
    }


def facing(normals: NDArray[np.float64], dirs: NDArray[np.float64]) -> NDArray[np.bool_]:
    """(P, T): is the sun in front of each point's surface at each step (no normal: yes)."""
    free = ~normals.any(axis=1)
    out: NDArray[np.bool_] = (normals @ dirs.T > 0) | free[:, None]
    return out


def sunlit(
    rays: RayCaster,
    origins: NDArray[np.float64],
    normals: NDArray[np.float64],
    dirs: NDArray[np.float64],
    progress: Progress | None = None,
    share: tuple[float, float] = (0.0, 1.0),
) -> NDArray[np.bool_]:
    """(P, T) lit: facing the sun and unoccluded. One occlusion ray per facing point per
    step; steps go to Embree in batches of about :data:`RAYS_PER_CALL` rays."""
    n_points, n_steps = len(origins), len(dirs)
    lit = facing(normals, dirs)
    if n_points == 0 or n_steps == 0:
        return lit
    per_call = max(1, RAYS_PER_CALL // n_points)
    o32 = np.ascontiguousarray(origins, dtype=np.float32)
    d32 = np.ascontiguousarray(dirs, dtype=np.float32)
    for first in range(0, n_steps, per_call):
        last = min(n_steps, first + per_call)
        block = lit[:, first:last]
        if block.all():  # every point faces the sun (a ground grid): no gathering
            k = last - first
            blocked = rays.occluded(np.tile(o32, (k, 1)), np.repeat(d32[first:last], n_points, 0))
            lit[:, first:last] = ~blocked.reshape(k, n_points).T
        else:
            p_idx, t_idx = np.nonzero(block.T)[::-1]  # step-major: rays of a step together
            if len(p_idx):
                hit = rays.occluded(o32[p_idx], d32[first + t_idx])
                block[p_idx[hit], t_idx[hit]] = False
        if progress is not None:
            a, b = share
            progress(a + (b - a) * last / n_steps, f"sun rays, step {last} of {n_steps}")
    return lit


def drop_short_spells(
    lit: NDArray[np.bool_], follows: NDArray[np.bool_], min_steps: int
) -> NDArray[np.bool_]:
    """``lit`` without the sunny spells of fewer than ``min_steps`` consecutive steps (a
    step that does not follow the previous one, across a night, starts a new spell)."""
    if min_steps <= 1 or lit.size == 0:
        return lit
    out = lit.copy()
    n_points, n_steps = lit.shape
    run = np.zeros(n_points, np.int64)
    for t in range(n_steps + 1):
        now = lit[:, t] if t < n_steps else np.zeros(n_points, bool)
        cont = t < n_steps and bool(follows[t])
        ending = (run > 0) & (~now | (not cont))
        for p in np.flatnonzero(ending & (run < min_steps)).tolist():
            out[p, t - run[p] : t] = False
        run = np.where(ending, 0, run)
        run = np.where(now, run + 1, run)
    return out
