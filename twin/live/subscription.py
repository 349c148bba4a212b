"""What a ``/ws/live`` client asks to watch, checked against who it is; pure, no I/O.

A subscription narrows by each criterion it gives (layers AND bbox AND devices); one that
gives none watches every device the caller may see. Access is the one rule,
:func:`geodata.access.device_visible`, applied per device; on top, a subscription that names
a layer the caller may not see is refused whole (with the 401/403 reason the HTTP routes
give), and so is one naming a device the caller may not know of (as if it did not exist, the
way ``/api/devices/{id}`` answers 404).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from geodata.access import Principal, check_visibility, device_visible
from geodata.errors import InputError
from geodata.layers import LAYERS
from twin.live.devices import DeviceMeta

_FIELDS = ("layers", "bbox", "devices")
#: the most devices one subscription may name (a picked set, not the registry)
MAX_DEVICES = 10_000
_HELP = (
    'send {"subscribe": {"layers": ["furniture"], "bbox": [west, south, east, north], '
    '"devices": ["bay-7"]}} (each optional; WGS 84 degrees)'
)


@dataclass(frozen=True)
class Subscription:
    layers: frozenset[str] | None = None
    #: west, south, east, north in WGS 84 degrees
    bbox: tuple[float, float, float, float] | None = None
    devices: frozenset[str] | None = None

    def matches(self, d: DeviceMeta) -> bool:
        """Whether the device falls inside what was asked (access is checked apart)."""
        if self.devices is not None and d.id not in self.devices:
            return False
        if self.layers is not None and d.layer not in self.layers:
            return False
        if self.bbox is not None:
            if d.lon is None or d.lat is None:
                return False
            w, s, e, n = self.bbox
            return w <= d.lon <= e and s <= d.lat <= n
        return True


def _strings(name: str, value: object) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InputError(f"subscribe.{name} must be a list of non-empty strings: {_HELP}")
    if len(value) > MAX_DEVICES:
        raise InputError(f"subscribe.{name} names {len(value)}; at most {MAX_DEVICES}")
    return frozenset(value)


def _bbox(value: object) -> tuple[float, float, float, float]:
    if (
        not isinstance(value, list)
        or len(value) != 4
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        or not all(math.isfinite(v) for v in value)
    ):
        raise InputError(f"subscribe.bbox must be four numbers [west, south, east, north]: {_HELP}")
    w, s, e, n = (float(v) for v in value)
    if not (-180 <= w <= 180 and -180 <= e <= 180 and -90 <= s <= 90 and -90 <= n <= 90):
        raise InputError(
            f"subscribe.bbox {value}: longitudes must be within -180..180 and latitudes "
            "within -90..90 (WGS 84 degrees, not the working CRS)"
        )
    if w > e or s > n:
        raise InputError(
            f"subscribe.bbox {value}: west must not exceed east nor south exceed north "
            "(across the antimeridian, subscribe twice... or use layers)"
        )
    return w, s, e, n


def parse(doc: object) -> Subscription:
    """The ``subscribe`` member of a client message.

    :raises InputError: naming the field that is wrong and what to send instead.
    """
    if not isinstance(doc, Mapping):
        raise InputError(f"subscribe must be a JSON object: {_HELP}")
    unknown = sorted(set(doc) - set(_FIELDS))
    if unknown:
        raise InputError(f"subscribe has unknown fields {', '.join(unknown)}: {_HELP}")
    layers = devices = None
    bbox = None
    if doc.get("layers") is not None:
        layers = _strings("layers", doc["layers"])
        missing = sorted(layers - set(LAYERS))
        if missing:
            raise InputError(
                f"subscribe.layers: no layer {', '.join(repr(m) for m in missing)} "
                f"(choose among {', '.join(LAYERS)})"
            )
    if doc.get("bbox") is not None:
        bbox = _bbox(doc["bbox"])
    if doc.get("devices") is not None:
        devices = _strings("devices", doc["devices"])
    return Subscription(layers, bbox, devices)


def check_access(
    principal: Principal, sub: Subscription, devices: Mapping[str, DeviceMeta]
) -> None:
    """Refuse a subscription naming what the caller may not see.

    :raises Unauthorized: anonymous, and a named layer is restricted (how to send a token).
    :raises Forbidden: signed in, and the role may not see a named layer.
    :raises NotFound: a named device is unknown, quarantined or not visible to the caller.
    """
    from geodata.errors import NotFound

    for layer_id in sorted(sub.layers or ()):
        check_visibility(
            principal,
            LAYERS[layer_id].visibility,
            f'layer {layer_id!r} (send a token as ?token= or {{"token": ...}})',
        )
    hidden = sorted(
        d
        for d in sub.devices or ()
        if (meta := devices.get(d)) is None
        or not device_visible(principal, meta.visibility, "active")
    )
    if hidden:
        shown = ", ".join(repr(d) for d in hidden[:5]) + (" ..." if len(hidden) > 5 else "")
        raise NotFound(
            f"no device {shown} that you may see (an unknown, quarantined or restricted device "
            "is refused; GET /api/devices lists those you may see)"
        )


def sees(principal: Principal, sub: Subscription, d: DeviceMeta) -> bool:
    """Whether a device belongs to this caller's subscription: asked and allowed."""
    return sub.matches(d) and device_visible(principal, d.visibility, "active")


def as_doc(sub: Subscription) -> dict[str, Any]:
    """The subscription in effect, echoed to the client."""
    return {
        "layers": sorted(sub.layers) if sub.layers is not None else None,
        "bbox": list(sub.bbox) if sub.bbox is not None else None,
        "devices": sorted(sub.devices) if sub.devices is not None else None,
    }
