"""The break model of the ageing analysis: a LEYP-like Weibull proportional-hazards model.

A segment of age ``t`` (years) breaks at the rate

    λ(t) = L · h0(t) · exp(x·γ) · (1 + α·N(t⁻)),    h0(t) = (β/η)·(t/η)^(β−1)

where ``L`` is its length in km (breaks scale with length: an offset, not a fitted
coefficient), ``h0`` the Weibull baseline of shape ``β`` and scale ``η`` (years, for one
km with the reference covariates), ``x`` its covariates (material dummies, standardised log
diameter) and ``N(t⁻)`` the breaks it had since the records started: each past break raises
the rate by ``α`` (the Linear Extended Yule Process of Le Gat, simplified: ``α = 0`` is a
plain Weibull proportional-hazards model). The parameters are fitted by maximum likelihood
(scipy.optimize, L-BFGS-B) on the breaks seen between the records' start and the as-of
date: a segment older than the records is left-truncated, its exposure starting at its age
when the records started (breaks before that are unknown, not absent).

The plain Weibull functions (survival, median, conditional probability) are here too: they
are what the known-answer tests check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


def weibull_cumulative_hazard(t: Any, shape: float, scale: float) -> Any:
    """H(t) = (t/η)^β: the expected breaks of one unit from age 0 to ``t``."""
    return np.power(np.maximum(np.asarray(t, dtype=float), 0.0) / scale, shape)


def weibull_survival(t: Any, shape: float, scale: float) -> Any:
    """S(t) = exp(−(t/η)^β)."""
    return np.exp(-weibull_cumulative_hazard(t, shape, scale))


def weibull_median(shape: float, scale: float) -> float:
    """The age by which half the units have failed: η·(ln 2)^(1/β)."""
    return float(scale * math.log(2.0) ** (1.0 / shape))


def conditional_failure_probability(
    age: Any, horizon: float, shape: float, scale: float, multiplier: Any = 1.0
) -> Any:
    """P(a failure within ``horizon`` years | none so far at ``age``), for a proportional
    ``multiplier`` of the hazard: 1 − exp(−m·(H(age + horizon) − H(age)))."""
    dh = weibull_cumulative_hazard(np.asarray(age) + horizon, shape, scale)
    dh = dh - weibull_cumulative_hazard(age, shape, scale)
    return 1.0 - np.exp(-np.asarray(multiplier) * dh)


@dataclass
class Exposure:
    """What the fit sees: per segment its covariates, length and observed age window, and
    per break the segment it hit and its age then (years).

    :param start: age when the records started (or 0 if laid later): the truncation
    :param end: age at the as-of date
    """

    covariates: FloatArray  # (segments, k)
    length_km: FloatArray
    start: FloatArray
    end: FloatArray
    break_segment: NDArray[np.int64]
    break_age: FloatArray


@dataclass
class BreakModel:
    shape: float
    scale: float
    coefficients: FloatArray
    alpha: float
    names: list[str] = field(default_factory=list)
    log_likelihood: float = float("nan")
    breaks: int = 0

    def linear(self, covariates: FloatArray) -> FloatArray:
        out: FloatArray = (
            covariates @ self.coefficients
            if self.coefficients.size
            else (np.zeros(len(covariates)))
        )
        return out

    def failure_probability(
        self,
        age: FloatArray,
        horizon: float,
        covariates: FloatArray,
        length_km: FloatArray,
        past_breaks: FloatArray,
    ) -> FloatArray:
        """P(at least one break within ``horizon`` years): until the first one, N stays."""
        m = length_km * np.exp(self.linear(covariates)) * (1.0 + self.alpha * past_breaks)
        out: FloatArray = conditional_failure_probability(age, horizon, self.shape, self.scale, m)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": "Weibull proportional hazards, LEYP-like (each past break adds alpha)",
            "shape": self.shape,
            "scale_years": self.scale,
            "median_years_per_km": weibull_median(self.shape, self.scale),
            "alpha": self.alpha,
            "coefficients": dict(zip(self.names, map(float, self.coefficients), strict=True)),
            "log_likelihood": self.log_likelihood,
            "breaks_fitted": self.breaks,
        }


def _intervals(e: Exposure) -> tuple[NDArray[np.int64], FloatArray, FloatArray, FloatArray]:
    """The at-risk intervals between a segment's breaks: (segment, from, to, breaks before)."""
    order = np.lexsort((e.break_age, e.break_segment))
    seg, age = e.break_segment[order], e.break_age[order]
    # rank of each break within its segment
    first = np.searchsorted(seg, seg)
    rank = np.arange(len(seg)) - first
    n = len(e.start)
    counts = np.bincount(seg, minlength=n)
    # interval ends: each break, then the as-of age
    iv_seg = np.concatenate([seg, np.arange(n)])
    iv_to = np.concatenate([age, e.end])
    iv_k = np.concatenate([rank, counts]).astype(float)
    prev = np.where(rank == 0, e.start[seg], np.r_[0.0, age[:-1]])
    iv_from = np.concatenate([prev, np.where(counts > 0, 0.0, e.start)])
    last_break = np.full(n, np.nan)
    if len(seg):
        last_break[seg] = age  # sorted: the last write is each segment's last break
    iv_from[len(seg) :] = np.where(counts > 0, last_break, e.start)
    return iv_seg, iv_from, iv_to, iv_k


