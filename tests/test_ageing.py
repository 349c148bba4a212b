"""Network ageing: the survival functions against hand-computed answers, the fit against
data simulated from known parameters, the consequence on a hand-drawn graph, scores whose
factors add up, and the whole path (events import, analysis, stored scores) on a small
imported network with synthetic breaks."""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from geodata.access import Principal
from geodata.errors import Forbidden, ImportFailed, InputError
from geodata.importers import run_import
from tests.import_data import feature, snapshot, write_geojson
from twin.analysis.ageing.criticality import downstream_nodes
from twin.analysis.ageing.scores import FACTORS, renewal_scores
from twin.analysis.ageing.survival import (
    Exposure,
    conditional_failure_probability,
    fit_break_model,
    simulate_breaks,
    weibull_median,
    weibull_survival,
)
from twin.analysis.base import AnalysisContext
from twin.analysis.registry import get_analysis
from twin.analysis.runner import parse_params, run_analysis
from twin.cli import app as cli_app
from twin.settings import Settings


def test_weibull_known_answers() -> None:
    assert weibull_median(2.0, 100.0) == pytest.approx(83.26, abs=0.005)
    assert weibull_survival(83.2554611, 2.0, 100.0) == pytest.approx(0.5, abs=1e-7)
    p = conditional_failure_probability(60.0, 10.0, 2.0, 100.0)
    assert p == pytest.approx(0.1219, abs=5e-5)
    # = 1 − S(70)/S(60)
    assert p == pytest.approx(1 - weibull_survival(70, 2, 100) / weibull_survival(60, 2, 100))


