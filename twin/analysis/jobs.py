"""Slow analyses as jobs: the request answers at once with the job's address; the work runs
in a thread of the app worker that took it, and its state (progress, then the result's key or
the error) is a small JSON file, so any worker behind the load balancer can answer a poll.

A job that dies with its worker stays "running" on disk; :meth:`JobRunner.read` reports it
as failed once its state has not moved for ``STALE_S`` seconds.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from geodata.access import Principal, check_visibility
from geodata.errors import NotFound, TwinError
from twin.analysis.base import Analysis, AnalysisContext, Params
from twin.analysis.runner import run_analysis

log = logging.getLogger(__name__)

#: a running job whose state file has not changed for this long lost its worker
STALE_S = 600.0
#: progress is written at most this often
_EVERY_S = 0.25


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class JobRunner:
    def __init__(self, root: Path, workers: int) -> None:
        self.root = root
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="analysis")
        self._lock = threading.Lock()

    def _path(self, job_id: str) -> Path:
        if not job_id.isalnum():
            raise NotFound(f"no analysis job {job_id!r}")
        return self.root / f"{job_id}.json"

    def _write(self, state: dict[str, Any]) -> None:
        path = self._path(state["id"])
        tmp = path.with_name(f".{path.name}.{threading.get_ident()}")
        tmp.write_text(json.dumps(state), encoding="utf-8")
        os.replace(tmp, path)

    def submit(self, analysis: Analysis[Any], ctx: AnalysisContext, params: Params) -> str:
        """Check access now (a refused caller gets 401/403, not a job), queue the work and
        return the job's id."""
        visibility = analysis.check(ctx, params)
        self.root.mkdir(parents=True, exist_ok=True)
        job_id = uuid.uuid4().hex
        state: dict[str, Any] = {
            "id": job_id,
            "analysis": analysis.name,
            "status": "queued",
            "progress": 0.0,
            "message": "",
            "visibility": visibility,
            "key": None,
            "error": None,
            "submitted_at": _now(),
            "finished_at": None,
        }
        self._write(state)
        self._pool.submit(self._run, analysis, ctx, params, state)
        return job_id

    def _run(
        self, analysis: Analysis[Any], ctx: AnalysisContext, params: Params, state: dict[str, Any]
    ) -> None:
        last = 0.0

        def progress(share: float, what: str) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last < _EVERY_S and share < 1.0:
                return
            last = now
            with self._lock:
                state.update(progress=round(min(max(share, 0.0), 1.0), 4), message=what)
                self._write(state)

        state["status"] = "running"
        self._write(state)
        try:
            outcome = run_analysis(analysis, replace(ctx, progress=progress), params)
        except TwinError as exc:
            state.update(status="failed", error=exc.message)
        except Exception:
            log.exception("analysis job %s (%s) failed", state["id"], analysis.name)
            state.update(status="failed", error="internal error: the server's log has the detail")
        else:
            state.update(status="done", progress=1.0, key=outcome.stored.key)
        state["finished_at"] = _now()
        with self._lock:
            self._write(state)

    def read(self, job_id: str, principal: Principal) -> dict[str, Any]:
        """A job's state, for a caller who may see its result (401/403 otherwise)."""
        path = self._path(job_id)
        try:
            state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            age = time.time() - path.stat().st_mtime
        except (FileNotFoundError, json.JSONDecodeError):
            raise NotFound(f"no analysis job {job_id!r}") from None
        check_visibility(principal, state["visibility"], f"analysis job {job_id}")
        if state["status"] in ("queued", "running") and age > STALE_S:
            state.update(status="failed", error="the worker running this job stopped; ask again")
        return state

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
