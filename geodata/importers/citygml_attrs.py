"""The attributes of a CityGML city object, as the attribute scheme reads them.

Simple properties keep their CityGML names (``measuredHeight``, ``storeysAboveGround``,
``roofType``, ``function``...); CityGML 3.0's ``con:height`` becomes ``measuredHeight``;
generic attributes (2.0 ``gen:stringAttribute name=..``, 3.0 ``gen:StringAttribute`` with
``gen:name``) go by their names, sets as nested objects; an xAL address becomes one line.
Called by :mod:`geodata.importers.citygml_building` for each Building and BuildingPart.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lxml import etree  # annotations only: lxml loads with a CityGML file (citygml.py)


_FEET = 0.3048


def local(tag: Any) -> str:
    """The local name of an element tag (``{ns}Building`` -> ``Building``); "" for comments."""
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def leaf(el: etree._Element, name: str) -> Any:
    text = (el.text or "").strip()
    if not text:
        return None
    if name == "measuredHeight":
        return _metres(text, el.get("uom"))
    return text


def _metres(text: str, uom: str | None) -> Any:
    """A length in metres (its unit is ``uom``: m, or feet as ft, #ft, urn:...:ft)."""
    try:
        value = float(text)
    except ValueError:
        return text  # the attribute rules report a value that is not a number
    if uom and re.search(r"(^|[#:/])(ft|foot|feet)$", uom.strip(), re.IGNORECASE):
        return value * _FEET
    return value


def height(prop: etree._Element, attributes: dict[str, Any]) -> None:
    """3.0 ``con:height``: the building's height above ground, measured from its lowest ground
    point to its highest roof edge when it says so; another pair of references is kept only
    when no such height comes."""
    for height in prop:
        values = {local(c.tag): c for c in height}
        value = values.get("value")
        if value is None or not (value.text or "").strip():
            continue
        metres = _metres(value.text.strip(), value.get("uom"))
        high = (values["highReference"].text or "") if "highReference" in values else ""
        high = high or (
            (values["heightReference"].text or "") if "heightReference" in values else ""
        )
        low = (values["lowReference"].text or "") if "lowReference" in values else ""
        full = high.strip() in ("highestRoofEdge", "") and low.strip() in ("lowestGroundPoint", "")
        if full:
            attributes["measuredHeight"] = metres
        else:
            attributes.setdefault("measuredHeight", metres)


_GEN_NUMBER = {"intattribute": int, "doubleattribute": float, "measureattribute": float}


def generic(el: etree._Element, attributes: dict[str, Any]) -> None:
    """A generic attribute (2.0 ``gen:stringAttribute name=..``, 3.0 ``gen:StringAttribute``
    with ``gen:name``), by its name; a set as a nested object."""
    kind = local(el.tag).lower()
    if not kind.endswith("attribute") and kind != "genericattributeset":
        return
    name = el.get("name")
    value_el = None
    members: list[etree._Element] = []
    for child in el:
        child_name = local(child.tag)
        if child_name == "name" and name is None:
            name = (child.text or "").strip()
        elif child_name == "value":
            value_el = child
            members.extend(c for c in child if local(c.tag))
        elif child_name.lower().endswith("attribute"):
            members.append(child)
    if not name:
        return
    if kind == "genericattributeset":
        nested: dict[str, Any] = {}
        for member in members:
            generic(member, nested)
        attributes.setdefault(name, nested)
        return
    text = (value_el.text or "").strip() if value_el is not None else ""
    cast = _GEN_NUMBER.get(kind)
    value: Any = text
    if cast is not None:
        try:
            value = cast(text)
        except ValueError:
            value = text
    attributes.setdefault(name, value)


_ADDRESS_PARTS = (
    ("ThoroughfareNumber", "ThoroughfareName"),
    ("PostalCodeNumber", "LocalityName"),
)
#: xAL 3 (CityGML 3.0) names by (parent, element), as xAL 2's
_XAL3 = {
    ("Thoroughfare", "NameElement"): "ThoroughfareName",
    ("Thoroughfare", "Number"): "ThoroughfareNumber",
    ("Locality", "NameElement"): "LocalityName",
    ("PostCode", "Identifier"): "PostalCodeNumber",
}


def address(el: etree._Element) -> str | None:
    """The first xAL address as "12 Main Street, 1234 Town" (xAL 2 and 3 element names)."""
    found: dict[str, str] = {}
    for sub in el.iter():
        name = local(sub.tag)
        text = (sub.text or "").strip()
        if not name or not text or len(sub):
            continue
        parent = sub.getparent()
        name = _XAL3.get((local(parent.tag) if parent is not None else "", name), name)
        found.setdefault(name, text)
    lines = [" ".join(found[k] for k in keys if k in found) for keys in _ADDRESS_PARTS]
    return ", ".join(line for line in lines if line) or None
