"""A test analysis over an agent-only layer, slow (a job) and with a file: it exercises the
contract every analysis gets (access, cache, jobs, files) without any one analysis' maths."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

from pydantic import Field
from sqlalchemy import text

from twin.analysis import registry
from twin.analysis.base import Analysis, AnalysisContext, Params, Result


class CountParams(Params):
    network: str = Field("water", description="which network to count")


class CountSegments(Analysis[CountParams]):
    """Counts a network's segments and writes the count as a text file."""

    name = "count-segments"
    title = "How many segments a network has (a test analysis)"
    Params = CountParams
    layers: ClassVar[tuple[str, ...]] = ("networks",)
    tables: ClassVar[tuple[str, ...]] = ("network_segments",)
    slow: ClassVar[bool] = True
    example: ClassVar[dict[str, str]] = {"network": "water"}
    runs: ClassVar[int] = 0

    def run(self, ctx: AnalysisContext, params: CountParams) -> Result:
        type(self).runs += 1
        ctx.progress(0.5, "counting")
        with ctx.engine.connect() as conn:
            n = conn.execute(
                text("SELECT count(*) FROM network_segments WHERE network = :n"),
                {"n": params.network},
            ).scalar_one()
        return Result({"network": params.network, "segments": n}, {"count.txt": f"{n}\n".encode()})


@contextmanager
def registered() -> Iterator[None]:
    registry.register(CountSegments.name, "tests.analysis_support:CountSegments")
    try:
        yield
    finally:
        registry.unregister(CountSegments.name)
