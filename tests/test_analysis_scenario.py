"""`twin analyse scenario`: floor area and dwellings on hand-built scenarios (known answers),
the storey rounding, who may ask, and migration 0013 down and up."""

from __future__ import annotations

from typing import Any

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from geodata.access import Principal
from geodata.db import alembic_config
from geodata.errors import InputError, NotFound
from tests.scene_support import X0, Y0, add_box, add_scenario, remove, working_crs
from twin.accounts import create_user
from twin.analysis.base import AnalysisContext
from twin.analysis.scenario import ScenarioComparison, ScenarioParams, levels_of
from twin.app import create_app
from twin.settings import Settings


def compare(engine: Engine, settings: Settings, **params: Any) -> dict[str, Any]:
    ctx = AnalysisContext(engine, settings, Principal("test", "admin"))
    return ScenarioComparison().run(ctx, ScenarioParams(**params)).data


def test_a_20_by_30_block_of_5_levels_adds_3000_m2(engine: Engine, settings: Settings) -> None:
    working_crs(engine)
    with engine.begin() as conn:
        add_box(conn, X0, Y0, 10, 10, 9, name="old")
        sid = add_scenario(conn, "block")
        add_box(conn, X0 + 50, Y0, 20, 30, 16, name="block", scenario_id=sid, levels=5)
    doc = compare(engine, settings, scenario="block")
    assert doc["floor_area_baseline"] == 0
    assert doc["floor_area_scenario"] == pytest.approx(3000.0)
    assert doc["floor_area_delta"] == pytest.approx(3000.0)
    # usage unknown: no dwellings; the parameters are shown
    assert doc["dwellings_estimate"] == 0
    assert doc["dwellings_parameters"]["dwelling_size_m2"] == 80.0
    assert [b["change"] for b in doc["buildings"]] == ["added"]
    assert doc["sun_hours_lost"] is None and doc["view_change"] == []
    assert any("TWIN_TIMEZONE" in n for n in doc["notes"])


def test_sun_and_view_changes_come_from_their_analyses(engine: Engine, settings: Settings) -> None:
    """A tower south of a house: the house's facades lose sun hours, a window looking at the
    tower's site sees it block part of the view."""
    working_crs(engine)
    with engine.begin() as conn:
        add_box(conn, X0, Y0 + 40, 20, 10, 9, name="house")
        sid = add_scenario(conn, "tower")
        add_box(conn, X0, Y0, 20, 20, 60, name="tower", scenario_id=sid, levels=20)
    zoned = settings.model_copy(update={"timezone": "Europe/Helsinki"})
    doc = compare(
        engine,
        zoned,
        scenario="tower",
        date="2026-03-21",
        step_minutes=30,
        balconies=[{"x": X0 + 10, "y": Y0 + 39, "z": 4.5, "heading": 180.0}],
    )
    lost = doc["sun_hours_lost"]
    assert lost is not None and lost["total"]["point_hours_lost"] > 0, lost
    [view] = doc["view_change"]
    assert view["blocked_view_share"] > 0.1


