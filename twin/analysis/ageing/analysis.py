"""The ageing analysis: read the network and its breaks, fit, score, rank, store.

Segments of unknown install year are kept: they are scored at the median install year of
the network's segments of the same material (else of the whole network), say so
(``age_known: false``), and are left out of the fit only (their exposure is unknown).
"""

from __future__ import annotations

import csv
import io
import math
from datetime import UTC, date, datetime
from typing import Any, ClassVar

import numpy as np
from pydantic import Field
from sqlalchemy import Connection, text

from geodata.errors import Forbidden, InputError
from geodata.vocab import NETWORKS
from twin.analysis.base import Analysis, AnalysisContext, Params, Result

#: roles that may write the scores the tiles show (others get them computed, not stored)
STORING_ROLES = ("operator", "admin")
#: a material with fewer segments than this joins "other" (too few to fit a coefficient)
MIN_SEGMENTS_PER_MATERIAL = 5
YEAR = 365.25


class AgeingParams(Params):
    network: str = Field("water", description="which network: water, wastewater, ...")
    horizon: float = Field(10.0, gt=0, le=100, description="years ahead of the as-of date")
    as_of: date | None = Field(None, description="the date ages are taken at; default today")
    records_start: date | None = Field(
        None, description="when break records start (left truncation); default the first one"
    )
    store: bool = Field(
        False, description="write renewal_score on the segments (operators and admins)"
    )


class NetworkAgeing(Analysis[AgeingParams]):
    name = "ageing"
    title = "Network ageing: break model, failure probability × consequence, renewal scores"
    Params = AgeingParams
    layers: ClassVar[tuple[str, ...]] = ("networks",)
    tables: ClassVar[tuple[str, ...]] = ("network_segments", "network_events")
    #: a city's mains (thousands of segments) take seconds to fit: a job, with progress
    slow: ClassVar[bool] = True
    example: ClassVar[dict[str, Any]] = {"network": "water", "horizon": 10}

    def run(self, ctx: AnalysisContext, params: AgeingParams) -> Result:
        if params.network not in NETWORKS:
            raise InputError(
                f"network {params.network!r} is not one of the twin's: {', '.join(NETWORKS)}"
            )
        if params.store and ctx.principal.role not in STORING_ROLES:
            raise Forbidden("storing renewal scores (store=true) is for operators and admins")
        as_of = params.as_of or datetime.now(UTC).date()
        with ctx.engine.connect() as conn:
            segs = _segments(conn, params.network)
            events = _breaks(conn, params.network)
        if not segs:
            raise InputError(f"the {params.network} network has no segment: import one first")
        starts = [d for _, d in events if d <= as_of]
        if not starts:
            raise InputError(
                f"no break of the {params.network} network recorded by {as_of}: import them "
                "with `twin import events.csv --layer events` (segment, kind, date)"
            )
        records_start = params.records_start or min(starts)
        if records_start >= as_of:
            raise InputError(f"--records-start {records_start} is not before --as-of {as_of}")
        ctx.progress(0.1, "fitting the break model")
        doc, scored = score_segments(segs, events, as_of, records_start, params.horizon)
        ctx.progress(0.8, "ranking")
        if params.store:
            with ctx.engine.begin() as conn:
                doc["stored"] = _store(conn, scored)
        doc.update(
            network=params.network,
            horizon_years=params.horizon,
            as_of=as_of.isoformat(),
            records_start=records_start.isoformat(),
        )
        return Result(doc, {"ageing.csv": _csv(doc["segments"])})


def _segments(conn: Connection, network: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        text(
            "SELECT id, source_id, material, diameter_mm, install_year, ST_Length(geom) AS len,"
            " ST_X(ST_StartPoint(geom)) x0, ST_Y(ST_StartPoint(geom)) y0,"
            " ST_X(ST_EndPoint(geom)) x1, ST_Y(ST_EndPoint(geom)) y1 FROM network_segments"
            " WHERE network = :n AND scenario_id IS NULL ORDER BY id"
        ),
        {"n": network},
    ).mappings()
    return [dict(r) for r in rows]


