"""Who walks, and what stops them: the walking profiles, as data, and the cost they give
each edge of a :class:`geodata.walk_network.WalkNetwork`.

One table (:data:`PROFILES`) holds every profile; a request may tighten or loosen a limit
(``--max-incline``, ``--min-width``, ``--max-kerb``) as OpenRouteService's wheelchair profile
allows, through :meth:`Profile.with_limits`. The wheelchair defaults are the French
accessibility rule for public ways (arrêté du 15 janvier 2007, décret 2006-1658): slope at
most 5 %, kerb upstand at most 2 cm, clear width at least 1.40 m, no steps.

A property a profile limits but the data does not say (no ``width``, no ``incline`` and no
terrain, a crossing without ``kerb``, an unknown ``surface``) is *unknown*: allowed, avoided
(its cost multiplied by ``avoid_factor``) or forbidden as the profile says, and always
reported with the route. ``wheelchair=yes`` on a way vouches for its unknowns;
``wheelchair=no`` forbids it to the wheelchair, ``limited`` makes it avoided.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from geodata.walk_network import WalkNetwork

Treatment = Literal["allow", "avoid", "forbid"]
TREATMENTS: tuple[Treatment, ...] = ("allow", "avoid", "forbid")
#: the properties a profile may find unknown, in the order reports give them
UNKNOWN_PROPERTIES = ("incline", "width", "kerb", "surface")


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    #: walking or rolling speed (m/s): duration = length / speed
    speed_m_s: float
    steps: bool = True
    max_incline_pct: float | None = None
    max_kerb_m: float | None = None
    min_width_m: float | None = None
    #: rough surfaces (gravel, cobblestones, grass...)
    rough_surface: Treatment = "allow"
    #: ways whose limited properties the data does not give
    unknown: Treatment = "allow"
    #: an avoided way costs its length times this
    avoid_factor: float = 2.0
    #: read ``wheelchair=*`` on ways
    wheelchair_tags: bool = False

    def with_limits(
        self,
        *,
        max_incline_pct: float | None = None,
        min_width_m: float | None = None,
        max_kerb_m: float | None = None,
        unknown: Treatment | None = None,
    ) -> Profile:
        """This profile with the limits given (None keeps the profile's own)."""
        changes: dict[str, object] = {}
        if max_incline_pct is not None:
            changes["max_incline_pct"] = max_incline_pct
        if min_width_m is not None:
            changes["min_width_m"] = min_width_m
        if max_kerb_m is not None:
            changes["max_kerb_m"] = max_kerb_m
        if unknown is not None:
            changes["unknown"] = unknown
        return replace(self, **changes)  # type: ignore[arg-type]

    def limits(self) -> dict[str, object]:
        """What the profile applies, for the result document."""
        return {
            "speed_m_s": self.speed_m_s,
            "steps": "allowed" if self.steps else "forbidden",
            "max_incline_percent": self.max_incline_pct,
            "max_kerb_m": self.max_kerb_m,
            "min_width_m": self.min_width_m,
            "rough_surface": self.rough_surface,
            "unknown": self.unknown,
            "avoid_factor": self.avoid_factor,
        }


PROFILES: dict[str, Profile] = {
    "foot": Profile("foot", "on foot (steps allowed)", speed_m_s=5.0 / 3.6),
    "wheelchair": Profile(
        "wheelchair",
        "wheelchair (French rule of 15 January 2007)",
        speed_m_s=3.6 / 3.6,
        steps=False,
        max_incline_pct=5.0,
        max_kerb_m=0.02,
        min_width_m=1.40,
        rough_surface="forbid",
        unknown="avoid",
        wheelchair_tags=True,
    ),
}


@dataclass
class Judgement:
    """Per edge: its cost (inf when forbidden), what forbids it and what is unknown."""

    cost: NDArray[np.float64]
    #: (name, mask): why edges are forbidden: steps, incline, kerb, width, surface, ...
    blocked: dict[str, NDArray[np.bool_]]
    unknown: dict[str, NDArray[np.bool_]]
    avoided: NDArray[np.bool_]

    def forbidden(self) -> NDArray[np.bool_]:
        return np.isinf(self.cost)


def judge(net: WalkNetwork, profile: Profile) -> Judgement:
    """Every edge's cost under ``profile``, vectorised (no loop over edges)."""
    n = len(net)
    blocked: dict[str, NDArray[np.bool_]] = {"not walkable": net.not_walkable.copy()}
    unknown: dict[str, NDArray[np.bool_]] = {}
    none = np.zeros(n, dtype=bool)
    if not profile.steps:
        blocked["steps"] = net.steps.copy()
    slope_limited = profile.max_incline_pct is not None
    if profile.max_incline_pct is not None:
        with np.errstate(invalid="ignore"):
            blocked["incline"] = net.incline_pct > profile.max_incline_pct
        unknown["incline"] = np.isnan(net.incline_pct) & ~net.steps
    if profile.min_width_m is not None:
        with np.errstate(invalid="ignore"):
            blocked["width"] = net.width_m < profile.min_width_m
        unknown["width"] = np.isnan(net.width_m)
    if profile.max_kerb_m is not None:
        with np.errstate(invalid="ignore"):
            blocked["kerb"] = net.kerb_m > profile.max_kerb_m + 1e-9
        unknown["kerb"] = net.kerb_unknown > 0
    rough = net.surface_class == 2
    if profile.rough_surface == "forbid":
        blocked["surface"] = rough
    if profile.rough_surface != "allow":
        unknown["surface"] = net.surface_class == 0
    vouched = (net.wheelchair == 1) if profile.wheelchair_tags else none
    if profile.wheelchair_tags:
        blocked["wheelchair=no"] = net.wheelchair == 3
    if slope_limited:
        # incline=up|down with no measure: a notable slope, unknown size
        unknown["incline"] = unknown["incline"] | net.incline_notable
    for key in unknown:
        unknown[key] = unknown[key] & ~vouched
    any_unknown = np.logical_or.reduce([*unknown.values(), none])
    avoided = (rough & (profile.rough_surface == "avoid")) | (
        (net.wheelchair == 2) & profile.wheelchair_tags
    )
    if profile.unknown == "avoid":
        avoided = avoided | any_unknown
    elif profile.unknown == "forbid":
        blocked["unknown"] = any_unknown
    cost = net.length * np.where(avoided, profile.avoid_factor, 1.0)
    forbidden = np.logical_or.reduce([*blocked.values(), none])
    cost = np.where(forbidden, np.inf, np.maximum(cost, 1e-6))
    return Judgement(cost, {k: v for k, v in blocked.items() if v.any()}, unknown, avoided)


def reasons(net: WalkNetwork, profile: Profile, j: Judgement, eid: int) -> list[str]:
    """Why the profile forbids edge ``eid``, in words with the numbers."""
    out = []
    for why, mask in j.blocked.items():
        if not mask[eid]:
            continue
        if why == "incline":
            src = "tagged" if net.incline_source[eid] == 1 else "from the terrain"
            out.append(f"slope {net.incline_pct[eid]:.1f}% ({src}) > {profile.max_incline_pct:g}%")
        elif why == "width":
            out.append(f"width {net.width_m[eid]:.2f} m < {profile.min_width_m:g} m")
        elif why == "kerb":
            out.append(
                f"kerb {100 * net.kerb_m[eid]:.0f} cm > {100 * (profile.max_kerb_m or 0):g} cm"
            )
        elif why == "surface":
            out.append(f"surface {net.surface[eid]}")
        elif why == "unknown":
            what = [k for k, m in j.unknown.items() if m[eid]]
            out.append("unknown " + ", ".join(what))
        else:
            out.append(str(why))
    return out
