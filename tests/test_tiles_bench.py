"""The tiles benchmark runs end to end (slow: excluded from `make test`, run with -m slow)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_tiles_benchmark_runs_ours_and_py3dtiles() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "tiles.py"), "--sizes", "2000"],
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (result,) = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["n"] == 2000 and result["ours_per_s"] > 0 and result["py3dtiles_per_s"] > 0
    assert result["ratio"] > 1
    assert result["first_view_fraction"] <= 0.10


@pytest.mark.slow
def test_incremental_benchmark_runs_every_step() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "tiles.py"), "--incremental", "--sizes", "5000"],
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (result,) = json.loads(proc.stdout.strip().splitlines()[-1])
    modes = [s["mode"] for s in result["steps"]]
    assert modes == ["full", "unchanged", "incremental", "incremental"]
    assert result["steps"][1]["written"] == 0 and result["py3dtiles_s"] > 0
    assert all(s["changed_rows"] > 0 for s in result["steps"][2:])
