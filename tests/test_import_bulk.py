"""A large first import whose reader cannot say its size up front (an OSM PBF does not) loads
like one that can: indexes dropped and built once at the end, repeated ids found when the
unique index is rebuilt, nothing kept per row meanwhile."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from geodata.errors import ImportFailed
from geodata.importers import ImportOptions, Reader, SourceBatch, import_reader
from geodata.importers.geometry import check_stored
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
    # built anew at the end (new relations), not grown row by row; the index only scenario
    # rows enter is kept as it is (no baseline row of the load goes into it)
    kept = "ix_buildings_scenario"
    assert all(after[name] != oid for name, oid in before.items() if name != kept)
    assert after[kept] == before[kept]


CHECKS = (
    "SELECT conname, convalidated FROM pg_constraint WHERE conrelid = 'buildings'::regclass "
    "AND conname = 'footprint_valid'"
)
LOG_TRIGGER = (
    "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'buildings'::regclass "
    "AND tgname = 'tile_log_ins'"
)
LOGGED = "SELECT count(*), count(id) FROM tile_changes WHERE tbl = 'buildings'"


def test_bulk_load_logs_one_entry_and_puts_back_the_check_and_the_trigger(
    engine: Engine, settings: Settings
) -> None:
    options = ImportOptions.from_settings(settings, working_crs="EPSG:3067")
    ids = [f"g{i}" for i in range(BULK_REINDEX + 10)]
    with engine.begin() as conn:
        import_reader(conn, UncountedReader(ids), layer="buildings", options=options)

    # one "everything changed" entry (the next tile build is a full one), not one per row
    assert rows(engine, LOGGED) == [(1, 0)]
    # the check is back, not re-run over the loaded rows (the importer checked them) ...
    assert rows(engine, CHECKS) == [("footprint_valid", False)]
    assert rows(engine, LOG_TRIGGER) == [(1,)]
    # ... and the server still refuses an invalid footprint from any later writer
    bowtie = "SRID=3067;MULTIPOLYGON(((0 0, 10 10, 10 0, 0 10, 0 0)))"
    with pytest.raises(IntegrityError, match="footprint_valid"), engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO buildings (source, source_id, footprint, height, height_source, "
                "base_z) VALUES ('x', 'bad', CAST(:g AS geometry), 5, 'default', 0)"
            ),
            {"g": bowtie},
        )
    # a later small import is logged row by row by the trigger again
    with engine.begin() as conn:
        import_reader(
            conn, UncountedReader(["h1", "h2"]), layer="buildings", source="more", options=options
        )
    assert rows(engine, LOGGED) == [(3, 2)]


def test_a_failed_bulk_load_leaves_the_table_as_it_was(engine: Engine, settings: Settings) -> None:
    options = ImportOptions.from_settings(settings, working_crs="EPSG:3067")
    before = dict(rows(engine, INDEXES))

    class Failing(UncountedReader):
        def batches(self, size: int) -> Iterator[SourceBatch]:
            yield from super().batches(size)
            raise RuntimeError("the disk went away")

    with pytest.raises(RuntimeError, match="disk"), engine.begin() as conn:
        import_reader(
            conn,
            Failing([f"g{i}" for i in range(BULK_REINDEX)]),
            layer="buildings",
            options=options,
        )

    assert rows(engine, CHECKS) == [("footprint_valid", True)]
    assert rows(engine, LOG_TRIGGER) == [(1,)]
    assert dict(rows(engine, INDEXES)) == before
    assert rows(engine, LOGGED) == [(0, 0)]
    assert rows(engine, "SELECT count(*) FROM buildings") == [(0,)]


def test_a_geometry_made_invalid_by_reprojection_is_refused_by_name() -> None:
    bowtie = shapely.from_wkt("MULTIPOLYGON(((0 0, 10 10, 10 0, 0 10, 0 0)))")
    fine = shapely.box(0, 0, 1, 1)
    stored = np.array(shapely.to_wkb([fine, bowtie]), dtype=object)
    with pytest.raises(
        ImportFailed, match=r"f\.gpkg, id b2: invalid once reprojected to EPSG:3067"
    ):
        check_stored(stored, np.array(["b1", "b2"], dtype=object), 3067, "f.gpkg")
    check_stored(stored[:1], np.array(["b1"], dtype=object), 3067, "f.gpkg")