def _breaks(conn: Connection, network: str) -> list[tuple[int, date]]:
    rows = conn.execute(
        text(
            "SELECT e.segment_id, e.date FROM network_events e JOIN network_segments s"
            " ON s.id = e.segment_id WHERE s.network = :n AND s.scenario_id IS NULL"
            " AND e.kind = 'break' ORDER BY e.segment_id, e.date"
        ),
        {"n": network},
    )
    return [(int(r[0]), r[1]) for r in rows]


def _impute_years(segs: list[dict[str, Any]], as_of: date) -> tuple[Any, Any]:
    year = np.array([s["install_year"] or np.nan for s in segs], dtype=float)
    known = ~np.isnan(year)
    mats = np.array([(s["material"] or "unknown").lower() for s in segs], dtype=object)
    overall = float(np.median(year[known])) if known.any() else as_of.year - 50.0
    out = year.copy()
    for m in set(mats[~known]):
        same = known & (mats == m)
        out[~known & (mats == m)] = float(np.median(year[same])) if same.any() else overall
    return out, known


def score_segments(
    segs: list[dict[str, Any]],
    events: list[tuple[int, date]],
    as_of: date,
    records_start: date,
    horizon: float,
) -> tuple[dict[str, Any], list[tuple[int, float]]]:
    """The analysis without the database: the result document and (row id, score) pairs."""
    from twin.analysis.ageing.criticality import consequence, downstream_nodes
    from twin.analysis.ageing.scores import renewal_scores
    from twin.analysis.ageing.survival import Exposure, fit_break_model

    n = len(segs)
    index = {s["id"]: i for i, s in enumerate(segs)}
    year, known = _impute_years(segs, as_of)
    laid = np.array([date(int(y), 7, 1).toordinal() for y in year], dtype=float)
    age = np.maximum((as_of.toordinal() - laid) / YEAR, 0.01)
    start = np.clip((records_start.toordinal() - laid) / YEAR, 0.0, None)
    start = np.minimum(start, age)
    window = [(index[s], d) for s, d in events if records_start <= d <= as_of]
    b_seg = np.array([i for i, _ in window], dtype=np.int64)
    b_age = np.array([(d.toordinal() - laid[i]) / YEAR for i, d in window], dtype=float)
    b_age = np.maximum(b_age, start[b_seg] if len(b_seg) else b_age)
    past = np.bincount(b_seg, minlength=n).astype(float)

    mats = np.array([(s["material"] or "unknown").lower() for s in segs], dtype=object)
    values, counts = np.unique(mats, return_counts=True)
    common = [str(v) for v, c in zip(values, counts, strict=True) if c >= MIN_SEGMENTS_PER_MATERIAL]
    grouped = np.where(np.isin(mats, common), mats, "other")
    groups, gcount = np.unique(grouped, return_counts=True)
    reference = str(groups[int(np.argmax(gcount))])
    dummies = [str(g) for g in groups if g != reference]
    diam = np.array([s["diameter_mm"] or np.nan for s in segs], dtype=float)
    diam_f = np.where(np.isnan(diam), np.nanmedian(diam) if (~np.isnan(diam)).any() else 100, diam)
    logd = np.log(diam_f)
    zd = (logd - logd.mean()) / (logd.std() or 1.0)
    x = np.column_stack([*(grouped == g for g in dummies), zd]).astype(float)
    names = [f"material:{g}" for g in dummies] + ["log_diameter_z"]
    length_km = np.array([s["len"] for s in segs], dtype=float) / 1000.0

    fit_rows = np.flatnonzero(known)
    keep = np.isin(b_seg, fit_rows)
    remap = -np.ones(n, dtype=np.int64)
    remap[fit_rows] = np.arange(len(fit_rows))
    model = fit_break_model(
        Exposure(
            x[fit_rows],
            length_km[fit_rows],
            start[fit_rows],
            age[fit_rows],
            remap[b_seg[keep]],
            b_age[keep],
        ),
        names,
    )
    prob = model.failure_probability(age, horizon, x, length_km, past)
    ends = [((s["x0"], s["y0"]), (s["x1"], s["y1"])) for s in segs]
    down = np.array(downstream_nodes(ends))
    vertices = len({(round(a[0] / 0.1), round(a[1] / 0.1)) for e in ends for a in e})
    cof = consequence(down, diam, vertices)
    lin = x @ model.coefficients
    mat_term = np.exp(x[:, : len(dummies)] @ model.coefficients[: len(dummies)])
    dh = np.power((age + horizon) / model.scale, model.shape) - np.power(
        age / model.scale, model.shape
    )
    terms = {
        "age": dh,
        "material": mat_term,
        "diameter": np.exp(lin) / mat_term,
        "length": length_km,
        "past_breaks": 1.0 + model.alpha * past,
    }
    score, factors = renewal_scores(prob, cof, terms)
    items = [
        {
            "source_id": s["source_id"],
            "material": s["material"],
            "diameter_mm": s["diameter_mm"],
            "install_year": s["install_year"],
            "age_known": bool(known[i]),
            "age_years": round(float(age[i]), 1),
            "length_m": round(float(s["len"]), 1),
            "past_breaks": int(past[i]),
            "failure_probability": round(float(prob[i]), 5),
            "downstream_nodes": int(down[i]),
            "consequence": round(float(cof[i]), 4),
            "renewal_score": float(score[i]),
            "factors": factors[i],
        }
        for i, s in enumerate(segs)
    ]
    order = sorted(range(n), key=lambda i: (-items[i]["renewal_score"], items[i]["source_id"]))
    ranked = [items[i] | {"rank": r + 1} for r, i in enumerate(order)]
    doc = {
        "model": model.as_dict() | {"reference_material": reference},
        "consequence_model": "topological (networkx bridges: nodes cut off beyond the segment,"
        " blended with relative diameter); WNTR's hydraulic criticality is not usable here "
        "(its binary needs numpy 1)",
        "segments_scored": n,
        "unknown_age": int((~known).sum()),
        "unknown_age_rule": "scored at the median install year of the same material (else "
        "the network's); left out of the fit",
        "breaks_in_records": len(window),
        "summary": _summary(ranked),
        "segments": ranked,
    }
    return doc, [(segs[i]["id"], float(score[i])) for i in range(n)]


