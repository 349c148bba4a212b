"""The device registry: add, import, list, adopt; each device bound to a feature of the twin.

A device's binding ``LAYER:ID`` is checked here against the layer registry
(``geodata.layers``): the layer must exist and hold that feature, whose point on surface
becomes the device's location. What a caller may know of a device is
:func:`geodata.access.device_visible`'s business, with the device's visibility taken as the
strictest of its own and its bound layer's.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import IntegrityError

from geodata.access import Principal, check_known, device_visible, strictest
from geodata.errors import InputError, NotFound
from geodata.layers import LAYERS
from geodata.vocab import PROTOCOLS
from sensors_bridge.lorawan import normal_external_id

CSV_HEADER = ("id", "protocol", "external_id", "type", "visibility")


@dataclass(frozen=True)
class DeviceSpec:
    """One device to register (a CLI line, a CSV row, a GeoJSON feature)."""

    id: str
    protocol: str
    type: str
    external_id: str | None = None
    visibility: str = "public"
    feature: str | None = None
    #: what else is known of it (a gauge's ``zero_altitude_m``, what it simulates)
    attrs: Mapping[str, Any] | None = None


def _parse_feature(feature: str) -> tuple[str, int]:
    layer, sep, fid = feature.partition(":")
    if not sep or not fid.isdigit():
        raise InputError(f"--feature {feature!r}: write LAYER:ID, e.g. furniture:42")
    if layer not in LAYERS:
        raise InputError(f"--feature {feature!r}: no layer {layer!r} (see GET /collections)")
    return layer, int(fid)


def _check(spec: DeviceSpec) -> None:
    if not spec.id or len(spec.id) > 200:
        raise InputError("a device id must have 1 to 200 characters")
    if spec.protocol not in PROTOCOLS:
        raise InputError(
            f"device {spec.id!r}: unknown protocol {spec.protocol!r}: "
            f"choose one of {', '.join(PROTOCOLS)}"
        )
    if not spec.type:
        raise InputError(f"device {spec.id!r}: give its --type (parking_sensor, lamp, gauge...)")
    check_known(spec.visibility)


def _insert(conn: Connection, spec: DeviceSpec, *, replace: bool = False) -> None:
    _check(spec)
    params: dict[str, Any] = {
        "i": spec.id,
        "p": spec.protocol,
        "t": spec.type,
        "x": normal_external_id(spec.protocol, spec.external_id),
        "v": spec.visibility,
        "l": None,
        "f": None,
        "a": json.dumps(dict(spec.attrs or {})),
    }
    geom = "NULL"
    if spec.feature:
        layer_id, fid = _parse_feature(spec.feature)
        layer = LAYERS[layer_id]
        where = f"id = :f AND ({layer.where or 'TRUE'})"
        found = conn.execute(text(f"SELECT 1 FROM {layer.table} WHERE {where}"), {"f": fid})
        if found.first() is None:
            raise InputError(f"device {spec.id!r}: layer {layer_id!r} has no feature {fid}")
        params |= {"l": layer_id, "f": fid}
        geom = (
            f"(SELECT ST_Force3D(ST_PointOnSurface({layer.geom_column})) FROM {layer.table} "
            "WHERE id = :f)"
        )
    try:
        with conn.begin_nested():
            conn.execute(
                text(
                    "INSERT INTO devices (id, protocol, type, external_id, visibility, layer, "
                    f"feature_id, geom, attrs) VALUES (:i, :p, :t, :x, :v, :l, :f, {geom}, "
                    f"CAST(:a AS jsonb)) {_REPLACE if replace else ''}"
                ),
                params,
            )
    except IntegrityError:
        raise InputError(
            f"device {spec.id!r} (or {spec.protocol} external id {spec.external_id!r}) is "
            "registered already: `twin devices list` shows it; a quarantined one is adopted "
            "with `twin devices adopt ID`"
        ) from None


#: ``replace``: a device registered again takes what the new spec says (its data stays)
_REPLACE = (
    "ON CONFLICT (id) DO UPDATE SET (protocol, type, external_id, visibility, layer, feature_id, "
    "geom, attrs, status) = (EXCLUDED.protocol, EXCLUDED.type, EXCLUDED.external_id, "
    "EXCLUDED.visibility, EXCLUDED.layer, EXCLUDED.feature_id, EXCLUDED.geom, EXCLUDED.attrs, "
    "'active')"
)


def add_devices(engine: Engine, specs: Iterable[DeviceSpec], *, replace: bool = False) -> int:
    """Register devices in one transaction (all or none); how many.

    ``replace``: a device already registered under the same id is updated instead of refused
    (what a re-run of the demo needs; observations are kept)."""
    n = 0
    with engine.begin() as conn:
        for spec in specs:
            _insert(conn, spec, replace=replace)
            n += 1
    return n


def read_devices_file(path: Path) -> list[DeviceSpec]:
    """Devices from a CSV (header ``id,protocol,external_id,type,visibility``, optional
    ``feature``) or a GeoJSON FeatureCollection with the same properties."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.suffix.lower() in (".geojson", ".json"):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            rows = [f["properties"] for f in doc["features"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{path}: not a GeoJSON FeatureCollection ({exc})") from None
    elif path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in CSV_HEADER if c not in (reader.fieldnames or [])]
            if missing:
                raise InputError(
                    f"{path}: the header lacks {', '.join(missing)}; "
                    f"expected {','.join(CSV_HEADER)}"
                )
            rows = list(reader)
    else:
        raise InputError(f"{path}: give a .csv or a .geojson file")
    return [_spec(path, i, row) for i, row in enumerate(rows, start=1)]


