"""`twin rules apply|list|tick|delete|examples` end to end on a real database."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, text
from typer.testing import CliRunner

from sensors_bridge.model import Observation
from sensors_bridge.store import BatchWriter
from tests.rules_support import LATER, add_device, at
from twin.cli import app


def test_apply_list_tick_delete(runner: CliRunner, engine: Engine, tmp_path: Path) -> None:
    examples = runner.invoke(app, ["rules", "examples"])
    assert examples.exit_code == 0 and "classroom-co2" in examples.stdout
    file = tmp_path / "rules.yaml"
    file.write_text(examples.stdout, encoding="utf-8")
    applied = runner.invoke(app, ["rules", "apply", str(file)])
    assert applied.exit_code == 0, applied.output
    assert "created 7" in applied.output
    again = runner.invoke(app, ["rules", "apply", str(file)])
    assert "unchanged 7" in again.output
    listed = runner.invoke(app, ["rules", "list"])
    assert "flood-gauge-silent" in listed.stdout and "no_data" in listed.stdout
    # the gauge spoke at 0, then fell silent: the sweep at 16 minutes opens the alert
    add_device(engine, "gauge", "flood_gauge")
    BatchWriter(engine, "http").write([Observation("gauge", "stage_m", 0.4, at(0))], now=LATER)
    early = runner.invoke(app, ["rules", "tick", "--at", at(14).isoformat()])
    assert early.exit_code == 0 and early.output.startswith("0 rule states changed")
    late = runner.invoke(app, ["rules", "tick", "--at", at(16).isoformat()])
    assert late.output.startswith("1 rule states changed"), late.output
    with engine.connect() as conn:
        assert conn.execute(text("SELECT rule FROM alerts")).scalars().all() == [
            "flood-gauge-silent"
        ]
    deleted = runner.invoke(app, ["rules", "delete", "flood-red"])
    assert deleted.exit_code == 0
    assert "flood-red" not in runner.invoke(app, ["rules", "list"]).stdout
    with engine.connect() as conn:
        actors = conn.execute(text("SELECT DISTINCT actor FROM audit_log WHERE kind = 'rule'"))
        assert all(a.startswith("cli") for a in actors.scalars())


def test_a_bad_file_applies_nothing(runner: CliRunner, engine: Engine, tmp_path: Path) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text("- name: a\n  metric: co2\n  raise: 1\n- name: b\n  metric: co2\n", "utf-8")
    got = runner.invoke(app, ["rules", "apply", str(file)])
    assert got.exit_code != 0
    assert "bad.yaml line 4, [1]: metric 'co2' needs a `raise` level" in got.output
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM rules")).scalar_one() == 0
    missing = runner.invoke(app, ["rules", "apply", str(tmp_path / "none.yaml")])
    assert missing.exit_code != 0 and "no such file" in missing.output
