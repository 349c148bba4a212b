"""``twin import events.csv|events.geojson --layer events``: breaks and repairs of network
segments into ``network_events``, for the ageing analysis.

A row (CSV) or feature's properties (GeoJSON; its geometry, if any, is ignored: the event
belongs to its segment) gives ``segment`` (the segment's ``source_id``), ``kind`` (``break``
or ``repair``) and ``date`` (ISO 8601, ``YYYY-MM-DD``; a time of day is dropped); an optional
``synthetic`` (true/false). All-or-nothing: every row is checked first, and the refusal
names every unknown segment (up to 20) with its line (CSV; the header is line 1) or feature
number (GeoJSON, from 1). Re-importing a source (default: the file's stem) replaces its
events, so an import is idempotent.
"""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from geodata.errors import ImportFailed
from geodata.importers.report import ImportReport
from geodata.pg import raw_connection, transaction
from geodata.vocab import EVENT_KINDS

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from geodata.pg import AnyConnection

#: the name ``twin import --layer`` takes for events
EVENTS_LAYER = "events"
_SHOWN = 20


def read_events(path: Path) -> tuple[list[tuple[str, dict[str, Any]]], str]:
    """(where, properties) per event, and how the places are named ("line" or "feature")."""
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as f:
            sample = f.read(4096)
            f.seek(0)
            try:
                dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
            except csv.Error:
                dialect = csv.excel
            rows = list(csv.DictReader(f, dialect=dialect))
        return [
            (f"line {i + 2}", {k.strip().lower(): v for k, v in r.items() if k})
            for i, r in enumerate(rows)
        ], "line"
    if path.suffix.lower() in (".geojson", ".json"):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ImportFailed(f"{path.name}: not JSON ({exc})") from None
        feats = doc.get("features") if isinstance(doc, dict) else None
        if not isinstance(feats, list):
            raise ImportFailed(f"{path.name}: a GeoJSON FeatureCollection is expected")
        out = []
        for i, feat in enumerate(feats):
            props = (feat or {}).get("properties") or {}
            out.append((f"feature {i + 1}", {str(k).lower(): v for k, v in props.items()}))
        return out, "feature"
    raise ImportFailed(f"{path.name}: events are read from .csv or .geojson files")


def _date(value: Any, where: str) -> date:
    s = str(value or "").strip()[:10]
    try:
        return date.fromisoformat(s)
    except ValueError:
        raise ImportFailed(
            f"{where}: date {value!r} is not an ISO date; write it YYYY-MM-DD"
        ) from None


def import_events(db: Engine | str, path: Path, *, source: str | None = None) -> ImportReport:
    """Check every event, then replace the source's events in one transaction (``db``: an
    engine or the database URL, as :func:`geodata.importers.pipeline.run_import` takes)."""
    path = Path(path)
    if not path.exists():
        raise ImportFailed(f"{path}: no such file")
    events, _ = read_events(path)
    source = source or path.name.split(".")[0]
    with transaction(db) as conn:
        return store_events(conn, events, source=source, file=path.name)


def store_events(
    conn: AnyConnection,
    events: list[tuple[str, dict[str, Any]]],
    *,
    source: str,
    file: str,
    synthetic: bool = False,
) -> ImportReport:
    """Check, then write ``events`` (inside the caller's transaction)."""
    report = ImportReport(file=file, layer=EVENTS_LAYER, source=source, reader="events")
    report.read = len(events)
    if events:
        missing = [c for c in ("segment", "kind", "date") if c not in events[0][1]]
        if missing:
            raise ImportFailed(
                f"{file}: no column {', '.join(map(repr, missing))}; events need segment "
                "(the segment's source id), kind (break or repair) and date (YYYY-MM-DD)"
            )
    wanted = sorted({str(p.get("segment") or "").strip() for _, p in events} - {""})
    raw = raw_connection(conn)
    ids: dict[str, list[int]] = {}
    for sid, rid in raw.execute(
        "SELECT source_id, id FROM network_segments WHERE scenario_id IS NULL"
        " AND source_id = ANY(%s)",
        (wanted,),
    ):
        ids.setdefault(sid, []).append(int(rid))
    rows: list[dict[str, Any]] = []
    unknown: list[str] = []
    for where, p in events:
        seg = str(p.get("segment") or "").strip()
        kind = str(p.get("kind") or "").strip().lower()
        if not seg:
            raise ImportFailed(f"{file}, {where}: no segment (the segment's source id)")
        if kind not in EVENT_KINDS:
            raise ImportFailed(
                f"{file}, {where}: kind {p.get('kind')!r}; accepted: {', '.join(EVENT_KINDS)}"
            )
        when = _date(p.get("date"), f"{file}, {where}")
        if not date(1700, 1, 1) <= when <= date(2100, 12, 31):
            raise ImportFailed(f"{file}, {where}: date {when} is outside 1700-2100")
        found = ids.get(seg)
        if not found:
            unknown.append(f"{where}: {seg!r}")
            continue
        if len(found) > 1:
            raise ImportFailed(
                f"{file}, {where}: segment {seg!r} names {len(found)} segments (several "
                "sources use that id); give the events of each source a distinct file"
            )
        flag = str(p.get("synthetic", synthetic)).strip().lower() in ("true", "1", "yes")
        rows.append({"seg": found[0], "kind": kind, "date": when, "src": source, "syn": flag})
    if unknown:
        shown = "; ".join(unknown[:_SHOWN]) + ("; ..." if len(unknown) > _SHOWN else "")
        raise ImportFailed(
            f"{file}: {len(unknown)} event(s) name no segment of the twin ({shown}); "
            "segment is a network segment's source_id (import the networks first)"
        )
    deleted = raw.execute("DELETE FROM network_events WHERE source = %s", (source,)).rowcount
    if rows:
        raw.cursor().executemany(
            "INSERT INTO network_events (segment_id, kind, date, source, synthetic)"
            " VALUES (%(seg)s, %(kind)s, %(date)s, %(src)s, %(syn)s)",
            rows,
        )
    report.inserted = len(rows)
    report.deleted = int(deleted or 0)
    return report
