"""The layers a file can be imported into, by the name ``twin import --layer`` takes.

Each is one :class:`~geodata.importers.import_layer.ImportLayer` (the contract, with the
batches it takes and gives); adding a layer is one class in a ``layers_*`` module and one
entry here.
"""

from __future__ import annotations

from geodata.importers.import_layer import ImportLayer, Rows, Stored
from geodata.importers.layers_buildings import Buildings
from geodata.importers.layers_ground import Furniture, Ground, Pois
from geodata.importers.layers_networks import NetworkNodes, Networks

__all__ = ["IMPORT_LAYERS", "ImportLayer", "Rows", "Stored"]

#: every layer a file can be imported into, by the name ``twin import --layer`` takes
IMPORT_LAYERS: dict[str, ImportLayer] = {
    layer.name: layer
    for layer in (Buildings(), Networks(), NetworkNodes(), Furniture(), Pois(), Ground())
}
