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
    """(P, T) lit: facing the sun and unoccluded, one occlusion ray per facing point per
    step (:meth:`~twin.analysis.rays.RayCaster.sunlit`: in its worker processes, the rays
    are made where they are cast)."""
    n_steps = len(dirs)
    if len(origins) == 0 or n_steps == 0:
        return facing(normals, dirs)

    def told(done: int) -> None:
        if progress is not None:
            a, b = share
            progress(a + (b - a) * done / n_steps, f"sun rays, step {done} of {n_steps}")

    return rays.sunlit(origins, normals, dirs, told)


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
