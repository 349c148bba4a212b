"""The registry of format readers: short names to dotted paths, loaded only when used.

Each :class:`~geodata.importers.base.Reader` declares the file endings it takes
(``suffixes``) and may look at a file's first bytes (``sniff``); a file goes to the registered
reader of the longest matching ending that accepts it. A reader from another package is named
by its dotted path (``package.module:Class`` or ``package.module.Class``, as pygeoapi's plugin
loader takes them), either on the command line (``twin import --reader``) or by adding it to
:data:`READERS`. A new format is one module and one line here.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from geodata.errors import ImportFailed, InputError
from geodata.importers.base import Reader

#: format readers by short name: "module:Class", imported when first needed
READERS: dict[str, str] = {
    "cityjson": "geodata.importers.cityjson:CityJSONReader",
    "osm": "geodata.importers.osm:OsmReader",
    # before ogr: a .zip of .gml files is CityGML's (a tie of endings goes to the first)
    "citygml": "geodata.importers.citygml:CityGMLReader",
    "ogr": "geodata.importers.ogr:OgrReader",
}
#: what a reader file name ending must say in the error about an unknown file type
_SUPPORTED = (
    "GeoJSON, GeoPackage, Shapefile (.shp or .zip), FlatGeobuf, CityJSON (.city.json, .jsonl), "
    "OSM PBF (.osm.pbf), CityGML (.gml, .gml.gz, .zip)"
)
_HEAD = 4096


def load_reader(name: str) -> type[Reader]:
    """The reader class registered as ``name``, or at the dotted path ``name``."""
    target = READERS.get(name, name)
    module_name, sep, attr = target.partition(":")
    if not sep:
        module_name, _, attr = target.rpartition(".")
    if not module_name or not attr:
        raise InputError(
            f"unknown reader {name!r}: choose one of {', '.join(READERS)} or give a dotted "
            "path such as package.module:ReaderClass"
        )
    if name not in READERS:  # a plug-in may build its batches with pandas
        from geodata.importers.lean import with_pandas

        with_pandas()
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputError(f"reader {name!r}: cannot import {module_name} ({exc})") from None
    cls = getattr(module, attr, None)
    if not (isinstance(cls, type) and issubclass(cls, Reader)):
        raise InputError(
            f"reader {name!r}: {module_name} has no Reader subclass named {attr!r} "
            "(a reader subclasses geodata.importers.base.Reader)"
        )
    return cls


def reader_for(path: Path, layer: str, reader: str | None = None) -> Reader:
    """A reader for ``path``: the one named by ``reader``, else the registered reader of the
    longest file-name ending that matches and accepts the file's first bytes."""
    if reader is not None:
        return load_reader(reader)(path, layer)
    name = path.name.lower()
    head = _head(path)
    candidates: list[tuple[int, type[Reader]]] = []
    for short in READERS:
        cls = load_reader(short)
        ending = max((len(s) for s in cls.suffixes if name.endswith(s)), default=0)
        if ending and cls.sniff(path, head):
            candidates.append((ending, cls))
    if not candidates:
        raise ImportFailed(f"{path}: unknown file type; supported: {_SUPPORTED}")
    return max(candidates, key=lambda c: c[0])[1](path, layer)


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(_HEAD)
    except OSError:
        return b""
