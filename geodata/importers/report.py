"""What an import did, for the summary the CLI prints and the tests check."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from geodata.importers.coerce import ValueIssues


@dataclass
class ImportReport:
    file: str
    layer: str
    source: str
    reader: str
    source_crs: int | None = None
    working_crs: int | None = None
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    #: rows of the source this import no longer had (``ImportOptions.prune``)
    deleted: int = 0
    repaired: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    height_sources: Counter[str] = field(default_factory=Counter)
    #: attribute values stored as unknown (skipped) or changed (repaired), by attribute
    values: ValueIssues = field(default_factory=ValueIssues)
    seconds: float = 0.0

    @property
    def imported(self) -> int:
        return self.inserted + self.updated + self.unchanged

    def lines(self) -> list[str]:
        out = [
            f"{self.file} -> {self.layer} (source {self.source!r}, {self.reader} reader, "
            f"EPSG:{self.source_crs} -> EPSG:{self.working_crs})",
            f"read {self.read}, imported {self.imported} (new {self.inserted}, updated "
            f"{self.updated}, unchanged {self.unchanged}"
            + (f", deleted {self.deleted}" if self.deleted else "")
            + f"), repaired {self.repaired}, "
            f"skipped {sum(self.skipped.values())} in {self.seconds:.1f} s",
        ]
        out += [f"  skipped {n}: {reason}" for reason, n in self.skipped.most_common()]
        out += self.values.lines()
        if self.height_sources:
            out.append(
                "heights: "
                + ", ".join(f"{n} {src}" for src, n in self.height_sources.most_common())
            )
        return out
