"""The viewer benchmark runs end to end at city scale (slow: excluded from `make test`).

25,000 synthetic buildings are enough for the far field to switch on; one short lap each for
the viewer and CesiumJS. Timing is reported, never asserted: the machine is shared.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_viewer_benchmark_runs_the_viewer_and_cesium_on_a_synthetic_city() -> None:
    proc = subprocess.run(
        [
            *(sys.executable, str(ROOT / "bench" / "viewer.py"), "--buildings", "25000"),
            *("--laps", "2", "--fly-seconds", "3", "--json"),
        ],
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    out = json.loads(proc.stdout[proc.stdout.index("\n{") :])
    table, raw = out["table"], out["raw"]
    for who in ("viewer", "cesium"):
        run = raw[who]
        assert run["page_errors"] == []
        assert run["first_view"]["tile_bytes"] > 0 and len(run["laps"]) == 2
        assert all(lap["frames"] > 0 and lap["heap_bytes"] > 0 for lap in run["laps"])
    assert 0 < table["first view share"]["viewer"] < 1
