"""What a client may filter and sort a collection on (OGC API - Features Part 3's
queryables): the layer's columns, its id, its update time and its geometry, with their JSON
types. A filter naming anything else is refused with the list of these names.

``attrs`` keys are not queryable: they differ from row to row, and an index-less scan of a
JSON document per row is no query a client should be offered as a property.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from geodata.layers import Layer

#: the name clients use for the geometry (the queryables mark it primary-geometry)
GEOMETRY = "geometry"


@dataclass(frozen=True)
class Queryable:
    name: str
    #: the SQL column (a trusted identifier of ours, never the client's text)
    column: str
    #: JSON Schema type: integer, number, string, boolean; "geometry" and "datetime" apart
    kind: str

    def schema(self) -> dict[str, Any]:
        if self.kind == "geometry":
            return {"x-ogc-role": "primary-geometry", "format": "geometry-any"}
        if self.kind == "datetime":
            return {"type": "string", "format": "date-time", "x-ogc-role": "primary-instant"}
        return {"type": self.kind}


def _kind(sql_type: str) -> str | None:
    t = sql_type.upper()
    if t.startswith("GEOMETRY"):
        return "geometry"
    if t in ("BIGINT", "INTEGER", "SMALLINT"):
        return "integer"
    if t in ("DOUBLE", "FLOAT", "NUMERIC", "REAL", "DOUBLE PRECISION"):
        return "number"
    if t in ("VARCHAR", "TEXT", "STRING"):
        return "string"
    if t == "BOOLEAN":
        return "boolean"
    if t.startswith("DATETIME") or t.startswith("TIMESTAMP"):
        return "datetime"
    return None  # JSON documents (a route's stops): not a queryable


def queryables(layer: Layer) -> dict[str, Queryable]:
    """The layer's queryables by name, from the table's columns (geodata.models)."""
    return _queryables(layer.id)


@cache
def _queryables(layer_id: str) -> dict[str, Queryable]:
    from geodata.layers import get_layer
    from geodata.models import Base

    layer = get_layer(layer_id)
    columns = {c.name: str(c.type) for c in Base.metadata.tables[layer.table].columns}
    found: dict[str, Queryable] = {"id": Queryable("id", "id", "integer")}
    for name in (*layer.properties, "updated_at"):
        kind = _kind(columns[name]) if name in columns else None
        if kind is not None:
            found[name] = Queryable(name, name, kind)
    found[GEOMETRY] = Queryable(GEOMETRY, layer.geom_column, "geometry")
    return found


def schema_document(layer: Layer, url: str) -> dict[str, Any]:
    """The queryables as the JSON Schema Part 3 asks for."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": url,
        "type": "object",
        "title": layer.title,
        "properties": {q.name: q.schema() for q in queryables(layer).values()},
        "additionalProperties": False,
    }