def fit_break_model(
    e: Exposure, names: list[str] | None = None, *, recurrent: bool = True
) -> BreakModel:
    """Maximum-likelihood fit. ``recurrent=False`` fixes α at 0 (plain Weibull PH)."""
    from scipy.optimize import minimize

    k = e.covariates.shape[1]
    iv_seg, iv_from, iv_to, iv_k = _intervals(e)
    keep = iv_to > iv_from
    iv_seg, iv_from, iv_to, iv_k = iv_seg[keep], iv_from[keep], iv_to[keep], iv_k[keep]
    b_seg = e.break_segment
    order = np.lexsort((e.break_age, b_seg))
    b_rank = np.empty(len(b_seg))
    srt = b_seg[order]
    b_rank[order] = np.arange(len(srt)) - np.searchsorted(srt, srt)
    b_age = np.maximum(e.break_age, 1e-6)
    log_len = np.log(np.maximum(e.length_km, 1e-9))
    x = e.covariates

    def nll(theta: FloatArray) -> float:
        beta, eta = math.exp(theta[0]), math.exp(theta[1])
        gamma = theta[2 : 2 + k]
        alpha = theta[2 + k] if recurrent else 0.0
        lin = (x @ gamma if k else np.zeros(len(log_len))) + log_len
        log_h = math.log(beta / eta) + (beta - 1.0) * np.log(b_age / eta)
        ll = float(np.sum(log_h + lin[b_seg] + np.log1p(alpha * b_rank)))
        dh = np.power(iv_to / eta, beta) - np.power(np.maximum(iv_from, 0.0) / eta, beta)
        ll -= float(np.sum(np.exp(lin[iv_seg]) * (1.0 + alpha * iv_k) * dh))
        return -ll

    theta0 = np.r_[math.log(1.5), math.log(60.0), np.zeros(k), [0.1] if recurrent else []]
    bounds = [(-2.0, 2.5), (0.0, 8.0), *([(-6.0, 6.0)] * k), *([(0.0, 20.0)] if recurrent else [])]
    res = minimize(nll, theta0, method="L-BFGS-B", bounds=bounds)
    theta = res.x
    return BreakModel(
        shape=math.exp(theta[0]),
        scale=math.exp(theta[1]),
        coefficients=np.asarray(theta[2 : 2 + k], dtype=float),
        alpha=float(theta[2 + k]) if recurrent else 0.0,
        names=list(names or [f"x{i}" for i in range(k)]),
        log_likelihood=-float(res.fun),
        breaks=len(b_seg),
    )


def simulate_breaks(
    rng: np.random.Generator,
    start: FloatArray,
    end: FloatArray,
    multiplier: FloatArray,
    shape: float,
    scale: float,
    alpha: float = 0.0,
) -> tuple[NDArray[np.int64], FloatArray]:
    """Breaks of the model between ages ``start`` and ``end`` of each segment (inverse
    cumulative hazard, one break at a time): the demo's synthetic breaks and the fit tests'
    data. Returns (segment index, age at break)."""
    segs: list[NDArray[np.int64]] = []
    ages: list[FloatArray] = []
    t = start.astype(float).copy()
    k = np.zeros(len(t))
    alive = np.arange(len(t))
    while alive.size:
        h = weibull_cumulative_hazard(t[alive], shape, scale)
        h = h + rng.exponential(size=alive.size) / (multiplier[alive] * (1.0 + alpha * k[alive]))
        nxt = scale * np.power(h, 1.0 / shape)
        hit = nxt < end[alive]
        idx = alive[hit]
        segs.append(idx)
        ages.append(nxt[hit])
        t[idx] = nxt[hit]
        k[idx] += 1
        alive = idx
    return (
        np.concatenate(segs).astype(np.int64) if segs else np.zeros(0, np.int64),
        np.concatenate(ages) if ages else np.zeros(0),
    )
