"""Rows the demo makes in memory, fed to the import pipeline like any file.

Why: the demo generates networks and a project's buildings; writing them through the same
pipeline as ``twin import`` (checks, reprojection, heights, COPY and upsert keyed on
(source, source_id)) keeps one writer in the twin. A :class:`FrameReader` is a
:class:`~geodata.importers.base.Reader` over a pandas frame whose columns already carry the
twin's names: ``source_id``, ``geom`` (WKB, hex or bytes) and the layer's fields; any other
column, and the keys of an optional ``attrs`` column of dicts, land in ``attrs``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from geodata.importers.base import ImportOptions, Reader, SourceBatch
from geodata.importers.pipeline import import_reader
from geodata.importers.report import ImportReport


class FrameReader(Reader):
    """A frame of features in EPSG ``srid``, read as batches of the pipeline."""

    name: ClassVar[str] = "demo"
    suffixes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, frame: pd.DataFrame, layer: str, srid: int, what: str) -> None:
        super().__init__(Path(what), layer)
        self.frame, self.srid = frame.reset_index(drop=True), srid

    def open(self) -> None:
        """Nothing to open: the rows are in memory."""

    def source_crs(self) -> int | None:
        return self.srid

    def count(self) -> int | None:
        return len(self.frame)

    def batches(self, size: int) -> Iterator[SourceBatch]:
        for lo in range(0, len(self.frame), size):
            part = self.frame.iloc[lo : lo + size]
            geoms = [g if isinstance(g, bytes) else bytes.fromhex(g) for g in part["geom"]]
            ids = part["source_id"].to_numpy(dtype=object)
            props = part.drop(columns=["geom", "source_id", "attrs"], errors="ignore")
            if "attrs" in part:  # a dict per row: its keys become attributes (kept in attrs)
                extra = pd.DataFrame(part["attrs"].tolist(), index=part.index)
                props = props.join(extra.drop(columns=props.columns, errors="ignore"))
            yield SourceBatch(
                geoms=np.array(geoms, dtype=object),
                props=props.reset_index(drop=True),
                ids=ids,
                where=np.array([f"{self.path} {i}" for i in ids], dtype=object),
            )


def write_frame(
    conn: Connection,
    frame: pd.DataFrame,
    *,
    layer: str,
    source: str,
    srid: int,
    options: ImportOptions,
) -> ImportReport | None:
    """Upsert ``frame`` into ``layer`` under ``source`` (``options.prune``: as the whole of it).

    An empty frame writes nothing (the pipeline refuses to import nothing) and returns None.
    """
    if frame.empty:
        return None
    reader = FrameReader(frame, layer, srid, source)
    return import_reader(conn, reader, layer=layer, source=source, options=options)
