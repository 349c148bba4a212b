"""``twin demo --synthetic-city N``: generated buildings around the real district, flagged.

The generator is checked on its own first (deterministic, a prefix for any larger N, no
overlaps); then the demo is loaded once with 2,000 synthetic buildings and read back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from sqlalchemy import Engine
from typer.testing import CliRunner

from geodata.db import make_engine
from geodata.demo import SOURCE, SYNTHETIC_CITY, load_demo
from geodata.demo.synthetic_city import (
    CityPlan,
    SyntheticCityReader,
    check_count,
    generate,
    street_grid,
)
from geodata.errors import InputError
from tests.import_data import rows, snapshot
from tiles.catalog import list_tilesets
from twin.cli import app

N = 2000
runner = CliRunner()
PLAN = CityPlan((385_000.0, 6_672_000.0), 0.3, shapely.box(384_000, 6_671_000, 386_000, 6_673_000))


def footprints(plan: CityPlan, n: int) -> np.ndarray:
    return np.concatenate([ring.footprints for ring in generate(plan, n)])


def test_generation_is_deterministic_and_a_prefix() -> None:
    small, large = footprints(PLAN, 500), footprints(PLAN, 3000)
    assert len(small) == 500 and len(large) == 3000
    assert shapely.equals(small, large[:500]).all()
    assert shapely.equals(footprints(PLAN, 3000), large).all()


def test_generated_buildings_are_plausible_and_apart() -> None:
    fps = footprints(PLAN, 5000)
    assert shapely.is_valid(fps).all()
    area = shapely.area(fps)
    assert area.min() > 50 and area.max() < 1000
    pairs = shapely.STRtree(fps).query(fps, predicate="intersects")
    assert (pairs[0] == pairs[1]).all()  # each touches only itself
    assert not shapely.intersects(PLAN.keep_clear, fps).any()


def test_reader_batches_ids_and_attributes() -> None:
    reader = SyntheticCityReader(PLAN, 2500, 3067)
    batches = list(reader.batches(1000))
    assert [len(b) for b in batches][:2] == [1000, 1000] and sum(map(len, batches)) == 2500
    ids = np.concatenate([b.ids for b in batches])
    assert ids[0] == "city-0000000" and ids[-1] == "city-0002499" and len(set(ids)) == 2500
    props = batches[0].props
    assert props["synthetic"].all() and (props["levels"] >= 1).all()
    assert reader.source_crs() == 3067 and reader.count() == 2500


@pytest.mark.parametrize("degrees", [20.0, 89.5])
def test_grid_follows_the_streets(degrees: float) -> None:
    a = np.radians(degrees)
    u, v = np.array([np.cos(a), np.sin(a)]), np.array([-np.sin(a), np.cos(a)])
    streets = [shapely.LineString([k * 90 * v, k * 90 * v + 400 * u]) for k in range(4)]
    streets += [shapely.LineString([k * 110 * u, k * 110 * u + 250 * v]) for k in range(4)]
    streets.append(shapely.LineString([(0, 0), (30, 31)]))  # an odd diagonal alley
    angle, anchor = street_grid(np.array(streets, dtype=object))
    assert (np.degrees(angle) - degrees + 45) % 90 - 45 == pytest.approx(0, abs=0.01)
    # on one of the four 400 m streets (the longest straight ones): the grid continues it
    assert min(shapely.distance(s, shapely.Point(anchor)) for s in streets[:4]) < 1e-6


def test_count_out_of_range_says_what_to_give() -> None:
    with pytest.raises(InputError, match=r"from 0 .* to 5,000,000"):
        check_count(-1)
    with pytest.raises(InputError, match="--synthetic-city 9000000"):
        check_count(9_000_000)


@pytest.fixture(scope="module")
def city(module_engine: Engine) -> tuple[Engine, list[str]]:
    return module_engine, load_demo(module_engine, synthetic_city=N)


def one(engine: Engine, sql: str, **params: Any) -> Any:
    return rows(engine, sql, **params)[0][0]


def test_city_is_flagged_and_counted(city: tuple[Engine, list[str]]) -> None:
    e, lines = city
    n, flagged, levels, heights = rows(
        e,
        "SELECT count(*), count(*) FILTER (WHERE (attrs->>'synthetic')::boolean), "
        "count(*) FILTER (WHERE height_source = 'levels'), "
        "bool_and(height = levels * 3.0) FROM buildings WHERE source = :s AND scenario_id IS NULL",
        s=SYNTHETIC_CITY,
    )[0]
    assert n == flagged == levels == N and heights
    text = "\n".join(lines)
    assert f"synthetic city: {N} synthetic buildings" in text and "not real" in text
    title, attribution, features = rows(
        e, "SELECT title, attribution, features FROM datasets WHERE source = :s", s=SYNTHETIC_CITY
    )[0]
    assert "not real" in title and "not real" in attribution and features == N


def test_city_keeps_clear_of_the_real_district(city: tuple[Engine, list[str]]) -> None:
    e, _ = city
    clash = one(
        e,
        "SELECT count(*) FROM buildings c JOIN buildings r ON ST_Intersects(c.footprint, "
        "r.footprint) AND r.id <> c.id WHERE c.source = :c AND (r.source <> :c OR "
        "r.scenario_id IS NOT NULL)",
        c=SYNTHETIC_CITY,
    )
    assert clash == 0
    # around the district: its nearest synthetic building is a street or so away
    gap = one(
        e,
        "SELECT min(ST_Distance(c.footprint, r.footprint)) FROM buildings c, buildings r "
        "WHERE c.source = :c AND r.source = :r AND ST_DWithin(c.footprint, r.footprint, 500)",
        c=SYNTHETIC_CITY,
        r=SOURCE,
    )
    assert gap is not None and 20 <= gap < 500
    assert one(e, "SELECT bool_and(ST_IsValid(footprint)) FROM buildings") is True


def test_city_rerun_is_idempotent_and_resizes(city: tuple[Engine, list[str]]) -> None:
    e, _ = city
    before = snapshot(e)
    # no option: the city stays as the last run made it, and nothing is redone
    lines = load_demo(e)
    assert "already loaded and unchanged" in lines[-1]
    assert snapshot(e) == before
    ids = rows(
        e, "SELECT source_id, id FROM buildings WHERE source = :s ORDER BY 1", s=SYNTHETIC_CITY
    )
    load_demo(e, synthetic_city=N // 2)
    smaller = rows(
        e, "SELECT source_id, id FROM buildings WHERE source = :s ORDER BY 1", s=SYNTHETIC_CITY
    )
    assert smaller == ids[: N // 2]  # the tail goes, the rest keep their ids
    load_demo(e, synthetic_city=0)
    assert one(e, "SELECT count(*) FROM buildings WHERE source = :s", s=SYNTHETIC_CITY) == 0
    assert one(e, "SELECT count(*) FROM datasets WHERE source = :s", s=SYNTHETIC_CITY) == 0


def test_cli_demo_with_a_synthetic_city_builds_its_tiles(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWIN_DATABASE_URL", db_url)
    monkeypatch.setenv("TWIN_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("TWIN_STOREY_HEIGHT", "3.5")  # heights come from the settings
    monkeypatch.chdir(tmp_path)  # no stray .env
    res = runner.invoke(app, ["demo", "--synthetic-city", "-3"], env={"COLUMNS": "200"})
    assert res.exit_code == 2 and "--synthetic-city" in res.output
    assert "greater than or equal to 0" in res.output
    res = runner.invoke(app, ["demo", "--synthetic-city", "300"])
    assert res.exit_code == 0, res.output
    assert "synthetic city: 300 synthetic buildings" in res.output
    assert "x 3.5 m" in res.output
    engine = make_engine(db_url)
    try:
        assert one(
            engine,
            "SELECT bool_and(height = levels * 3.5) FROM buildings WHERE source = :s",
            s=SYNTHETIC_CITY,
        )
        real = one(engine, "SELECT count(*) FROM buildings WHERE scenario_id IS NULL")
    finally:
        engine.dispose()
    (entry,) = [e for e in list_tilesets(tmp_path / "var" / "tiles") if e.name == "buildings"]
    assert entry.features == real  # the 300 are in the buildings tileset, as any building
