"""The demo's ageing step (``twin demo``): synthetic breaks (:mod:`geodata.demo.events`),
then the water and sewer mains scored and the scores stored, so the network tiles the demo
builds next carry ``renewal_score``. Ages are taken at the end of the demo's records, so
the scores are the same every run."""

from __future__ import annotations

from sqlalchemy import Engine

from geodata.demo.events import NETWORKS, RECORDS_END, RECORDS_START, generate_breaks


def load_demo_ageing(engine: Engine) -> list[str]:
    from twin.analysis.ageing.analysis import _breaks, _segments, _store, score_segments

    with engine.begin() as conn:
        generated = generate_breaks(conn)
    lines = [
        f"demo breaks: {generated} synthetic breaks of the water and sewer mains "
        f"({RECORDS_START} to {RECORDS_END}; Weibull model by material, not real records)"
    ]
    for network in NETWORKS:
        with engine.begin() as conn:
            segs, events = _segments(conn, network), _breaks(conn, network)
            if not segs or not events:
                continue
            doc, scored = score_segments(segs, events, RECORDS_END, RECORDS_START, 10.0)
            _store(conn, scored)
        top = doc["segments"][0]
        lines.append(
            f"renewal scores: {network} {len(segs)} segments scored (first to renew: "
            f"{top['source_id']}, {top['renewal_score']})"
        )
    return lines
