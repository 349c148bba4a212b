"""Running an analysis the one way the API, the jobs and the CLI all share: check who asks,
answer from the cache when the same question was asked of the same data, else compute and
keep the result."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from geodata.errors import InputError
from twin.analysis.base import Analysis, AnalysisContext, Params
from twin.analysis.cache import ResultStore, Stored, cache_key, data_version


@dataclass(frozen=True)
class Outcome:
    stored: Stored
    #: answered from the cache
    hit: bool


def parse_params(analysis: Analysis[Any], raw: dict[str, Any]) -> Params:
    """The analysis' parameters from plain values (CLI options, a JSON body); a bad one is an
    :class:`InputError` naming the parameter and what is wrong with it."""
    try:
        params: Params = analysis.Params.model_validate(raw)
    except ValidationError as exc:
        lines = [
            f"{'.'.join(str(p) for p in e['loc']) or 'parameters'}: {e['msg']}"
            for e in exc.errors()
        ]
        raise InputError(f"{analysis.name}: " + "; ".join(lines)) from None
    return params


def store_for(ctx: AnalysisContext) -> ResultStore:
    return ResultStore(ctx.settings.analysis_dir / "results")


def key_for(analysis: Analysis[Any], ctx: AnalysisContext, params: Params) -> str | None:
    """The cache key of this question now, or None for an analysis that is never cached."""
    if not analysis.cacheable:
        return None
    live = analysis.live_inputs(ctx, params)
    if live is None:
        return None
    version = data_version(ctx.engine, analysis.tables) + (f"+{live}" if live else "")
    return cache_key(analysis.name, params.model_dump_json(), ctx.principal.sees, version)


def run_analysis(
    analysis: Analysis[Any], ctx: AnalysisContext, params: Params, *, use_cache: bool = True
) -> Outcome:
    """Check, then answer from the cache or compute and store. Access is checked before the
    cache is read: a cached result is never a way around the access rule."""
    visibility = analysis.check(ctx, params)
    store = store_for(ctx)
    key = key_for(analysis, ctx, params)
    if key is not None and use_cache:
        cached = store.get(key)
        if cached is not None:
            ctx.progress(1.0, "from the cache")
            return Outcome(cached, hit=True)
    result = analysis.run(ctx, params)
    ctx.progress(1.0, "done")
    stored = store.put(key or uuid.uuid4().hex, result.data, result.files, visibility)
    return Outcome(stored, hit=False)
