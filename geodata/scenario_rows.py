"""Which rows of a scenario-aware table a scenario shows: the one SQL of "the city as the
scenario would make it", for the Features API and the exports.

A scenario (:mod:`geodata.scenarios`) overlays the baseline: its own rows (``scenario_id``)
are added, or replace a baseline row (``replaces_id``, on the tables that have it), and
``scenario_removals`` hides baseline rows. Kept apart from :mod:`geodata.scenarios`, which
loads the import pipeline, so that serving a page of features does not.
"""

from __future__ import annotations

#: the bound parameter holding the scenario's id
SCENARIO_PARAM = "scenario_"
#: the tables whose scenario rows may replace a baseline row (``replaces_id``)
REPLACING_TABLES = frozenset({"buildings", "network_segments"})


def scenario_rows(table: str, in_scenario: bool) -> str:
    """SQL over ``table`` (a trusted name): the baseline rows, or with ``in_scenario`` the
    rows scenario ``:scenario_`` shows (its own, then the baseline rows it neither replaces
    nor removes)."""
    if not in_scenario:
        return "scenario_id IS NULL"
    p = f":{SCENARIO_PARAM}"
    hidden = (
        f"SELECT feature_id FROM scenario_removals WHERE scenario_id = {p} AND layer = '{table}'"
    )
    if table in REPLACING_TABLES:
        hidden = (
            f"SELECT replaces_id FROM {table} WHERE scenario_id = {p} AND replaces_id IS NOT "
            f"NULL UNION ALL {hidden}"
        )
    return f"(scenario_id = {p} OR (scenario_id IS NULL AND id NOT IN ({hidden})))"
