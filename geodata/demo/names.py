"""Names the demo's rows carry: re-running the demo upserts on (source, source_id) under them."""

from __future__ import annotations

DEMO_CRS = "EPSG:3067"
#: bump when what the demo builds changes in a way its code fingerprint would not show
DEMO_VERSION = "2"
SOURCE = "osm-helsinki"
SYNTHETIC = "demo-synthetic"
PROJECT = "demo-project"
SYNTHETIC_CITY = "demo-synthetic-city"
LICENCE = "ODbL-1.0"
ATTRIBUTION = "© OpenStreetMap contributors"
SYNTHETIC_NOTE = "generated along OpenStreetMap streets for the demo: not real utility data"
SEED = 3067
