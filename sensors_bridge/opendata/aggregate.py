"""What an open aggregate publishes, free of the database: suppression and noise.

A group is one time window and one grid cell. Each device first contributes the mean of its
own observations in the group (clamped to the aggregate's bounds when it has some), so a
device that reports a hundred times a minute weighs what one that reports once does, and its
influence on the group's sum is bounded: what differential privacy needs.

- **k-anonymity by suppression**: a group of fewer than ``k`` devices is not published at all
  (no row, no "<k" marker), on its exact device count.
- **Differential privacy (optional)**: with ``epsilon``, the device count gets discrete
  Laplace noise (sensitivity 1: one device more or less) and the sum of the device means
  continuous Laplace noise (sensitivity ``max(|lower|, |upper|)``), each with half the
  budget; the published mean is the noisy sum over the noisy count, clamped to the bounds.
  The samplers are OpenDP's (``make_laplace`` over integers and floats), built to resist the
  floating-point attacks on naive Laplace samplers, and drawing from the OS's CSPRNG.

``epsilon`` is spent per group, that is per device and window (event-level privacy): a device
seen in 720 hourly windows of a month is covered 720 times, so over the month its privacy
loss is up to 720 × ``epsilon`` by composition. The release table (:mod:`.release`) makes each
group's noise drawn once, so downloading again gains an attacker nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol

from geodata.errors import InputError


@dataclass(frozen=True)
class Group:
    """One window and cell before anonymisation: how many distinct devices, and the sum of
    each device's own mean there."""

    window_start: datetime
    cell_x: int
    cell_y: int
    devices: int
    total: float


@dataclass(frozen=True)
class Release:
    """One published group: the (possibly noisy) device count and mean. No device id."""

    window_start: datetime
    cell_x: int
    cell_y: int
    devices: int
    mean: float


@dataclass(frozen=True)
class Anonymisation:
    """How an aggregate is anonymised: minimum group size, and optional DP with its bounds."""

    k: int
    epsilon: float | None = None
    lower: float | None = None
    upper: float | None = None

    def __post_init__(self) -> None:
        if self.k < 2:
            raise InputError(f"k {self.k}: a group of one device is that device; give k >= 2")
        if self.epsilon is not None:
            if not math.isfinite(self.epsilon) or self.epsilon <= 0:
                raise InputError(f"epsilon {self.epsilon}: give a positive number, e.g. 1.0")
            if self.lower is None or self.upper is None:
                raise InputError(
                    "differential privacy needs bounds on the values (--bounds LOW:HIGH, or a "
                    "range for the metric in the metrics table): noise is scaled by them"
                )
        if self.lower is not None and self.upper is not None and not self.lower < self.upper:
            raise InputError(f"bounds {self.lower}:{self.upper}: the low one must be lower")

    @property
    def sum_sensitivity(self) -> float:
        """How much one device (its mean clamped to the bounds) can move a group's sum."""
        return max(abs(self.lower or 0.0), abs(self.upper or 0.0))


class Noise(Protocol):
    """A source of Laplace noise, one independent draw per element: integers for counts,
    reals for sums."""

    def counts(self, values: list[int], scale: float) -> list[int]: ...

    def reals(self, values: list[float], scale: float) -> list[float]: ...


@lru_cache(maxsize=64)
def _laplace(kind: str, scale: float) -> Any:
    """OpenDP's vector Laplace mechanism: i.i.d. noise per element, one call per batch
    (about ten times faster here than a call per group)."""
    import opendp.prelude as dp

    dp.enable_features("contrib")
    if kind == "int":
        domain = dp.vector_domain(dp.atom_domain(T=int))
        metric = dp.l1_distance(T=int)
    else:
        domain = dp.vector_domain(dp.atom_domain(T=float, nan=False))
        metric = dp.l1_distance(T=float)
    return dp.m.make_laplace(domain, metric, scale=scale)


class OpenDPNoise:
    """OpenDP's Laplace mechanisms (discrete for integers), one measurement per scale."""

    def counts(self, values: list[int], scale: float) -> list[int]:
        return [int(v) for v in _laplace("int", scale)([int(v) for v in values])] if values else []

    def reals(self, values: list[float], scale: float) -> list[float]:
        return (
            [float(v) for v in _laplace("float", scale)([float(v) for v in values])]
            if values
            else []
        )


def suppress(groups: Iterable[Group], k: int) -> Iterator[Group]:
    """The groups of at least ``k`` distinct devices; the others are not published at all."""
    return (g for g in groups if g.devices >= k)


def publish(
    groups: Iterable[Group], how: Anonymisation, noise: Noise | None = None
) -> list[Release]:
    """Suppress the small groups, then anonymise the others: exact without ``epsilon``,
    noisy with it (one batch of noise for the whole batch of groups)."""
    kept = list(suppress(groups, how.k))
    if how.epsilon is None:
        return [
            Release(g.window_start, g.cell_x, g.cell_y, g.devices, g.total / g.devices)
            for g in kept
        ]
    assert how.lower is not None and how.upper is not None  # Anonymisation checked it
    noise = noise or OpenDPNoise()
    half = how.epsilon / 2
    counts = noise.counts([g.devices for g in kept], 1 / half)
    sums = noise.reals([g.total for g in kept], how.sum_sensitivity / half)
    out = []
    for g, n, total in zip(kept, counts, sums, strict=True):
        devices = max(1, n)
        mean = float(min(how.upper, max(how.lower, total / devices)))
        out.append(Release(g.window_start, g.cell_x, g.cell_y, devices, mean))
    return out


def anonymise(group: Group, how: Anonymisation, noise: Noise | None = None) -> Release:
    """One group (of at least ``k`` devices) as published."""
    if group.devices < how.k:
        raise ValueError(f"a group of {group.devices} devices is suppressed (k {how.k})")
    (release,) = publish([group], how, noise)
    return release
