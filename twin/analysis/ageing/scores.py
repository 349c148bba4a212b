"""From a fitted break model to renewal scores: probability × consequence, 0-100, and the
score points each factor accounts for.

``risk = P(break within the horizon) × (0.5 + 0.5 · consequence)``: a pipe nothing depends
on still scores by its own probability, a critical one up to twice that. The score is
``100 · risk / the network's largest risk`` (a ranking: the first to renew scores 100).

Factors: the break rate is a product (length × age term × material × diameter × past
breaks) and the risk multiplies it by the consequence term. Each factor's weight is how far
it moves the segment away from the network's median segment, ``|ln(value / median)|``; the
score's points are shared in proportion to those weights (evenly when the segment is the
median one in every respect), rounded to 0.01 with the rounding put on the largest share,
so the factors always add up to the score. This is an attribution, not a decomposition of
a sum: it says which traits make a segment stand out.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

FACTORS = ("age", "material", "diameter", "length", "past_breaks", "consequence")


def renewal_scores(
    probability: NDArray[Any], consequence: NDArray[Any], terms: dict[str, NDArray[Any]]
) -> tuple[NDArray[Any], list[dict[str, float]]]:
    """Scores (0-100, 2 decimals) and their factors, given the probability, the consequence
    (0..1) and every factor's multiplicative term (``FACTORS``; consequence's is added)."""
    cons_term = 0.5 + 0.5 * np.asarray(consequence, dtype=float)
    risk = np.asarray(probability, dtype=float) * cons_term
    top = float(risk.max()) if len(risk) else 0.0
    score = np.round(100.0 * risk / top, 2) if top > 0 else np.zeros(len(risk))
    all_terms = {**terms, "consequence": cons_term}
    weights = (
        np.column_stack(
            [
                np.abs(np.log(np.maximum(all_terms[f], 1e-12) / max(_median(all_terms[f]), 1e-12)))
                for f in FACTORS
            ]
        )
        if len(risk)
        else np.zeros((0, len(FACTORS)))
    )
    factors: list[dict[str, float]] = []
    for s, w in zip(score, weights, strict=True):
        total = float(w.sum())
        share = w / total if total > 1e-12 else np.full(len(FACTORS), 1.0 / len(FACTORS))
        points = np.round(share * s, 2)
        points[int(np.argmax(points))] += round(float(s) - float(points.sum()), 2)
        factors.append({f: round(float(p), 2) for f, p in zip(FACTORS, points, strict=True)})
    return score, factors


def _median(values: NDArray[Any]) -> float:
    return float(np.median(values)) if len(values) else 1.0
