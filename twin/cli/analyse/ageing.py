"""``twin analyse ageing``: break model, failure probability and renewal scores."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from twin.cli.analyse.common import JSON_HELP, analyse_app, run_cli


@analyse_app.command("ageing")
def ageing(
    network: Annotated[
        str, typer.Option("--network", help="Network: water, wastewater, stormwater, ...")
    ] = "water",
    horizon: Annotated[
        float, typer.Option("--horizon", help="Years ahead the failure probability covers.")
    ] = 10.0,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Date ages are taken at (YYYY-MM-DD); default today."),
    ] = None,
    records_start: Annotated[
        str | None,
        typer.Option(
            "--records-start",
            help="Date the break records start (YYYY-MM-DD): exposure before it is not "
            "counted (left truncation); default the first recorded break.",
        ),
    ] = None,
    csv: Annotated[
        Path | None, typer.Option("--csv", help="Write the ranked segments as CSV here.")
    ] = None,
    store: Annotated[
        bool,
        typer.Option(
            "--store/--no-store",
            help="Write renewal_score on the segments, for the network tiles (rebuild them "
            "after with `twin tiles build`).",
        ),
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Fit a Weibull proportional-hazards break model (LEYP-like: past breaks raise the
    hazard) on the network's recorded breaks, and rank its segments by renewal score
    (0-100): failure probability over the horizon × consequence of failure, with the score
    points of each factor (age, material, diameter, length, past breaks, consequence)."""
    run_cli(
        "ageing",
        {
            "network": network,
            "horizon": horizon,
            "as_of": as_of,
            "records_start": records_start,
            "store": store,
        },
        as_json=as_json,
        files_to={"ageing.csv": csv},
    )