def _synthetic(alpha: float, seed: int = 7) -> tuple[Exposure, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = 4000
    age = rng.uniform(5.0, 110.0, n)
    start = np.maximum(age - 25.0, 0.0)  # records cover the last 25 years: left truncation
    length = rng.uniform(0.05, 0.6, n)
    iron = (rng.random(n) < 0.5).astype(float)
    mult = length * np.exp(0.8 * iron)
    seg, at = simulate_breaks(rng, start, age, mult, 2.0, 80.0, alpha)
    return Exposure(iron[:, None], length, start, age, seg, at), iron


def test_the_fit_recovers_known_parameters() -> None:
    e, _ = _synthetic(0.0)
    plain = fit_break_model(e, ["iron"], recurrent=False)
    assert plain.shape == pytest.approx(2.0, rel=0.08)
    assert plain.scale == pytest.approx(80.0, rel=0.08)
    assert plain.coefficients[0] == pytest.approx(0.8, abs=0.12)
    e, _ = _synthetic(0.5, seed=11)
    leyp = fit_break_model(e, ["iron"])
    assert leyp.shape == pytest.approx(2.0, rel=0.1)
    assert leyp.scale == pytest.approx(80.0, rel=0.1)
    assert leyp.alpha == pytest.approx(0.5, abs=0.2)
    # left truncation matters: counting exposure from age 0 would see too few breaks
    naive = fit_break_model(
        Exposure(e.covariates, e.length_km, np.zeros_like(e.start), e.end, e.break_segment,
                 e.break_age), ["iron"],
    )  # fmt: skip
    assert naive.scale > leyp.scale * 1.2


def test_consequence_counts_what_a_cut_isolates() -> None:
    # a loop a-b-c, then c-d, d-e and d-f hang off it
    ends = [((0, 0), (1, 0)), ((1, 0), (1, 1)), ((1, 1), (0, 0)),
            ((1, 1), (2, 2)), ((2, 2), (3, 3)), ((2, 2), (4, 4))]  # fmt: skip
    assert downstream_nodes(ends) == [0, 0, 0, 3, 1, 1]
    doubled = [*ends, ((1, 1), (2, 2))]  # a parallel main: the cut isolates nothing
    assert downstream_nodes(doubled)[3] == 0


def test_factors_add_up_to_the_score() -> None:
    rng = np.random.default_rng(3)
    n = 50
    terms = {f: rng.uniform(0.2, 3.0, n) for f in FACTORS if f != "consequence"}
    score, factors = renewal_scores(rng.uniform(0, 0.4, n), rng.uniform(0, 1, n), terms)
    assert score.max() == 100.0 and (score >= 0).all()
    for s, f in zip(score, factors, strict=True):
        assert set(f) == set(FACTORS)
        assert sum(f.values()) == pytest.approx(s, abs=1e-6)


# -- the whole path on an imported network --------------------------------------------------

X0, Y0 = 385_000.0, 6_672_000.0


def _network(tmp_path: Path) -> tuple[Path, list[dict[str, Any]]]:
    """A 6 × 6 grid of 50 m mains (with a dead-end spur), half cast iron, half PE."""
    rng = np.random.default_rng(5)
    feats, specs = [], []
    k = 0
    for i in range(6):
        for j in range(6):
            for di, dj in ((1, 0), (0, 1)):
                if i + di > 5 or j + dj > 5:
                    continue
                a = (X0 + 50 * i, Y0 + 50 * j)
                b = (X0 + 50 * (i + di), Y0 + 50 * (j + dj))
                old = rng.random() < 0.5
                year = int(rng.integers(1930, 1975)) if old else int(rng.integers(1975, 2015))
                props = {"network": "water", "material": "cast iron" if old else "PE",
                         "diameter": 150, "install_year": year if k % 17 else None}  # fmt: skip
                feats.append(feature(shapely.LineString([a, b]), f"w{k}", **props))
                specs.append({"id": f"w{k}", "year": year, "old": old})
                k += 1
    spur = (X0 + 250, Y0 + 250), (X0 + 300, Y0 + 300)
    feats.append(feature(shapely.LineString(spur), "spur", network="water", material="PE",
                         diameter=100, install_year=2000))  # fmt: skip
    specs.append({"id": "spur", "year": 2000, "old": False})
    return write_geojson(tmp_path / "water.geojson", feats, "EPSG:3067"), specs


def _events_csv(path: Path, specs: list[dict[str, Any]], extra: str = "") -> Path:
    rng = np.random.default_rng(9)
    laid = np.array([date(s["year"], 7, 1).toordinal() for s in specs], dtype=float)
    end = (date(2025, 12, 31).toordinal() - laid) / 365.25
    start = np.maximum((date(2005, 1, 1).toordinal() - laid) / 365.25, 0.0)
    mult = 0.05 * np.where([s["old"] for s in specs], 6.0, 1.0)
    seg, age = simulate_breaks(rng, start, end, mult, 2.0, 40.0, 0.2)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["segment", "kind", "date"])
        for i, a in zip(seg, age, strict=True):
            when = date.fromordinal(int(laid[i])) + timedelta(days=float(a) * 365.25)
            w.writerow([specs[i]["id"], "break", when.isoformat()])
        w.writerow([specs[0]["id"], "repair", "2010-03-04"])
        f.write(extra)
    return path


def test_events_import_is_all_or_nothing(engine: Engine, tmp_path: Path, runner: CliRunner) -> None:
    path, specs = _network(tmp_path)
    run_import(engine, path, layer="networks")
    before = snapshot(engine)
    bad = _events_csv(tmp_path / "bad.csv", specs, "nope,break,2020-01-01\n")
    got = runner.invoke(cli_app, ["import", str(bad), "--layer", "events"])
    assert got.exit_code != 0 and "'nope'" in got.output and "line " in got.output, got.output
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM network_events")).scalar_one() == 0
    assert snapshot(engine) == before
    with pytest.raises(ImportFailed, match="kind 'leak'"):
        run_import(engine, _events_csv(tmp_path / "k.csv", specs, "w1,leak,2020-01-01\n"),
                   layer="events")  # fmt: skip
    good = _events_csv(tmp_path / "events.csv", specs)
    assert runner.invoke(cli_app, ["import", str(good), "--layer", "events"]).exit_code == 0
    again = runner.invoke(cli_app, ["import", str(good), "--layer", "events"])  # idempotent
    assert again.exit_code == 0
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM network_events")).scalar_one()
    assert n == sum(1 for _ in good.open()) - 1
    geo = tmp_path / "ev.geojson"
    geo.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": None,
         "properties": {"segment": "spur", "kind": "break", "date": "2021-05-06"}}]}))  # fmt: skip
    run_import(engine, geo, layer="events")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM network_events")).scalar_one() == n + 1


