"""Scenario edits as the application makes them: checked, written, audited, then the
scenario's tileset rebuilt — the one path the API (``/api/scenarios``) and the CLI
(``twin scenarios``) share.

The edit and its audit row commit together (:func:`twin.audit.record` in the edit's
transaction); the tileset ``scenario-{slug}`` is rebuilt right after the commit by the
incremental build (:func:`tiles.build.build_tileset`: the change log makes it proportional to
the edit), so the viewer shows the edit on its next load. A build that fails leaves the edit
committed and says so in the answer (``tileset.error``); ``twin tiles build --scenario SLUG``
then retries it.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

from geodata import scenarios as data
from geodata.access import Principal, check_role, check_visibility
from geodata.errors import Conflict
from geodata.importers.base import ImportOptions
from twin import audit
from twin.settings import Settings

LOGGER = logging.getLogger(__name__)
#: who may create, edit and delete scenarios
EDITORS = ("planner", "admin")
T = TypeVar("T")
#: one build of a scenario's tileset at a time in this process (two edits in a row queue)
_BUILD_LOCK = threading.Lock()


def tileset_name(slug: str) -> str:
    return f"scenario-{slug}"


def visible_scenarios(engine: Engine, user: Principal) -> list[dict[str, Any]]:
    """The scenarios the caller may see (a scenario of a project is as visible as it)."""
    with engine.connect() as conn:
        rows = data.list_scenarios(conn)
        out = []
        for r in rows:
            if not user.may_see(r.visibility):
                continue
            e = data.edits(conn, r.slug)
            out.append(
                {
                    "slug": r.slug,
                    "name": r.name,
                    "description": r.description,
                    "project": r.project,
                    "visibility": r.visibility,
                    "added": len(e["added"]),
                    "raised": len(e["raised"]),
                    "removed": len(e["removed"]),
                    "tileset": tileset_name(r.slug),
                }
            )
    return out


def describe(engine: Engine, user: Principal, slug: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = data.get_scenario(conn, slug)
        check_visibility(user, row.visibility, f"scenario {slug!r}")
        doc = data.edits(conn, slug)
    return {**doc, "tileset": tileset_name(slug)}


class ScenarioEditor:
    """Edits of scenarios by one principal (planners and admins), audited and rebuilt."""

    def __init__(
        self, engine: Engine, settings: Settings, user: Principal, client: str | None = None
    ) -> None:
        check_role(user, *EDITORS)
        self.engine, self.settings, self.user, self.client = engine, settings, user, client
        self.actor = user.name or user.role

    def _edit(
        self, slug: str, what: str, change: Callable[[Connection], T], detail: dict[str, Any]
    ) -> T:
        with self.engine.begin() as conn:
            if what != "create":
                row = data.get_scenario(conn, slug)
                check_visibility(self.user, row.visibility, f"scenario {slug!r}")
            result = change(conn)
            audit.record(
                conn,
                "scenario",
                self.actor,
                f"scenario {slug}",
                {"edit": what, **detail},
                self.client,
            )
        return result

    def rebuild(self, slug: str) -> dict[str, Any]:
        """Rebuild the scenario's tileset now (incremental); the build's figures, or its
        error (the edit stays committed)."""
        from tiles.build import build_tileset

        try:
            with _BUILD_LOCK:
                r = self._build_when_free(build_tileset, slug)
        except Exception as exc:  # the edit is committed: say the build failed, never hide it
            LOGGER.exception("rebuilding tileset %s failed", tileset_name(slug))
            return {"name": tileset_name(slug), "error": f"{type(exc).__name__}: {exc}"}
        return {
            "name": tileset_name(slug),
            "mode": r.mode,
            "features": r.features,
            "changed": r.changed,
            "tiles_written": r.written,
            "tiles_reused": r.reused,
            "empty": r.empty,
            "seconds": round(r.seconds, 3),
        }

    def _build_when_free(self, build: Callable[..., Any], slug: str) -> Any:
        """Build; another process building the same tileset (tiles.build's file lock: a
        Conflict) is waited for, up to a minute, rather than failing the edit's rebuild."""
        for attempt in range(120):
            try:
                return build(
                    self.engine, tileset_name(slug), self.settings.tiles_dir, scenario=slug
                )
            except Conflict:
                if attempt == 119:
                    raise
                time.sleep(0.5)
        raise AssertionError("unreachable")

    def _options(self) -> ImportOptions:
        return ImportOptions.from_settings(self.settings)

    def create(self, slug: str, name: str | None = None, description: str = "") -> dict[str, Any]:
        row = self._edit(
            slug,
            "create",
            lambda c: data.create_scenario(c, slug, name, description),
            {"name": name or slug},
        )
        return {"slug": row.slug, "name": row.name, "tileset": self.rebuild(slug)}

    def delete(self, slug: str) -> dict[str, Any]:
        self._edit(slug, "delete", lambda c: data.delete_scenario(c, slug), {})
        shutil.rmtree(Path(self.settings.tiles_dir) / tileset_name(slug), ignore_errors=True)
        return {"slug": slug, "deleted": True}

    def add_footprint(self, slug: str, footprint: Any, **kw: Any) -> dict[str, Any]:
        report = self._edit(
            slug,
            "add",
            lambda c: data.add_footprint(c, slug, footprint, options=self._options(), **kw),
            {"footprint": footprint.wkt[:200], **{k: v for k, v in kw.items() if k != "srid"}},
        )
        return self._added(slug, report)

    def add_file(self, slug: str, path: Path, **kw: Any) -> dict[str, Any]:
        report = self._edit(
            slug,
            "add",
            lambda c: data.add_file(c, slug, path, options=self._options(), **kw),
            {"file": Path(path).name},
        )
        return self._added(slug, report)

    def _added(self, slug: str, report: Any) -> dict[str, Any]:
        with self.engine.connect() as conn:
            added = data.edits(conn, slug)["added"]
        return {
            "slug": slug,
            "inserted": report.inserted,
            "updated": report.updated,
            "source": report.source,
            "added": [a for a in added if a["source"] == report.source],
            "tileset": self.rebuild(slug),
        }

    def raise_building(
        self, slug: str, building_id: int, height: float, levels: int | None = None
    ) -> dict[str, Any]:
        done = self._edit(
            slug,
            "raise",
            lambda c: data.raise_building(c, slug, building_id, height, levels),
            {"building": building_id, "height": height, "levels": levels},
        )
        return {"slug": slug, **done, "tileset": self.rebuild(slug)}

    def remove_building(self, slug: str, building_id: int) -> dict[str, Any]:
        done = self._edit(
            slug,
            "remove",
            lambda c: data.remove_building(c, slug, building_id),
            {"building": building_id},
        )
        return {"slug": slug, **done, "tileset": self.rebuild(slug)}
