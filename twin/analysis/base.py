"""The one interface every analysis implements, and the context it runs in.

Why a class per analysis rather than a bare function: the API, the CLI, the cache and the
job runner need to know, before running anything, what the analysis reads (so the one access
rule can refuse it), whether its result may be cached and on which tables' changes it
depends, and whether it is slow enough to be a job. The computation itself stays a plain
function of ``(context, params)`` that tests call directly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from geodata.access import Principal, check_visibility, strictest
from geodata.layers import get_layer

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from twin.settings import Settings

#: what a progress callback receives: the share done (0 to 1) and what is being done
Progress = Callable[[float, str], None]


def _no_progress(_share: float, _what: str) -> None:
    return None


class Params(BaseModel):
    """Base of every analysis' parameters: unknown fields are refused (a misspelt option
    must not be silently ignored), and the model's JSON is the cache key's input."""

    model_config = ConfigDict(extra="forbid", frozen=True)


P = TypeVar("P", bound=Params)


@dataclass
class AnalysisContext:
    """What an analysis may use: the database, the settings, who asks, and where to say how
    far it has got. The CLI runs as a local admin; the API passes the caller."""

    engine: Engine
    settings: Settings
    principal: Principal
    progress: Progress = _no_progress

    def may_see(self, layer_id: str) -> bool:
        """May the caller see this layer? For results that leave out what a role may not see
        (the flood's network assets, shown to agents only) rather than refusing the whole."""
        return self.principal.may_see(get_layer(layer_id).visibility)


@dataclass
class Result:
    """An analysis' answer: a JSON-able document, plus files where people would rather look
    than read (PNG panoramas, GeoTIFF rasters, GPX tracks, PDF reports), by file name."""

    data: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)


class Analysis(ABC, Generic[P]):
    """One analysis. Subclasses set the class attributes and implement :meth:`run`."""

    #: the name in ``/api/analysis/{name}`` and ``twin analyse {name}``
    name: ClassVar[str]
    #: one line for the API's list and the OpenAPI summary
    title: ClassVar[str]
    #: the parameters' model (a :class:`Params` subclass)
    Params: type[P]
    #: the layers read: the result's visibility is the strictest of theirs
    layers: ClassVar[tuple[str, ...]] = ()
    #: tables whose changes make a cached result stale (empty and cacheable: never stale)
    tables: ClassVar[tuple[str, ...]] = ()
    #: may a result be reused for the same parameters and data (False for live inputs)
    cacheable: ClassVar[bool] = True
    #: run as a job (the API answers 202 with the job's address) rather than in the request
    slow: ClassVar[bool] = False
    #: offer ``GET /api/analysis/{name}?param=...`` too (flat parameters only)
    get: ClassVar[bool] = False
    #: parameters that run on the demo district: the OpenAPI document shows them, and the
    #: route walk asks them of every role (tests/test_route_walk.py)
    example: ClassVar[dict[str, Any]] = {}

    def visibility(self, ctx: AnalysisContext, params: P) -> str:
        """Who may see the result: the strictest of the layers read. Override when the
        parameters add sources (a scenario of a restricted project)."""
        return strictest(*(get_layer(layer).visibility for layer in self.layers))

    def live_inputs(self, ctx: AnalysisContext, params: P) -> str | None:
        """What else a cacheable result depends on beyond its parameters and tables (e.g. a
        gauge's latest reading): it joins the cache key. None = do not cache this one."""
        return ""

    def check(self, ctx: AnalysisContext, params: P) -> str:
        """Refuse (401/403) a caller who may not see the result; its visibility otherwise."""
        visibility = self.visibility(ctx, params)
        check_visibility(ctx.principal, visibility, f"the {self.name} analysis")
        return visibility

    @abstractmethod
    def run(self, ctx: AnalysisContext, params: P) -> Result:
        """Compute. Bad input raises a :class:`geodata.errors.InputError` naming the fix,
        before anything is written."""