def _summary(items: list[dict[str, Any]]) -> dict[str, Any]:
    """By material (the twin has no districts layer to group by)."""
    out: dict[str, dict[str, Any]] = {}
    for it in items:
        g = out.setdefault(
            it["material"] or "unknown",
            {"segments": 0, "length_km": 0.0, "breaks": 0, "mean_score": 0.0, "top_score": 0.0},
        )
        g["segments"] += 1
        g["length_km"] += it["length_m"] / 1000
        g["breaks"] += it["past_breaks"]
        g["mean_score"] += it["renewal_score"]
        g["top_score"] = max(g["top_score"], it["renewal_score"])
    for g in out.values():
        g["mean_score"] = round(g["mean_score"] / g["segments"], 2)
        g["length_km"] = round(g["length_km"], 3)
    return {"by": "material", "groups": out}


def _store(conn: Connection, scored: list[tuple[int, float]]) -> int:
    """Write the scores where they changed (an unchanged score logs no tile change)."""
    if not scored:
        return 0
    ids = [i for i, _ in scored]
    values = [0.0 if math.isnan(s) else s for _, s in scored]
    result = conn.execute(
        text(
            "UPDATE network_segments s SET renewal_score = v.score FROM"
            " unnest(CAST(:ids AS bigint[]), CAST(:scores AS float8[])) AS v(id, score)"
            " WHERE s.id = v.id AND s.renewal_score IS DISTINCT FROM v.score"
        ),
        {"ids": ids, "scores": values},
    )
    return int(result.rowcount or 0)


def _csv(items: list[dict[str, Any]]) -> bytes:
    from twin.analysis.ageing.scores import FACTORS

    buf = io.StringIO()
    w = csv.writer(buf)
    cols = [
        "rank",
        "source_id",
        "renewal_score",
        "failure_probability",
        "consequence",
        "material",
        "diameter_mm",
        "install_year",
        "age_known",
        "past_breaks",
        "length_m",
    ]
    w.writerow(cols + [f"factor_{f}" for f in FACTORS])
    for it in items:
        w.writerow([it[c] for c in cols] + [it["factors"][f] for f in FACTORS])
    return buf.getvalue().encode()