def _spec(path: Path, line: int, row: Mapping[str, Any]) -> DeviceSpec:
    try:
        return DeviceSpec(
            id=str(row["id"]),
            protocol=str(row["protocol"]),
            type=str(row["type"]),
            external_id=(str(row["external_id"]) if row.get("external_id") else None),
            visibility=str(row.get("visibility") or "public"),
            feature=(str(row["feature"]) if row.get("feature") else None),
            attrs=_attrs(path, line, row.get("attrs")),
        )
    except KeyError as exc:
        raise InputError(f"{path}: record {line} lacks {exc.args[0]}") from None


def _attrs(path: Path, line: int, value: Any) -> Mapping[str, Any] | None:
    """A record's ``attrs``: an object in GeoJSON, a JSON object in a CSV cell."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = None
    if not isinstance(value, dict):
        raise InputError(f'{path}: record {line}: attrs must be a JSON object, e.g. {{"a": 1}}')
    return value


_SELECT = """
SELECT d.id, d.protocol, d.type, d.external_id, d.status, d.visibility, d.layer,
       d.feature_id, d.last_seen, ST_AsGeoJSON(ST_Transform(d.geom, 4326))::json AS location
FROM devices d
"""


def _public(row: Mapping[Any, Any]) -> dict[str, Any]:
    doc = dict(row)
    layer = LAYERS.get(doc["layer"]) if doc["layer"] else None
    doc["visibility"] = strictest(doc["visibility"], layer.visibility if layer else None)
    doc["last_seen"] = doc["last_seen"].isoformat() if doc["last_seen"] else None
    return doc


def list_devices(
    engine: Engine, principal: Principal, *, status: str | None = None
) -> list[dict[str, Any]]:
    """The devices the caller may know of (optionally of one status), by id."""
    where = "WHERE d.status = :s" if status else ""
    with engine.connect() as conn:
        rows = conn.execute(text(f"{_SELECT} {where} ORDER BY d.id"), {"s": status}).mappings()
        docs = [_public(r) for r in rows]
    return [d for d in docs if device_visible(principal, d["visibility"], d["status"])]


def get_device(conn: Connection, principal: Principal, device_id: str) -> dict[str, Any]:
    """One device, if the caller may know of it (else NotFound, as if it did not exist)."""
    row = conn.execute(text(f"{_SELECT} WHERE d.id = :i"), {"i": device_id}).mappings().first()
    doc = _public(row) if row is not None else None
    if doc is None or not device_visible(principal, doc["visibility"], doc["status"]):
        raise NotFound(f"no device {device_id!r}: GET /api/devices lists those you may see")
    return doc


def adopt(
    engine: Engine,
    device_id: str,
    *,
    type_: str | None = None,
    visibility: str | None = None,
    audit: Callable[[Connection], None] | None = None,
) -> None:
    """Make a quarantined device active (its observations were kept all along).

    A quarantined device is confidential (nobody vouched for it); adoption keeps that unless
    a ``visibility`` is given. ``audit`` writes the caller's audit entry in the same
    transaction (the twin's audit log is not this package's business)."""
    if visibility is not None:
        check_known(visibility)
    with engine.begin() as conn:
        row = conn.execute(
            text(
                "UPDATE devices SET status = 'active', type = coalesce(:t, type), "
                "visibility = coalesce(:v, visibility) "
                "WHERE id = :i AND status = 'quarantined' RETURNING id"
            ),
            {"i": device_id, "t": type_, "v": visibility},
        ).first()
        if row is not None and audit is not None:
            audit(conn)
    if row is None:
        raise NotFound(
            f"no quarantined device {device_id!r}: `twin devices list --quarantined` lists them"
        )


def check_token_device(conn: Connection, device_id: str) -> None:
    """A device token is for a device of the registry (active: a quarantined one is adopted
    first, so nobody gets a token for an id merely heard of)."""
    row = conn.execute(text("SELECT status FROM devices WHERE id = :i"), {"i": device_id}).first()
    if row is None:
        raise NotFound(
            f"no device {device_id!r}: add it first (`twin devices add {device_id} --protocol http "
            "--type TYPE`)"
        )
    if row.status != "active":
        raise InputError(
            f"device {device_id!r} is {row.status}: adopt it first (`twin devices adopt "
            f"{device_id}`)"
        )
