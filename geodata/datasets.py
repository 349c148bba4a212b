"""The datasets catalogue and the visibility it gives to the rows it lists.

Every import writes a ``datasets`` row keyed by ``(source, layer)`` with a licence, an
attribution and a visibility (``twin import --visibility``). That visibility is enforced, not
decorative: a feature row whose ``source`` belongs to a dataset the caller may not see is not
served (:func:`hidden_rows_clause`, one anti-join in the query that reads the rows), the
catalogue lists only what the caller may see (:func:`list_datasets`), and anything built from
the rows (a tileset) takes the strictest visibility of its sources (:func:`sources_visibility`).

A dataset's ``layer`` is an import layer (``networks``, ``furniture``…) or a collection id
(``network-nodes``); both name a table through :data:`geodata.layers.LAYERS`, and a dataset
covers the rows of that table with its source name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, text

from geodata.access import Principal, check_visibility, hidden_from, strictest
from geodata.errors import NotFound
from geodata.layers import LAYERS
from geodata.vocab import SOURCED_TABLES, sql_in


@dataclass(frozen=True)
class Dataset:
    """One catalogue row, as the open-data user needs it: what, whose, under which licence."""

    id: int
    source: str
    layer: str
    title: str
    licence: str | None
    attribution: str | None
    visibility: str
    features: int
    imported_at: datetime

    def public_dict(self) -> dict[str, Any]:
        return {**asdict(self), "imported_at": self.imported_at.isoformat(timespec="seconds")}


def dataset_layers(table: str) -> tuple[str, ...]:
    """The ``datasets.layer`` values that cover rows of ``table``: every layer id on it (none
    for a table whose rows are not imported from a source)."""
    if table not in SOURCED_TABLES:
        return ()
    return tuple(sorted(layer.id for layer in LAYERS.values() if layer.table == table))


_COLUMNS = "id, source, layer, title, licence, attribution, visibility, features, imported_at"


def list_datasets(conn: Connection, viewer: Principal) -> list[Dataset]:
    """The catalogue rows ``viewer`` may see, by layer then source."""
    rows = conn.execute(
        text(
            f"SELECT {_COLUMNS} FROM datasets WHERE visibility IN :seen ORDER BY layer, source"
        ).bindparams(bindparam("seen", expanding=True)),
        {"seen": sorted(viewer.sees)},
    )
    return [Dataset(**r._mapping) for r in rows]


def get_dataset(conn: Connection, viewer: Principal, dataset_id: int) -> Dataset:
    """One catalogue row by id.

    :raises NotFound: no such dataset.
    :raises Unauthorized, Forbidden: the caller may not see it (the one access rule).
    """
    missing = NotFound(f"no dataset {dataset_id}: GET /api/datasets lists the ones you may see")
    if not 0 < dataset_id < 2**31:  # ids are integers
        raise missing
    row = conn.execute(
        text(f"SELECT {_COLUMNS} FROM datasets WHERE id = :id"), {"id": dataset_id}
    ).first()
    if row is None:
        raise missing
    dataset = Dataset(**row._mapping)
    check_visibility(viewer, dataset.visibility, f"dataset {dataset.id} ({dataset.title!r})")
    return dataset


def hidden_rows_clause(
    table: str, viewer: Principal, alias: str | None = None, *, exporting: bool = False
) -> str | None:
    """SQL keeping out the rows of ``table`` whose dataset ``viewer`` may not see, or None
    when nothing is hidden from them (an admin). ``exporting``: the rows of a file taken away,
    where confidential datasets stay out whoever asks. No bound parameters: the values are
    the twin's own vocabulary, so the clause drops into any statement.

    One ``NOT EXISTS`` that PostgreSQL runs as a hash anti-join against the (small)
    catalogue, not a lookup per row.
    """
    hidden = hidden_from(viewer, exporting=exporting)
    layers = dataset_layers(table)
    if not hidden or not layers:
        return None
    ref = alias or table
    return (
        "NOT EXISTS (SELECT 1 FROM datasets d_ WHERE d_.source = "
        f"{ref}.source AND d_.layer IN ({sql_in(layers)}) "
        f"AND d_.visibility IN ({sql_in(hidden)}))"
    )


def sources_visibility(conn: Connection, tables: str | Iterable[str], where: str | None) -> str:
    """The strictest visibility of the datasets the rows of ``tables`` (filtered by the
    trusted SQL ``where``) come from; ``public`` when no restricted dataset is among them.

    A tileset built from these rows takes this visibility (with the layer's, through
    :func:`geodata.access.strictest`).
    """
    names = [tables] if isinstance(tables, str) else list(tables)
    found: list[str] = []
    for table in names:
        layers = dataset_layers(table)
        if not layers:
            continue
        # the (small) catalogue first, then one probe per restricted source: asked as one
        # semi-join, the planner hashed the whole table for an empty catalogue (0.18 s of
        # every tile build at a million buildings)
        restricted = conn.execute(
            text(
                "SELECT DISTINCT source, visibility FROM datasets "
                f"WHERE visibility <> 'public' AND layer IN ({sql_in(layers)}) "
                "ORDER BY source, visibility"
            )
        ).all()
        for source, visibility in restricted:
            if visibility in found:
                continue
            used = conn.execute(
                text(
                    f"SELECT EXISTS (SELECT 1 FROM {table} t WHERE t.source = :s "
                    f"AND ({where or 'TRUE'}))"
                ),
                {"s": source},
            ).scalar()
            if used:
                found.append(visibility)
    return strictest(*found)
