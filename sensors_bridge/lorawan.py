"""What The Things Stack and ChirpStack adapters share: the DevEUI's one spelling and the
decoded payload's numeric fields as observations.

A network server decodes the device's bytes with the codec of its device profile into a JSON
object (TTS ``decoded_payload``, ChirpStack ``object``); each number in it is one
observation, named by its key (nested objects by their dotted path: ``{"air": {"t": 3}}`` is
``air.t``). Strings, booleans, lists and nulls are no measurements and are left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from geodata.errors import InputError
from sensors_bridge.model import Observation, Rejected

#: the protocols whose external ids are DevEUIs
LORAWAN = ("tts", "chirpstack")
_HEX = re.compile(r"[0-9A-Fa-f]{16}")
#: nested objects deeper than this are not walked (a codec's output, not a document)
MAX_DEPTH = 8


def dev_eui(value: object) -> str | None:
    """The DevEUI in its one spelling (16 upper-case hex digits), or None when it is none.

    TTS writes it upper-case, ChirpStack lower-case; the registry stores LoRaWAN external ids
    the same way (:func:`normal_external_id`), so both match.
    """
    if isinstance(value, str) and _HEX.fullmatch(value):
        return value.upper()
    return None


def normal_external_id(protocol: str, external_id: str | None) -> str | None:
    """A device's external id as the registry keeps it: a LoRaWAN DevEUI upper-case.

    :raises InputError: a ``tts`` or ``chirpstack`` external id that is no DevEUI.
    """
    if not external_id or protocol not in LORAWAN:
        return external_id or None
    eui = dev_eui(external_id)
    if eui is None:
        raise InputError(
            f"external id {external_id!r} of a {protocol} device is no DevEUI: "
            "give its 16 hex digits, e.g. 0004A30B001C0530"
        )
    return eui


def numeric_fields(payload: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, float]]:
    """``(dotted name, number)`` for every number in a decoded payload (booleans are not)."""
    if prefix.count(".") >= MAX_DEPTH:
        return
    for key, value in payload.items():
        name = f"{prefix}{key}"
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            yield name, value
        elif isinstance(value, dict):
            yield from numeric_fields(value, f"{name}.")


def observations(
    payload: Mapping[str, Any],
    *,
    device: str,
    protocol: str,
    at: datetime,
    message_id: str | None,
    raw: bytes,
) -> list[Observation | Rejected]:
    """One observation per numeric field; a :class:`Rejected` when there is none at all."""
    found: list[Observation | Rejected] = [
        Observation(
            device=device,
            metric=name,
            value=value,
            time=at,
            protocol=protocol,
            raw=raw,
            message_id=message_id,
            external=True,
        )
        for name, value in numeric_fields(payload)
    ]
    if not found:
        detail = "the decoded payload holds no number: check the device profile's codec"
        found.append(Rejected("no_numeric_field", detail, raw))
    return found
