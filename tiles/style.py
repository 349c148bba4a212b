"""Colours and sizes of what the tiles draw: one place, so every tileset agrees.

Networks follow the usual utility colour code of street-works marking (water blue, gas
yellow, electricity red, telecom green, sewer brown, district heating purple, lighting
orange); stormwater is teal so it is told apart from foul sewer.
"""

from __future__ import annotations

RGBA = tuple[float, float, float, float]

BUILDING: RGBA = (0.86, 0.84, 0.80, 1.0)
#: buildings added or replaced by a scenario: warm, so proposals stand out against the city
SCENARIO_BUILDING: RGBA = (0.95, 0.62, 0.32, 1.0)

NETWORK_COLOURS: dict[str, RGBA] = {
    "water": (0.05, 0.35, 0.95, 1.0),
    "wastewater": (0.50, 0.32, 0.14, 1.0),
    "stormwater": (0.10, 0.60, 0.60, 1.0),
    "gas": (1.00, 0.85, 0.00, 1.0),
    "district_heating": (0.58, 0.22, 0.75, 1.0),
    "electricity": (0.90, 0.10, 0.10, 1.0),
    "telecom": (0.10, 0.65, 0.20, 1.0),
    "lighting": (1.00, 0.55, 0.00, 1.0),
}
NODE_DARKEN = 0.65

#: nominal diameter (mm) drawn when a segment has none recorded
DEFAULT_DIAMETER_MM: dict[str, float] = {
    "water": 150.0,
    "wastewater": 300.0,
    "stormwater": 400.0,
    "gas": 110.0,
    "district_heating": 200.0,
    "electricity": 60.0,
    "telecom": 50.0,
    "lighting": 40.0,
}
#: thinner pipes and cables are drawn at this diameter (metres) so they stay visible
MIN_VISIBLE_DIAMETER_M = 0.15

FURNITURE_COLOURS: dict[str, RGBA] = {
    "lamp": (0.30, 0.32, 0.35, 1.0),
    "bench": (0.55, 0.38, 0.22, 1.0),
    "tree": (0.20, 0.55, 0.22, 1.0),
    "bin": (0.25, 0.40, 0.30, 1.0),
    "bollard": (0.35, 0.35, 0.38, 1.0),
    "traffic_light": (0.15, 0.15, 0.15, 1.0),
    "sign": (0.15, 0.35, 0.80, 1.0),
    "parking_space": (0.30, 0.45, 0.85, 1.0),
    "charging_station": (0.10, 0.70, 0.45, 1.0),
    "bus_stop": (0.85, 0.75, 0.20, 1.0),
    "camera": (0.10, 0.10, 0.10, 1.0),
    "gauge": (0.20, 0.50, 0.90, 1.0),
    "fountain": (0.40, 0.65, 0.90, 1.0),
    "bicycle_parking": (0.45, 0.45, 0.50, 1.0),
}


def darker(rgba: RGBA, factor: float = NODE_DARKEN) -> RGBA:
    return (rgba[0] * factor, rgba[1] * factor, rgba[2] * factor, rgba[3])
