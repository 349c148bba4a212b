"""The FIWARE Smart Data Models an open aggregate's JSON is written in (NGSI-LD key-values).

One entity per published group (a window and a grid cell): its ``location`` is the cell (a
GeoJSON Polygon in CRS84), never a device's position, and its id names the dataset, the cell
and the window, never a device. Attribute names are the models' own (``smart-data-models`` on
GitHub: dataModel.Parking, dataModel.Streetlighting, dataModel.Environment), and each entity
carries its model's ``@context``; the aggregate's mean goes into the attribute the dataset
chose (``no2`` of AirQualityObserved, ``flow`` of WaterObserved...). Parking is occupancy:
spaces reporting 1 (occupied) or 0 (free) become ``totalSpotNumber``, ``occupiedSpotNumber``
and ``availableSpotNumber`` of an OnStreetParking zone, the cell.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from geodata.errors import InputError

_SDM = "https://raw.githubusercontent.com/smart-data-models"
NGSI_LD_CORE = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"


@dataclass(frozen=True)
class Cell:
    """What an entity is made from: one published group, located and timed."""

    dataset: str
    cell_x: int
    cell_y: int
    start: datetime
    end: datetime
    devices: int
    mean: float
    #: the cell as a GeoJSON Polygon in CRS84
    polygon: dict[str, Any]
    description: str


@dataclass(frozen=True)
class SmartDataModel:
    type: str
    context: str
    #: the model's attributes a mean may fill (the dataset's ``attribute``)
    attributes: frozenset[str]
    fill: Callable[[Cell, str], dict[str, Any]]


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _observed(cell: Cell, attribute: str) -> dict[str, Any]:
    """The Environment models: the window as ``dateObservedFrom``/``To``, its end as
    ``dateObserved``, the mean in the chosen attribute."""
    return {
        "dateObserved": _iso(cell.end),
        "dateObservedFrom": _iso(cell.start),
        "dateObservedTo": _iso(cell.end),
        attribute: cell.mean,
    }


def _streetlight(cell: Cell, attribute: str) -> dict[str, Any]:
    return {"observationDateTime": _iso(cell.end), attribute: cell.mean}


def _parking(cell: Cell, attribute: str) -> dict[str, Any]:
    occupied = min(cell.devices, max(0, round(cell.mean * cell.devices)))
    return {
        "observationDateTime": _iso(cell.end),
        "totalSpotNumber": cell.devices,
        "occupiedSpotNumber": occupied,
        "availableSpotNumber": cell.devices - occupied,
    }


MODELS: dict[str, SmartDataModel] = {
    m.type: m
    for m in (
        SmartDataModel(
            "OnStreetParking",
            f"{_SDM}/dataModel.Parking/master/context.jsonld",
            frozenset({"occupiedSpotNumber"}),
            _parking,
        ),
        SmartDataModel(
            "Streetlight",
            f"{_SDM}/dataModel.Streetlighting/master/context.jsonld",
            frozenset(
                {"powerConsumption", "illuminanceLevel", "powerFactor", "current", "voltage"}
            ),
            _streetlight,
        ),
        SmartDataModel(
            "AirQualityObserved",
            f"{_SDM}/dataModel.Environment/master/context.jsonld",
            frozenset(
                {
                    "no2",
                    "no",
                    "nox",
                    "o3",
                    "co",
                    "co2",
                    "so2",
                    "pm10",
                    "pm25",
                    "pm1",
                    "temperature",
                    "relativeHumidity",
                    "precipitation",
                    "windSpeed",
                }
            ),
            _observed,
        ),
        SmartDataModel(
            "WaterObserved",
            f"{_SDM}/dataModel.Environment/master/context.jsonld",
            frozenset({"flow", "height", "temperature", "pH", "conductivity", "turbidity"}),
            _observed,
        ),
    )
}


def check_model(model: str, attribute: str | None) -> tuple[SmartDataModel, str]:
    """The model and the attribute the mean fills (the model's only one when not given).

    :raises InputError: a model or attribute this twin does not write.
    """
    try:
        spec = MODELS[model]
    except KeyError:
        raise InputError(f"unknown model {model!r}: choose one of {', '.join(MODELS)}") from None
    if attribute is None and len(spec.attributes) == 1:
        (attribute,) = spec.attributes
    if attribute not in spec.attributes:
        raise InputError(
            f"{model} has no attribute {attribute!r} for a mean: choose one of "
            f"{', '.join(sorted(spec.attributes))} (--attribute)"
        )
    return spec, attribute


def entity(model: SmartDataModel, attribute: str, cell: Cell) -> dict[str, Any]:
    """One NGSI-LD key-values entity for a published group."""
    window = cell.start.strftime("%Y%m%dT%H%M%SZ")
    return {
        "id": f"urn:ngsi-ld:{model.type}:{cell.dataset}:{cell.cell_x}_{cell.cell_y}:{window}",
        "type": model.type,
        "location": cell.polygon,
        "description": cell.description,
        **model.fill(cell, attribute),
        "@context": [model.context, NGSI_LD_CORE],
    }
