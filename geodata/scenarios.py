"""Planning scenarios and their edits: add buildings, raise or remove existing ones.

A scenario overlays the baseline (:class:`geodata.models.Scenario`): buildings rows carrying
its id are added (``replaces_id`` NULL) or replace a baseline row (``replaces_id``: a raise),
and :class:`geodata.models.ScenarioRemoval` rows hide baseline buildings. These functions run
inside the caller's transaction and check everything before they write, so that a bad edit
(an unknown slug or building id, an invalid footprint, a height out of range) raises an
:class:`~geodata.errors.InputError` / :class:`~geodata.errors.NotFound` naming the fix and
leaves the database as it was. Added buildings go through the import pipeline (the same
checks, reprojection and height rules as ``twin import``), keyed on (scenario, source,
source id). Rebuilding the scenario's tileset and the audit are the application's
(:mod:`twin.scenarios`): ``geodata`` imports neither ``tiles`` nor ``twin``.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import shapely
from sqlalchemy import Connection, text

from geodata.errors import Conflict, InputError, NotFound
from geodata.importers.base import ImportOptions, Reader
from geodata.importers.pipeline import import_reader
from geodata.importers.readers import reader_for
from geodata.importers.report import ImportReport
from geodata.working_crs import require_working_crs

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
#: the source of buildings drawn as a footprint with a height (API, viewer, CLI)
DRAWN_SOURCE = "drawn"
MAX_HEIGHT_M = 1000.0


@dataclass(frozen=True)
class ScenarioRow:
    id: int
    slug: str
    name: str
    description: str
    #: the project it belongs to (its visibility is the scenario's), or None
    project: str | None
    #: who may see it: its project's visibility, else public (as its tileset's manifest)
    visibility: str


_SELECT = (
    "SELECT s.id, s.slug, s.name, s.description, p.slug, coalesce(p.visibility, 'public') "
    "FROM scenarios s LEFT JOIN projects p ON p.id = s.project_id"
)


def known_slugs(conn: Connection) -> list[str]:
    return list(conn.execute(text("SELECT slug FROM scenarios ORDER BY slug")).scalars())


def get_scenario(conn: Connection, slug: str) -> ScenarioRow:
    """The scenario ``slug``; NotFound lists the known ones."""
    row = conn.execute(text(f"{_SELECT} WHERE s.slug = :s"), {"s": slug}).first()
    if row is None:
        known = known_slugs(conn)
        raise NotFound(
            f"no scenario {slug!r}; known scenarios: {', '.join(known) if known else 'none yet'}"
            " (create one with `twin scenarios create SLUG` or POST /api/scenarios)"
        )
    return ScenarioRow(*row)


def list_scenarios(conn: Connection) -> list[ScenarioRow]:
    return [ScenarioRow(*r) for r in conn.execute(text(f"{_SELECT} ORDER BY s.slug")).all()]


def create_scenario(
    conn: Connection, slug: str, name: str | None = None, description: str = ""
) -> ScenarioRow:
    """A new, empty scenario (no project: as visible as the buildings, i.e. public)."""
    if not SLUG.match(slug):
        raise InputError(
            f"scenario slug {slug!r} is not valid: use 1 to 63 lower-case letters, digits and "
            "hyphens, starting with a letter or digit (e.g. 'tower-b')"
        )
    if conn.execute(text("SELECT 1 FROM scenarios WHERE slug = :s"), {"s": slug}).first():
        raise Conflict(f"scenario {slug!r} exists already: choose another slug or edit it")
    conn.execute(
        text("INSERT INTO scenarios (slug, name, description) VALUES (:s, :n, :d)"),
        {"s": slug, "n": (name or slug).strip() or slug, "d": description},
    )
    return get_scenario(conn, slug)


def delete_scenario(conn: Connection, slug: str) -> ScenarioRow:
    """Delete the scenario with its rows and removals (the foreign keys cascade)."""
    row = get_scenario(conn, slug)
    conn.execute(text("DELETE FROM buildings WHERE scenario_id = :i"), {"i": row.id})
    conn.execute(text("DELETE FROM scenarios WHERE id = :i"), {"i": row.id})
    return row


# -- adding buildings ------------------------------------------------------------------------
def check_footprint(geom: shapely.Geometry, what: str = "the footprint") -> shapely.Geometry:
    """A polygon (or multipolygon) that is valid and not empty, else InputError saying why."""
    if geom is None or geom.is_empty:
        raise InputError(f"{what} is empty: give a polygon of at least three corners")
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise InputError(f"{what} is a {geom.geom_type}: a building's footprint is a Polygon")
    if not geom.is_valid:
        reason = shapely.is_valid_reason(geom)
        raise InputError(
            f"{what} is not a valid polygon ({reason}): draw its outline without crossing "
            "edges or repeated corners"
        )
    return geom


def check_height(height: float, what: str = "height") -> float:
    if not 0 < height < MAX_HEIGHT_M:
        raise InputError(f"{what} {height} m is out of range: give a height between 0 and 1000 m")
    return float(height)


def add_footprint(
    conn: Connection,
    slug: str,
    footprint: shapely.Geometry,
    *,
    height: float | None,
    levels: int | None = None,
    usage: str | None = "residential",
    name: str | None = None,
    srid: int | None = None,
    options: ImportOptions,
) -> ImportReport:
    """Add one building drawn as a footprint (in EPSG ``srid``, default the working CRS) with a
    height in metres and/or a number of levels (height = levels x TWIN_STOREY_HEIGHT)."""
    scenario = get_scenario(conn, slug)
    check_footprint(footprint)
    if height is None and levels is None:
        raise InputError("give the new building's height (m) or its number of levels")
    if height is not None:
        check_height(height)
    if levels is not None and not 0 < levels < 300:
        raise InputError(f"levels {levels} is out of range: give 1 to 299 storeys")
    from geodata.demo.frames import FrameReader

    frame = pd.DataFrame(
        {
            "source_id": [f"{uuid.uuid4().hex[:12]}"],
            "geom": [shapely.to_wkb(footprint)],
            "height": [height],
            "levels": [levels],
            "usage": [usage],
            "name": [name],
        }
    )
    srid = srid or require_working_crs(conn)
    reader = FrameReader(frame, "buildings", srid, f"footprint for scenario {slug}")
    return _import(conn, scenario, reader, DRAWN_SOURCE, options)


def add_file(
    conn: Connection,
    slug: str,
    path: Path,
    *,
    crs: str | None = None,
    source: str | None = None,
    options: ImportOptions,
) -> ImportReport:
    """Add the buildings of a GeoJSON or CityJSON file (or any format ``twin import`` reads)
    to the scenario; every feature must be usable, else nothing is written."""
    scenario = get_scenario(conn, slug)
    reader = reader_for(Path(path), "buildings", None)
    return _import(conn, scenario, reader, source or Path(path).name.split(".")[0], options, crs)


def _import(
    conn: Connection,
    scenario: ScenarioRow,
    reader: Reader,
    source: str,
    options: ImportOptions,
    crs: str | None = None,
) -> ImportReport:
    from dataclasses import replace

    opts = replace(options, scenario_id=scenario.id, prune=False)
    with conn.begin_nested():  # a refused edit leaves the caller's transaction as it was
        report = import_reader(
            conn, reader, layer="buildings", source=source, options=opts, crs=crs
        )
        problems = [f"{n} {why}" for why, n in report.skipped.items()]
        if report.repaired:
            problems.append(f"{report.repaired} invalid footprint(s) that would need repair")
        if problems:
            raise InputError(
                f"{report.file}: {', '.join(problems)}; nothing was added to scenario "
                f"{scenario.slug!r}: fix those features (a valid polygon footprint each, "
                "without crossing edges) and send it again"
            )
    return report


# -- raising and removing --------------------------------------------------------------------
def _building(conn: Connection, building_id: int) -> Any:
    return conn.execute(
        text("SELECT id, scenario_id FROM buildings WHERE id = :i"), {"i": building_id}
    ).first()


def _unknown(building_id: int, scenario: ScenarioRow) -> NotFound:
    return NotFound(
        f"no building {building_id} in the baseline or in scenario {scenario.slug!r}: pick one "
        "in the viewer or find its id at /collections/buildings/items"
    )


def raise_building(
    conn: Connection, slug: str, building_id: int, height: float, levels: int | None = None
) -> dict[str, Any]:
    """Give a building a new height in the scenario: a baseline building gets a replacing row
    (its attributes, the new height, no LoD2: the raised building is its footprint's
    extrusion); a building the scenario added is changed in place."""
    scenario = get_scenario(conn, slug)
    check_height(height, "the new height")
    if levels is not None and not 0 < levels < 300:
        raise InputError(f"levels {levels} is out of range: give 1 to 299 storeys")
    row = _building(conn, building_id)
    if row is None or row.scenario_id not in (None, scenario.id):
        raise _unknown(building_id, scenario)
    if row.scenario_id == scenario.id:  # the scenario's own row (added or already raised)
        conn.execute(
            text("UPDATE buildings SET height = :h, levels = :l, lod2 = NULL WHERE id = :i"),
            {"h": height, "l": levels, "i": building_id},
        )
        return {"building": building_id, "row": building_id, "height": height, "levels": levels}
    if conn.execute(
        text(
            "SELECT 1 FROM scenario_removals WHERE scenario_id = :s AND layer = 'buildings' "
            "AND feature_id = :i"
        ),
        {"s": scenario.id, "i": building_id},
    ).first():
        raise Conflict(
            f"building {building_id} is removed in scenario {slug!r}: a removed building "
            "cannot be raised (delete the scenario's edit first)"
        )
    existing = conn.execute(
        text("SELECT id FROM buildings WHERE scenario_id = :s AND replaces_id = :i"),
        {"s": scenario.id, "i": building_id},
    ).scalar()
    if existing is not None:
        conn.execute(
            text("UPDATE buildings SET height = :h, levels = :l WHERE id = :r"),
            {"h": height, "l": levels, "r": existing},
        )
        return {"building": building_id, "row": existing, "height": height, "levels": levels}
    new_id = conn.execute(
        text(
            "INSERT INTO buildings (source, source_id, attrs, footprint, base_z, z_source, "
            "height, height_source, levels, roof_type, usage, name, address, year_built, "
            "scenario_id, replaces_id) SELECT source, source_id, attrs, footprint, base_z, "
            "z_source, :h, 'measured', "
            ":l, roof_type, usage, name, address, year_built, :s, id FROM buildings "
            "WHERE id = :i RETURNING id"
        ),
        {"h": height, "l": levels, "s": scenario.id, "i": building_id},
    ).scalar_one()
    return {"building": building_id, "row": new_id, "height": height, "levels": levels}


def remove_building(conn: Connection, slug: str, building_id: int) -> dict[str, Any]:
    """Remove a building in the scenario: a baseline one is hidden (its raise, if any, is
    dropped); one the scenario added is deleted."""
    scenario = get_scenario(conn, slug)
    row = _building(conn, building_id)
    if row is None or row.scenario_id not in (None, scenario.id):
        raise _unknown(building_id, scenario)
    if row.scenario_id == scenario.id:
        replaced = conn.execute(
            text("DELETE FROM buildings WHERE id = :i RETURNING replaces_id"), {"i": building_id}
        ).scalar()
        if replaced is None:
            return {"building": building_id, "removed": "added row deleted"}
        building_id = int(replaced)  # removing a raised row removes the building it raised
    conn.execute(
        text("DELETE FROM buildings WHERE scenario_id = :s AND replaces_id = :i"),
        {"s": scenario.id, "i": building_id},
    )
    conn.execute(
        text(
            "INSERT INTO scenario_removals (scenario_id, layer, feature_id) "
            "VALUES (:s, 'buildings', :i) ON CONFLICT DO NOTHING"
        ),
        {"s": scenario.id, "i": building_id},
    )
    return {"building": building_id, "removed": "baseline building hidden"}


def edits(conn: Connection, slug: str) -> dict[str, Any]:
    """What the scenario changes: its added, raised (replacing) and removed buildings."""
    scenario = get_scenario(conn, slug)
    rows = conn.execute(
        text(
            "SELECT id, replaces_id, source, source_id, name, usage, height, levels, "
            "ST_Area(footprint) FROM buildings WHERE scenario_id = :s ORDER BY id"
        ),
        {"s": scenario.id},
    ).all()
    removed = conn.execute(
        text(
            "SELECT feature_id FROM scenario_removals WHERE scenario_id = :s "
            "AND layer = 'buildings' ORDER BY feature_id"
        ),
        {"s": scenario.id},
    ).scalars()

    def item(r: Any) -> dict[str, Any]:
        return {
            "id": r.id,
            "source": r.source,
            "source_id": r.source_id,
            "name": r.name,
            "usage": r.usage,
            "height": r.height,
            "levels": r.levels,
            "footprint_area": round(float(r[8]), 2),
        }

    return {
        "slug": scenario.slug,
        "name": scenario.name,
        "description": scenario.description,
        "project": scenario.project,
        "visibility": scenario.visibility,
        "added": [item(r) for r in rows if r.replaces_id is None],
        "raised": [{**item(r), "replaces": r.replaces_id} for r in rows if r.replaces_id],
        "removed": [int(i) for i in removed],
    }