def test_ageing_scores_and_stores(
    engine: Engine, settings: Settings, tmp_path: Path, runner: CliRunner
) -> None:
    path, specs = _network(tmp_path)
    run_import(engine, path, layer="networks")
    analysis = get_analysis("ageing")
    agent = AnalysisContext(engine, settings, Principal("a", "agent"))
    admin = AnalysisContext(engine, settings, Principal("b", "admin"))
    with pytest.raises(InputError, match=r"twin import events\.csv"):
        run_analysis(analysis, admin, parse_params(analysis, {}))
    run_import(engine, _events_csv(tmp_path / "events.csv", specs), layer="events")
    params = {"as_of": "2025-12-31", "records_start": "2005-01-01", "horizon": 10}
    with pytest.raises(Forbidden):
        run_analysis(analysis, agent, parse_params(analysis, {**params, "store": True}))
    doc = run_analysis(analysis, agent, parse_params(analysis, params)).stored.data
    items = doc["segments"]
    assert len(items) == len(specs) and doc["unknown_age"] == 4  # counted, not dropped
    assert sum(1 for it in items if not it["age_known"]) == 4
    assert items[0]["renewal_score"] == 100.0 and items[0]["rank"] == 1
    for it in items:
        assert 0.0 <= it["failure_probability"] <= 1.0
        assert sum(it["factors"].values()) == pytest.approx(it["renewal_score"], abs=1e-6)
    spur = next(it for it in items if it["source_id"] == "spur")
    assert spur["downstream_nodes"] == 1  # cutting the dead end isolates its far end
    by = {it["source_id"]: it for it in items}
    old = np.mean([by[s["id"]]["failure_probability"] for s in specs if s["old"]])
    new = np.mean([by[s["id"]]["failure_probability"] for s in specs if not s["old"]])
    assert old > 2 * new  # old cast iron breaks more, and the model saw it
    assert "WNTR" in doc["consequence_model"]
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT count(renewal_score) FROM network_segments")).scalar_one()
            == 0
        )  # an agent's run stores nothing
    out = tmp_path / "rank.csv"
    got = runner.invoke(
        cli_app, ["analyse", "ageing", "--as-of", "2025-12-31", "--records-start",
                  "2005-01-01", "--csv", str(out), "--json"],
    )  # fmt: skip
    assert got.exit_code == 0, got.output
    cli_doc = json.loads(got.stdout)
    assert [s["source_id"] for s in cli_doc["segments"]] == [s["source_id"] for s in items]
    rows = list(csv.DictReader(out.open()))
    assert rows[0]["source_id"] == items[0]["source_id"] and len(rows) == len(items)
    with engine.connect() as conn:
        stored = dict(
            conn.execute(text("SELECT source_id, renewal_score FROM network_segments")).all()
        )
    assert stored == {it["source_id"]: it["renewal_score"] for it in items}


def test_migration_0013_goes_down_and_up(engine: Engine, db_url: str, tmp_path: Path) -> None:
    from alembic import command

    from geodata.db import alembic_config

    path, specs = _network(tmp_path)
    run_import(engine, path, layer="networks")
    run_import(engine, _events_csv(tmp_path / "events.csv", specs), layer="events")
    engine.dispose()
    command.downgrade(alembic_config(db_url), "0013")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT to_regclass('network_events')")).scalar() is None
        cols = conn.execute(
            text(
                "SELECT count(*) FROM information_schema.columns WHERE table_name = "
                "'network_segments' AND column_name IN ('location_class', 'renewal_score')"
            )
        ).scalar_one()
        assert cols == 0
        assert conn.execute(text("SELECT count(*) FROM network_segments")).scalar_one() > 0
    command.upgrade(alembic_config(db_url), "head")
    with engine.connect() as conn:
        assert conn.execute(
            text("SELECT count(*) FROM network_segments WHERE location_class = 'C'")
        ).scalar_one() == len(specs)
    run_import(engine, _events_csv(tmp_path / "events.csv", specs), layer="events")
