"""The one rule of a dig conflict: a network's uncertainty band meets the dig.

A segment or node is located within its class's band (DT-DICT): class A within 0.40 m for a
rigid network and 0.50 m for a flexible one (an unknown material counts as flexible, the
wider band: the stricter), class B within 1.5 m, class C within the configured radius
(``TWIN_DIG_CLASS_C_RADIUS``, ``--class-c-radius``). The band applies in plan and in depth:
the dig is the polygon from the ground down to ``depth``; the network's horizontal gap is
from its outer wall (centreline distance minus the radius) to the polygon, its vertical gap
from its top (the cover depth) to the dig's bottom (0 when it lies higher). It conflicts
when both gaps are within the band; ``distance_m`` is the straight (3D) gap,
``√(horizontal² + vertical²)``.

Sensitive networks (gas, district heating, electricity, lighting) located in class B or C
need complementary investigations (locating them on site) before work starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from geodata.vocab import SENSITIVE_NETWORKS, material_rigidity

CLASS_A_RIGID_M = 0.40
CLASS_A_FLEXIBLE_M = 0.50
CLASS_B_M = 1.5


def band_m(location_class: str, material: str | None, class_c_radius: float) -> float:
    """The uncertainty band (m) of a network of this class and material."""
    if location_class == "A":
        return CLASS_A_RIGID_M if material_rigidity(material) == "rigid" else CLASS_A_FLEXIBLE_M
    if location_class == "B":
        return CLASS_B_M
    return class_c_radius


@dataclass(frozen=True)
class Gap:
    horizontal_m: float
    vertical_m: float
    band_m: float

    @property
    def distance_m(self) -> float:
        return math.hypot(self.horizontal_m, self.vertical_m)

    @property
    def conflicts(self) -> bool:
        return self.horizontal_m <= self.band_m + 1e-9 and self.vertical_m <= self.band_m + 1e-9


def gap(
    centre_distance_m: float,
    diameter_mm: float | None,
    cover_depth_m: float,
    dig_depth_m: float,
    band: float,
) -> Gap:
    """The gaps between one network element and the dig (see the module's rule)."""
    radius = (diameter_mm or 0.0) / 2000.0
    return Gap(max(0.0, centre_distance_m - radius), max(0.0, cover_depth_m - dig_depth_m), band)


def needs_investigation(network: str, location_class: str) -> bool:
    return network in SENSITIVE_NETWORKS and location_class in ("B", "C")
