"""``twin analyse scenario SLUG``: a scenario against the baseline."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from twin.cli.analyse.common import JSON_HELP, analyse_app, run_cli


def _balcony(value: str) -> dict[str, Any]:
    from geodata.errors import InputError

    parts = value.split(",")
    try:
        x, y, z, heading = (float(p) for p in parts)
    except ValueError:
        raise InputError(
            f"--balcony {value!r}: give X,Y,Z,HEADING (working CRS m, heading in degrees "
            "from true north), e.g. 385000,6672000,12.5,180"
        ) from None
    return {"x": x, "y": y, "z": z, "heading": heading}


@analyse_app.command("scenario")
def scenario(
    slug: Annotated[str, typer.Argument(help="The scenario's slug (`twin scenarios list`).")],
    date: Annotated[
        str | None,
        typer.Option(
            "--date", help="Day of the sun-hours comparison, YYYY-MM-DD (default 21 March)."
        ),
    ] = None,
    step: Annotated[
        int | None, typer.Option("--step", help="Sun-hours time step (minutes); default 10.")
    ] = None,
    balcony: Annotated[
        list[str] | None,
        typer.Option(
            "--balcony",
            help="X,Y,Z,HEADING: a balcony where to compare the view (working CRS m; heading in "
            "degrees clockwise from true north). Repeatable.",
        ),
    ] = None,
    storey_height: Annotated[
        float | None,
        typer.Option(
            "--storey-height", help="m per storey when levels are missing (TWIN_STOREY_HEIGHT)."
        ),
    ] = None,
    dwelling_size: Annotated[
        float | None,
        typer.Option("--dwelling-size", help="m² of floor area per dwelling (TWIN_DWELLING_SIZE)."),
    ] = None,
    residential_share: Annotated[
        float | None,
        typer.Option(
            "--residential-share", help="Share (0-1) of residential floor area in dwellings."
        ),
    ] = None,
    mixed_use_share: Annotated[
        float | None,
        typer.Option(
            "--mixed-use-share",
            help="Share (0-1) of a mixed-use building's floor area in dwellings; default 0.5.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Floor area (m²: footprint × storeys) of the baseline buildings a scenario replaces or
    removes and of its own, their delta, a dwellings estimate with its parameters, sun hours
    lost by neighbouring facades and the view change at the given balconies."""
    from twin.cli.common import user_errors

    with user_errors():
        balconies = [_balcony(b) for b in balcony or []]
    run_cli(
        "scenario",
        {
            "scenario": slug,
            "date": date,
            "step_minutes": step,
            "balconies": balconies or None,
            "storey_height": storey_height,
            "dwelling_size": dwelling_size,
            "residential_share": residential_share,
            "mixed_use_share": mixed_use_share,
        },
        as_json=as_json,
    )
