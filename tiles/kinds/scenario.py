"""A scenario's (or a project's) buildings: only what it adds or replaces, in its colour.

The tileset also names the baseline buildings it hides (replaced, or removed through
``scenario_removals``): the viewer hides those in the "after" view.
"""

from __future__ import annotations

from tiles.kinds.base import TilesetSpec
from tiles.kinds.buildings import BuildingOptions, BuildingsKind


class ScenarioKind(BuildingsKind):
    name = "scenario"

    def options(self, spec: TilesetSpec) -> BuildingOptions:
        return BuildingOptions(spec.layer, scenario=True)

    def hidden_sql(self, spec: TilesetSpec) -> str | None:
        scenarios = (
            "SELECT id FROM scenarios WHERE project_id = %(project_id)s"
            if spec.project_id is not None
            else "%(scenario_id)s"
        )
        return (
            f"SELECT replaces_id FROM buildings WHERE {spec.scenario_filter()} "
            "AND replaces_id IS NOT NULL UNION SELECT feature_id FROM scenario_removals "
            f"WHERE layer = 'buildings' AND scenario_id IN ({scenarios}) ORDER BY 1"
        )


def scenario_spec(scenario_id: int, slug: str, name: str = "") -> TilesetSpec:
    return TilesetSpec(
        f"scenario-{slug}",
        ScenarioKind.name,
        "buildings",
        scenario_id=scenario_id,
        title=name or slug,
    )


def project_spec(project_id: int, slug: str, visibility: str, name: str = "") -> TilesetSpec:
    return TilesetSpec(
        f"project-{slug}",
        ScenarioKind.name,
        "buildings",
        project_id=project_id,
        min_visibility=visibility,
        title=name or slug,
    )
