"""Keyset paging: ``@iot.nextLink`` carries where the page ended, not how many rows to skip.

With the default order (Observations: ``phenomenonTime desc, id desc``; the others: ``id``),
the next page starts after the last row's sort key, so page 1,000 of a Datastream costs what
page 1 costs: an index seek, where ``$skip`` reads every row it skips. The token is OData's
``$skiptoken`` (opaque to clients, which follow the link as given): the last row's sort key
as JSON in base64url. A request with its own ``$orderby`` pages with ``$skip``.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from geodata.errors import InputError
from sensors_bridge.sta.entities import EntitySet, Kind

_BAD = "$skiptoken: not one this server wrote; follow @iot.nextLink as it was given"


def encode(entity: EntitySet, row: dict[str, Any]) -> str:
    values = [
        row[col].astimezone(UTC).isoformat() if isinstance(row[col], datetime) else row[col]
        for col, _ in entity.order
    ]
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode(entity: EntitySet, token: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError):
        raise InputError(_BAD) from None
    if not isinstance(values, list) or len(values) != len(entity.order):
        raise InputError(_BAD)
    out: list[Any] = []
    for (col, _), value in zip(entity.order, values, strict=True):
        kind = entity.properties[col]
        if kind is Kind.TIME and isinstance(value, str):
            try:
                out.append(datetime.fromisoformat(value))
            except ValueError:
                raise InputError(_BAD) from None
        elif kind is Kind.NUM and isinstance(value, int) and not isinstance(value, bool):
            if not -(2**63) <= value < 2**63:
                raise InputError(_BAD)
            out.append(value)
        else:
            raise InputError(_BAD)
    return out


def after(entity: EntitySet, alias: str, names: list[str]) -> str:
    """The rows after the token's key in the default order (bind ``names`` hold the key).

    The leading column is repeated on its own so the index on it is used (a row comparison
    is an index condition only when it matches an index's columns)."""
    cols = [f'{alias}."{col}"' for col, _ in entity.order]
    descending = entity.order[0][1]
    op = "<" if descending else ">"
    lead = f"{cols[0]} {op}= {names[0]}"
    return f"({lead} AND ({', '.join(cols)}) {op} ({', '.join(names)}))"
