"""``twin import``: stream a file into a layer, all-or-nothing.

The public surface: :func:`run_import` (a file, in its own transaction), :func:`import_reader`
(any reader, in the caller's transaction), :class:`ImportOptions` and :class:`ImportReport`.
The pipeline is :mod:`geodata.importers.pipeline`; the layers are
:mod:`geodata.importers.layers`; the format readers are registered in
:mod:`geodata.importers.readers`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from geodata.importers.base import ImportOptions, Reader, SourceBatch
from geodata.importers.report import ImportReport

if TYPE_CHECKING:
    from geodata.importers.pipeline import import_reader, run_import

__all__ = ["ImportOptions", "ImportReport", "Reader", "SourceBatch", "import_reader", "run_import"]


def __getattr__(name: str) -> Any:
    """The pipeline (and with it pandas, pyogrio, the mapping) loads on first use."""
    if name in ("import_reader", "run_import"):
        from geodata.importers import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
