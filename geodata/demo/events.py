"""Synthetic breaks of the demo's water and sewer mains, from a stated model.

Not real data (every event is ``synthetic``): the demo's networks are generated
(:mod:`geodata.demo.networks`), so are their breaks. The model is the one the ageing
analysis fits (:mod:`twin.analysis.ageing.survival`, simulated there): a Weibull hazard of
shape 2.0 whose scale (years, for one km of main) depends on the material, times
``(1 + 0.3 · breaks so far)``, recorded from 2005-01-01 to 2025-12-31 only (earlier breaks
happened but were not recorded: the analysis' left truncation). Seeded: the same events
every run.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
from sqlalchemy import Connection, text

from geodata.demo.names import SEED, SYNTHETIC

#: the demo's break records: source name and window
EVENTS_SOURCE = "demo-breaks"
RECORDS_START = date(2005, 1, 1)
RECORDS_END = date(2025, 12, 31)
SHAPE = 2.0
ALPHA = 0.3
#: Weibull scale (years, one km) by material; others take DEFAULT_SCALE
SCALES = {
    "cast iron": 45.0,
    "ductile iron": 90.0,
    "pvc": 70.0,
    "pe": 110.0,
    "concrete": 60.0,
}
DEFAULT_SCALE = 70.0
NETWORKS = ("water", "wastewater")


def generate_breaks(conn: Connection) -> int:
    """Replace the demo's break records; returns how many were generated."""
    from geodata.importers.events import store_events
    from twin.analysis.ageing.survival import simulate_breaks

    rows = conn.execute(
        text(
            "SELECT source_id, material, install_year, ST_Length(geom) FROM network_segments"
            " WHERE source = :s AND network = ANY(:n) AND scenario_id IS NULL"
            " AND install_year IS NOT NULL ORDER BY id"
        ),
        {"s": SYNTHETIC, "n": list(NETWORKS)},
    ).all()
    if not rows:
        return 0
    laid = np.array([date(int(r[2]), 7, 1).toordinal() for r in rows], dtype=float)
    start = np.maximum((RECORDS_START.toordinal() - laid) / 365.25, 0.0)
    end = np.maximum((RECORDS_END.toordinal() - laid) / 365.25, 0.0)
    scale = np.array([SCALES.get((r[1] or "").lower(), DEFAULT_SCALE) for r in rows])
    length_km = np.array([float(r[3]) for r in rows]) / 1000.0
    # a material's scale enters as a proportional multiplier of the shape-2 baseline
    multiplier = length_km * (DEFAULT_SCALE / scale) ** SHAPE
    rng = np.random.default_rng(SEED)
    seg, age = simulate_breaks(rng, start, end, multiplier, SHAPE, DEFAULT_SCALE, ALPHA)
    events = [
        (
            f"break {k + 1}",
            {
                "segment": rows[i][0],
                "kind": "break",
                "date": (
                    date.fromordinal(int(laid[i])) + timedelta(days=float(a) * 365.25)
                ).isoformat(),
            },
        )
        for k, (i, a) in enumerate(zip(seg, age, strict=True))
    ]
    store_events(conn, events, source=EVENTS_SOURCE, file="demo breaks", synthetic=True)
    return len(events)
