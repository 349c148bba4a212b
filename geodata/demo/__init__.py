"""The demo district: central Helsinki, from open data shipped inside an installed package.

``twin demo`` loads, step by step: the OpenStreetMap district (:mod:`.district`) through the
ordinary import pipeline, its hydrants, synthetic utility networks along its streets
(:mod:`.networks`), an urban project as a scenario (:mod:`.project`), a walking circuit
(:mod:`.route`, on :mod:`geodata.walking`), on request a synthetic city around the district
(:mod:`.synthetic_city`), and says what it made (:mod:`.catalogue`). Everything it writes goes
through the import pipeline (:func:`geodata.importers.pipeline.import_reader`, fed by
in-memory readers, :mod:`.frames`) keyed on (source, source_id), so running the demo again
changes nothing and duplicates nothing; :mod:`.state` lets an unchanged re-run skip all of it.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace

from sqlalchemy import Engine

from geodata.demo.catalogue import catalogue, summary
from geodata.demo.district import IMPORT_LAYERS, helsinki_pbf, osm_reader
from geodata.demo.names import (
    ATTRIBUTION,
    DEMO_CRS,
    LICENCE,
    PROJECT,
    SOURCE,
    SYNTHETIC,
    SYNTHETIC_CITY,
)
from geodata.demo.networks import generate_networks
from geodata.demo.project import create_project
from geodata.demo.route import create_route
from geodata.demo.state import fingerprint, last_run, record, unchanged_summary
from geodata.demo.synthetic_city import check_count, load_synthetic_city
from geodata.demo.terrain import load_terrain
from geodata.importers.base import ImportOptions
from geodata.importers.pipeline import run_import
from geodata.importers.report import ImportReport
from geodata.working_crs import require_working_crs

__all__ = ["PROJECT", "SOURCE", "STEPS", "SYNTHETIC", "SYNTHETIC_CITY", "load_demo"]

LOGGER = logging.getLogger(__name__)

Progress = Callable[[int, int | None], None]
#: the OSM layers, then networks, terrain, project, route, synthetic city, catalogue
STEPS = len(IMPORT_LAYERS) + 6


def load_demo(
    engine: Engine,
    *,
    options: ImportOptions | None = None,
    settings_crs: str | None = None,
    progress: Progress | None = None,
    force: bool = False,
    synthetic_city: int | None = None,
) -> list[str]:
    """Load (or refresh) the demo district; returns summary lines for the user.

    Each step is its own transaction and every step is idempotent, so a run stopped half-way
    is completed by the next one. When the district is already loaded from the same extract by
    the same code and nobody touched its rows since (row counts and last update times per
    table agree with what the last run recorded), nothing is redone: ``twin demo`` then starts
    in a second. ``force`` redoes every step anyway.

    :param options: height fallbacks and working CRS (default: the twin's settings)
    :param synthetic_city: how many synthetic buildings to have around the district (0: none;
        None: as many as the last run made)
    """
    started = last = time.perf_counter()

    def step(n: int = 1, what: str = "") -> None:
        nonlocal last
        now = time.perf_counter()
        LOGGER.debug("demo: %s in %.2f s", what, now - last)
        last = now
        if progress is not None:
            progress(n, STEPS)

    base = options or ImportOptions.from_settings()
    options = replace(
        base,
        working_crs=settings_crs or base.working_crs or DEMO_CRS,
        licence=LICENCE,
        attribution=ATTRIBUTION,
    )
    with helsinki_pbf() as pbf:
        if synthetic_city is None:
            with engine.connect() as conn:
                synthetic_city = int(last_run(conn).get("synthetic_city", 0))
        city = check_count(synthetic_city)
        key = fingerprint(
            pbf, heights=(options.storey_height, options.default_height), synthetic_city=city
        )
        if not force:
            with engine.connect() as conn:
                cached = unchanged_summary(conn, key)
            if cached is not None:
                step(STEPS)
                return [
                    *cached,
                    "already loaded and unchanged: nothing to do "
                    f"(checked in {time.perf_counter() - started:.1f} s)",
                ]
        reports: dict[str, ImportReport] = {}
        for layer in IMPORT_LAYERS:
            reports[layer] = run_import(
                engine,
                pbf,
                layer=layer,
                source=SOURCE,
                options=options,
                reader=osm_reader(pbf, layer),
            )
            step(what=f"{layer} imported")
        with engine.begin() as conn:
            srid = require_working_crs(conn)
            if srid != 3067:
                LOGGER.warning(
                    "the demo district is in Helsinki; this twin's working CRS is "
                    "EPSG:%s, so it is reprojected there",
                    srid,
                )
            terrain = load_terrain(conn, pbf, srid)
        step(what="terrain")
        with engine.begin() as conn:  # the generated pipes are laid under the terrain
            nets = generate_networks(conn, srid, options)
        step(what="synthetic networks")
        with engine.begin() as conn:
            project = create_project(conn, pbf, srid, options)
        step(what="project")
    with engine.begin() as conn:
        route = create_route(conn, srid)
    step(what="route")
    with engine.begin() as conn:
        city = load_synthetic_city(conn, city, srid, options)
    step(what="synthetic city")
    lines = summary(reports, nets, project, route, city, srid, options)
    lines.append(
        f"terrain: a {terrain.width} x {terrain.height} DEM at 2 m ({terrain.min_z:.1f} to "
        f"{terrain.max_z:.1f} m) interpolated from {terrain.spot_heights} OSM spot heights and "
        "the coastline at 0 m (synthetic: not a survey)"
    )
    with engine.begin() as conn:
        catalogue(conn, reports["network-nodes"].imported, nets, city)
        record(conn, key, lines, city)
    step(what="catalogue")
    changes: Counter[str] = Counter()
    for r in reports.values():
        changes.update({"new": r.inserted, "updated": r.updated, "unchanged": r.unchanged})
    return [
        *lines,
        f"imported features this run: {changes['new']} new, {changes['updated']} "
        f"updated, {changes['unchanged']} unchanged; done in "
        f"{time.perf_counter() - started:.1f} s",
    ]
