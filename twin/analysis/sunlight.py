"""What the shadows and the sun hours share: where the sun's light comes from, as a vector
of the scenes' east-north-up frame or of the working CRS, and who may see a scenario.

The sun's azimuth from SPA is a TRUE azimuth. The scenes' frame has its y axis on true north
(:mod:`twin.analysis.scene`), so a true azimuth goes in as it is; in the working CRS it is
turned by the meridian convergence first (grid azimuth = true azimuth − γ,
:mod:`twin.analysis.place`). The apparent (refracted) elevation is the one shadows follow.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Engine, text

from geodata.access import strictest
from geodata.layers import get_layer
from twin.analysis.scene import ScenarioRef, find_scenario


def sun_vectors(azimuth_deg: Any, elevation_deg: Any) -> NDArray[np.float64]:
    """(n, 3) unit vectors towards the sun: x east, y north, z up, for azimuths clockwise
    from the y axis (true north in a scene's frame; grid north with grid azimuths)."""
    az = np.radians(np.atleast_1d(np.asarray(azimuth_deg, np.float64)))
    el = np.radians(np.atleast_1d(np.asarray(elevation_deg, np.float64)))
    return np.stack([np.sin(az) * np.cos(el), np.cos(az) * np.cos(el), np.sin(el)], axis=1)


def scenario_ref(engine: Engine, slug: str | None) -> ScenarioRef | None:
    """The scenario of ``slug`` (None: the baseline); NotFound lists the known slugs."""
    return None if slug is None else find_scenario(engine, slug)


def scenario_visibility(engine: Engine, slug: str | None) -> str:
    """The strictest of the buildings layer and, with a scenario, its project's visibility:
    a result computed from a restricted project's buildings is as restricted as they are."""
    layer = get_layer("buildings").visibility
    if slug is None:
        return layer
    with engine.connect() as conn:
        project = conn.execute(
            text(
                "SELECT p.visibility FROM scenarios s LEFT JOIN projects p ON p.id = s.project_id "
                "WHERE s.slug = :s"
            ),
            {"s": slug},
        ).first()
    if project is None:  # unknown: run() says so, listing the known slugs
        return layer
    return strictest(layer, project[0] or "public")
