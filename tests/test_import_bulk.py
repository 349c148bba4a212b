"""A large first import whose reader cannot say its size up front (an OSM PBF does not) loads
like one that can: indexes dropped and built once at the end, repeated ids found when the
unique index is rebuilt, nothing kept per row meanwhile."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Engine

from geodata.importers import ImportOptions, Reader, SourceBatch, import_reader
from geodata.importers.writer import BULK_REINDEX
from tests.import_data import HELSINKI_LONLAT, project, rows
from twin.settings import Settings

X, Y = project(*HELSINKI_LONLAT, 3067)
INDEXES = (
    "SELECT c.relname, c.oid FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid "
    "WHERE x.indrelid = 'buildings'::regclass AND NOT x.indisprimary"
)


class UncountedReader(Reader):
    """Buildings in batches, with ``count()`` unknown; ``ids`` as given (repeats allowed)."""

    name = "uncounted"

    def __init__(self, ids: list[str]) -> None:
        super().__init__(Path("<uncounted>"), "buildings")
        self.ids = ids

    def open(self) -> None:
        pass

    def source_crs(self) -> int | None:
        return 3067

    def count(self) -> int | None:
        return None

    def batches(self, size: int) -> Iterator[SourceBatch]:
        for lo in range(0, len(self.ids), size):
            ids = self.ids[lo : lo + size]
            k = np.arange(lo, lo + len(ids))
            x0, y0 = X + (k % 300) * 20.0, Y + (k // 300) * 20.0
            boxes = shapely.box(x0, y0, x0 + 12, y0 + 12)
            yield SourceBatch(
                geoms=np.array(shapely.to_wkb(boxes), dtype=object),
                props=pd.DataFrame({"name": [f"n{i}" for i in k], "height": 9.0}),
                ids=np.array(ids, dtype=object),
                where=np.array([f"item {i}" for i in k], dtype=object),
            )


def test_uncounted_bulk_import_rebuilds_indexes_and_keeps_first_repeats(
    engine: Engine, settings: Settings
) -> None:
    n = BULK_REINDEX + 10
    ids = [f"g{i}" for i in range(n)]
    ids[-1], ids[-2] = "g3", "g7"  # the last two repeat earlier ids
    before = dict(rows(engine, INDEXES))
    assert len(before) == 3  # footprint (GiST), source ids (unique), scenario

    options = ImportOptions.from_settings(settings, working_crs="EPSG:3067")
    with engine.begin() as conn:
        report = import_reader(conn, UncountedReader(ids), layer="buildings", options=options)

    assert report.inserted == n - 2
    assert report.skipped == {"duplicate source id (first kept)": 2}
    got = dict(
        rows(engine, "SELECT source_id, name FROM buildings WHERE source_id IN ('g3', 'g7')")
    )
    assert got == {"g3": "n3", "g7": "n7"}
    after = dict(rows(engine, INDEXES))
    assert after.keys() == before.keys()
    # built anew at the end (new relations), not grown row by row
    assert all(after[name] != oid for name, oid in before.items())