def test_levels_from_height_and_dwellings(engine: Engine, settings: Settings) -> None:
    working_crs(engine)
    with engine.begin() as conn:
        gone = add_box(conn, X0, Y0, 10, 10, 6, name="shed", levels=2)  # 200 m²
        tall = add_box(conn, X0 + 40, Y0, 10, 20, 9, name="tall")  # 3 storeys: 600 m²
        sid = add_scenario(conn, "mix")
        remove(conn, sid, gone)
        # 16.5 m / 3 m = 5.5 storeys: rounded half up to 6
        new = add_box(conn, X0 + 80, Y0, 20, 30, 16.5, name="new", scenario_id=sid)
        raised = add_box(conn, X0 + 40, Y0, 10, 20, 15, name="tall+", scenario_id=sid)
        conn.execute(text("UPDATE buildings SET usage = 'residential' WHERE id = :i"), {"i": new})
        conn.execute(
            text("UPDATE buildings SET usage = 'mixed', replaces_id = :t WHERE id = :i"),
            {"t": tall, "i": raised},
        )
    doc = compare(engine, settings, scenario="mix", dwelling_size=60, residential_share=0.8)
    assert doc["floor_area_baseline"] == pytest.approx(200 + 600)
    assert doc["floor_area_scenario"] == pytest.approx(600 * 6 + 200 * 5)
    assert doc["floor_area_delta"] == pytest.approx(3600 + 1000 - 800)
    changes = {
        b["name"]: (b["change"], b["levels"], b["levels_estimated"]) for b in doc["buildings"]
    }
    assert changes == {
        "shed": ("removed", 2, False),
        "tall": ("replaced", 3, True),
        "new": ("added", 6, True),
        "tall+": ("raised", 5, True),
    }
    # residential: 3600 x 0.8; mixed: 1000 x 0.5; the removed and replaced had no usage
    assert doc["residential_floor_area_delta"] == pytest.approx(3600 * 0.8 + 500)
    assert doc["dwellings_estimate"] == round((2880 + 500) / 60)
    assert doc["dwellings_parameters"]["residential_share"] == 0.8
    # a 3.3 m storey changes the estimate, and says so
    other = compare(engine, settings, scenario="mix", storey_height=3.3)
    assert other["storey_height"] == 3.3 and "3.3 m" in other["levels_rule"]
    assert other["floor_area_scenario"] == pytest.approx(600 * 5 + 200 * 5)


def test_storey_rounding() -> None:
    assert levels_of(15.0, None, 3.0) == (5, True)
    assert levels_of(16.5, None, 3.0) == (6, True)
    assert levels_of(16.4, None, 3.0) == (5, True)
    assert levels_of(1.0, None, 3.0) == (1, True)
    assert levels_of(40.0, 7, 3.0) == (7, False)


def test_bad_input(engine: Engine, settings: Settings) -> None:
    working_crs(engine)
    with engine.begin() as conn:
        add_scenario(conn, "known")
    with pytest.raises(NotFound, match="known scenarios: known"):
        compare(engine, settings, scenario="unknown")
    with pytest.raises(InputError, match="YYYY-MM-DD"):
        compare(engine, settings, scenario="known", date="21/03/2026")


def test_a_scenario_of_an_agent_project_is_closed_to_citizens(
    engine: Engine, settings: Settings
) -> None:
    working_crs(engine)
    with engine.begin() as conn:
        pid = conn.execute(
            text(
                "INSERT INTO projects (slug, name, visibility) VALUES ('p', 'P', 'agent') "
                "RETURNING id"
            )
        ).scalar_one()
        sid = add_scenario(conn, "secret")
        conn.execute(
            text("UPDATE scenarios SET project_id = :p WHERE id = :s"), {"p": pid, "s": sid}
        )
    citizen = {"Authorization": f"Bearer {create_user(engine, 'c', 'citizen')}"}
    planner = {"Authorization": f"Bearer {create_user(engine, 'p', 'planner')}"}
    with TestClient(create_app(settings, engine=engine)) as c:
        asked = c.post("/api/analysis/scenario", json={"scenario": "secret"}, headers=citizen)
        assert asked.status_code == 403
        assert c.get("/api/scenarios", headers=citizen).json() == []
        assert c.get("/api/scenarios/secret", headers=citizen).status_code == 403
        assert [s["slug"] for s in c.get("/api/scenarios", headers=planner).json()] == ["secret"]
        ok = c.post("/api/analysis/scenario", json={"scenario": "secret"}, headers=planner)
        assert ok.status_code == 202, ok.text


def test_migration_0013_down_and_up(db_url: str, engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO audit_log (kind, actor) VALUES ('scenario', 'x')"))
    engine.dispose()
    command.downgrade(alembic_config(db_url), "0015")
    with engine.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one() == 0
    command.upgrade(alembic_config(db_url), "head")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO audit_log (kind, actor) VALUES ('scenario', 'x')"))
