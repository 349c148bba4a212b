"""PROJ's choice of operation between two CRSs, remembered between processes.

``Transformer.from_crs`` searches PROJ's database for the operations between two CRSs each
time it is called: 15-40 ms a pair, paid again by every command (an import makes two or
three, a tile build one) for an answer that only changes with PROJ's data. Where the
answer can depend on nothing else — exactly one candidate operation, none left out for a
missing grid, the network off — the operation is kept, as PROJJSON, in a small JSON file
under the user's cache folder, and the next process makes the same transformer from it in
~1 ms.

Any other pair is searched every time, as before: with several candidates PROJ picks one
per point by area of use, and a pair whose best operation needs a grid may change answer
when the grid is installed. The file is named after its format and the pyproj and PROJ
versions and records PROJ's data folder, so an upgrade or another ``PROJ_DATA`` starts
afresh. It is only a shortcut: unreadable, unwritable or damaged, it is ignored.

PROJJSON rather than the operation's PROJ string (format 1 kept that, 0.1 ms to read back):
the JSON carries the source and target CRSs, and a transformer made from a bare pipeline
string knows none, so that ``transform_bounds``, which must know whether the source is
geographic, gave infinite bounds with it (and :func:`geodata.crs.served_box` the Earth's box
in every process after the first).
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path

import pyproj
from pyproj import Transformer
from pyproj.datadir import get_data_dir
from pyproj.exceptions import ProjError
from pyproj.network import is_network_enabled  # type: ignore[attr-defined]  # re-exported
from pyproj.transformer import TransformerGroup

#: what the file keeps and how (2: PROJJSON of the operation, with its CRSs)
FORMAT = 2


def cache_file() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    name = f"proj-operations-{FORMAT}-{pyproj.__version__}-{pyproj.proj_version_str}.json"
    return Path(root) / "twin" / name


def _data_dir() -> str:
    return str(get_data_dir())


def _read(path: Path) -> dict[str, str]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict) or doc.get("proj_data") != _data_dir():
        return {}
    pipes = doc.get("pipelines")
    if not isinstance(pipes, dict):
        return {}
    return {k: v for k, v in pipes.items() if isinstance(k, str) and isinstance(v, str)}


def _write(path: Path, pipes: dict[str, str]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".proj-", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump({"proj_data": _data_dir(), "pipelines": pipes}, f, indent=0)
        os.replace(tmp, path)  # atomic: a concurrent reader sees the old file or the new
    except OSError:
        pass


def _single_operation(src: str, dst: str) -> bool:
    """Whether PROJ has exactly one operation for the pair and needs no grid for it."""
    if is_network_enabled():
        return False
    with warnings.catch_warnings():  # "best transformation is not available": we know
        warnings.simplefilter("ignore")
        group = TransformerGroup(src, dst, always_xy=True)
    return len(group.transformers) == 1 and not group.unavailable_operations


def transformer(src: int, dst: int) -> Transformer:
    """An always_xy transformer between two EPSG codes: from the kept pipeline when there is
    one, else searched (and kept when that is safe)."""
    key = f"EPSG:{src}>EPSG:{dst}"
    path = cache_file()
    pipes = _read(path)
    kept = pipes.get(key)
    if kept:
        try:
            return Transformer.from_pipeline(kept)
        except ProjError:
            kept = None  # damaged: search again below and overwrite it
    found = Transformer.from_crs(f"EPSG:{src}", f"EPSG:{dst}", always_xy=True)
    if kept is None:  # "" records a pair to search every time, so it is not checked again
        one = _single_operation(f"EPSG:{src}", f"EPSG:{dst}")
        _write(path, {**pipes, key: found.to_json() if one else ""})
    return found
