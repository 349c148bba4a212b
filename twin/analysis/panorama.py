"""Equirectangular panoramas and the measures taken on them, by solid angle.

A panorama of ``width`` x ``width / 2`` pixels: columns are azimuths clockwise from true north,
the heading at the centre (the left edge is heading − 180°); rows are elevations from +90° (top)
to −90°. Every pixel is one ray from the eye through the pixel's centre.

Pixels of an equirectangular image are not equal pieces of the sphere: a row at elevation e
covers cos(e) times the solid angle of a row on the horizon. Every share here weights each
pixel by its exact solid angle (the band's ∫ cos e de, times its azimuth step), never by pixel
count: a wall of constant elevation 45° all round fills half the upper pixels but 70.7% of the
hemisphere.

The sky-view factor in the field's two definitions:

- ``svf_cos``, as UMEP/SOLWEIG (the radiative view factor of a horizontal surface):
  ∫ cos θ dΩ / π over the visible sky, θ the zenith angle (∫ cos θ dΩ over the hemisphere is π);
- ``svf_solid_angle``, as RVT (the Relief Visualization Toolbox): the visible sky's solid angle
  over the hemisphere's 2π.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from twin.analysis.scene import BUILDING, GROUND, PROJECT, SKY

#: colours by what a ray hits (sky, ground, existing building, project building): the
#: project's orange is the viewer's "Proposed buildings"
COLOURS = np.array(
    [[158, 206, 250], [139, 152, 118], [200, 196, 188], [243, 156, 82]], dtype=np.float32
)
#: distance (m) at which a hit is shaded its darkest (a depth cue; the kind stays readable)
SHADE_FAR_M = 400.0
#: shades per kind, from near (its colour) to far (35% darker)
SHADES = 16
_PALETTE = (
    COLOURS[:, None, :] * (1.0 - 0.35 * np.linspace(0.0, 1.0, SHADES))[None, :, None]
).astype(np.uint8)


def grid(width: int, heading: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Column azimuths and row elevations (degrees) of the pixels' centres."""
    height = width // 2
    az = (heading - 180.0 + (np.arange(width) + 0.5) * 360.0 / width) % 360.0
    el = 90.0 - (np.arange(height) + 0.5) * 180.0 / height
    return az, el


def directions(
    width: int, heading: float, rows: tuple[int, int] | None = None
) -> NDArray[np.float32]:
    """(rows x width, 3) unit rays in the scene's ENU frame (x east, y north, z up), row by
    row from the top; ``rows`` (start, stop) for a band of the panorama (a worker's share)."""
    az_deg, el_deg = grid(width, heading)
    if rows is not None:
        el_deg = el_deg[rows[0] : rows[1]]
    az, el = np.radians(az_deg), np.radians(el_deg)
    ce, se = np.cos(el)[:, None], np.sin(el)[:, None]
    d = np.empty((len(el), len(az), 3), dtype=np.float32)
    d[..., 0] = ce * np.sin(az)[None, :]
    d[..., 1] = ce * np.cos(az)[None, :]
    d[..., 2] = np.broadcast_to(se, (len(el), len(az)))
    return d.reshape(-1, 3)


@dataclass(frozen=True)
class Weights:
    """Per row: one pixel's solid angle (sr), and its ∫ cos θ dΩ (upper rows only, else 0)."""

    solid: NDArray[np.float64]
    cos: NDArray[np.float64]

    @classmethod
    def of(cls, width: int) -> Weights:
        height = width // 2
        edges = np.radians(90.0 - np.arange(height + 1) * 180.0 / height)
        top, bottom = np.sin(edges[:-1]), np.sin(edges[1:])
        step = 2 * np.pi / width
        solid = step * (top - bottom)
        upper = edges[1:] >= -1e-12
        cos = np.where(upper, step * (top**2 - bottom**2) / 2, 0.0)
        return cls(solid, cos)


@dataclass
class Panorama:
    """What each pixel's ray hits (SKY, GROUND, BUILDING, PROJECT) and how far."""

    kind: NDArray[np.uint8]  # (height, width)
    distance: NDArray[np.float32]  # (height, width), inf for the sky
    heading: float

    @property
    def width(self) -> int:
        return int(self.kind.shape[1])

    def upper(self) -> NDArray[np.bool_]:
        rows = np.arange(self.kind.shape[0]) < self.kind.shape[0] // 2
        return np.broadcast_to(rows[:, None], self.kind.shape)

    def sky_view(self) -> dict[str, float]:
        w = Weights.of(self.width)
        sky = (self.kind == SKY) & self.upper()
        return {
            "svf_cos": float((sky * w.cos[:, None]).sum() / np.pi),
            "svf_solid_angle": float((sky * w.solid[:, None]).sum() / (2 * np.pi)),
        }

    def share(self, what: int, within: NDArray[np.bool_]) -> float:
        """The solid-angle share of ``within`` that shows ``what``."""
        w = np.broadcast_to(Weights.of(self.width).solid[:, None], self.kind.shape)
        total = float(w[within].sum())
        return float(w[within & (self.kind == what)].sum() / total) if total > 0 else 0.0

    def field_of_view(self, horizontal: float, vertical: float) -> NDArray[np.bool_]:
        """Pixels within ±horizontal/2 of the heading and ±vertical/2 of the horizon."""
        az, el = grid(self.width, self.heading)
        off = np.abs((az - self.heading + 180.0) % 360.0 - 180.0)
        inside: NDArray[np.bool_] = (np.abs(el)[:, None] <= vertical / 2) & (
            off[None, :] <= horizontal / 2
        )
        return inside

    def png(self) -> bytes:
        """A palette PNG: each kind's colour in ``SHADES`` steps darker with distance (one
        byte a pixel, so a 2048 x 1024 panorama encodes in tens of milliseconds)."""
        from PIL import Image

        level = np.minimum(self.distance / SHADE_FAR_M, 1.0) * (SHADES - 1)
        index = self.kind.astype(np.uint8) * SHADES
        index += np.where(self.kind == SKY, 0, np.nan_to_num(level, posinf=0)).astype(np.uint8)
        image = Image.fromarray(index, "P")
        image.putpalette(_PALETTE.tobytes())
        buf = io.BytesIO()
        image.save(buf, "PNG", compress_level=1)
        return buf.getvalue()


def compare_png(before: Panorama, after: Panorama) -> bytes:
    """Before above after, one image: what a citizen compares at a glance."""
    from PIL import Image

    top = Image.open(io.BytesIO(before.png())).convert("RGB")
    bottom = Image.open(io.BytesIO(after.png())).convert("RGB")
    both = Image.new("RGB", (top.width, top.height * 2 + 4), (40, 40, 40))
    both.paste(top, (0, 0))
    both.paste(bottom, (0, top.height + 4))
    buf = io.BytesIO()
    both.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


__all__ = ["BUILDING", "GROUND", "PROJECT", "SKY", "Panorama", "Weights", "directions", "grid"]
