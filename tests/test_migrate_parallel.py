"""Several replicas starting at once migrate one fresh database without tripping on each other
(#14 defect 7: they used to fail with UniqueViolation on CREATE EXTENSION / alembic_version)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import text

from geodata.db import head_revision, make_engine

REPLICAS = 4
#: each replica waits until every one is ready, so the migrations really start together
_REPLICA = """
import sys, time
from geodata.db import migrate
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
migrate(sys.argv[1])
"""


def test_replicas_migrating_at_once_all_succeed(empty_db_url: str) -> None:
    start = f"{time.time() + 4.0:.3f}"  # Alembic's import takes about a second per process
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _REPLICA, empty_db_url, start],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        for _ in range(REPLICAS)
    ]
    results = [(p.communicate(timeout=120)[1], p.returncode) for p in procs]
    failed = [
        next((line for line in err.splitlines() if "Error" in line), err[-300:])
        for err, code in results
        if code != 0
    ]
    assert not failed, failed
    engine = make_engine(empty_db_url)
    try:
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    finally:
        engine.dispose()
    assert [v[0] for v in versions] == [head_revision()]
