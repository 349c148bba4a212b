"""``twin opendata add|list``: open, anonymised aggregates of live observations, published in
the datasets catalogue (``/api/datasets``, DCAT-AP) and downloaded as CSV or FIWARE JSON."""

from __future__ import annotations

from typing import Annotated

import typer

from twin.cli.common import console, out, settings, user_errors

opendata_app = typer.Typer(help="Open aggregates of live data (k-anonymous, optionally DP).")


def _bounds(value: str | None) -> tuple[float, float] | None:
    from geodata.errors import InputError

    if value is None:
        return None
    try:
        low, high = (float(v) for v in value.split(":"))
    except ValueError:
        raise InputError(f"--bounds {value!r}: write LOW:HIGH, e.g. 0:1 or 0:500") from None
    return low, high


@opendata_app.command("add")
def opendata_add(
    name: Annotated[str, typer.Argument(help="The dataset's source name, e.g. parking-occupancy.")],
    type_: Annotated[str, typer.Option("--type", help="The device type it aggregates.")],
    metric: Annotated[str, typer.Option(help="The metric, e.g. occupied, no2, flow.")],
    model: Annotated[
        str,
        typer.Option(help="OnStreetParking, Streetlight, AirQualityObserved or WaterObserved."),
    ],
    window: Annotated[str, typer.Option(help="Time window: 15m, 1h, 1d.")] = "1h",
    cell: Annotated[float, typer.Option(help="Grid cell side in metres (working CRS).")] = 250,
    k: Annotated[
        int | None, typer.Option(help="Smallest group published (default TWIN_OPENDATA_MIN_K).")
    ] = None,
    epsilon: Annotated[
        float | None, typer.Option(help="Differential privacy budget per window (noise).")
    ] = None,
    bounds: Annotated[
        str | None, typer.Option(metavar="LOW:HIGH", help="Values are clamped to these.")
    ] = None,
    attribute: Annotated[
        str | None, typer.Option(help="The model's attribute the mean fills, e.g. no2.")
    ] = None,
    visibility: Annotated[str, typer.Option(help="public or agent.")] = "public",
    title: Annotated[str | None, typer.Option()] = None,
    licence: Annotated[str | None, typer.Option(help="SPDX id or URL, e.g. CC-BY-4.0.")] = None,
    attribution: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Declare an open aggregate; prints its dataset id on the last line."""
    from sensors_bridge.opendata.release import Declaration, declare
    from twin.runtime import Runtime

    with user_errors(), Runtime(settings()) as rt:
        min_k = rt.settings.opendata_min_k
        d = Declaration(
            name=name,
            device_type=type_,
            metric=metric,
            window=window,
            cell_m=cell,
            k=min_k if k is None else k,
            model=model,
            attribute=attribute,
            epsilon=epsilon,
            bounds=_bounds(bounds),
            visibility=visibility,
            title=title,
            licence=licence,
            attribution=attribution,
        )
        rt.check()
        dataset_id = declare(rt.engine, d, min_k=min_k)
        console.print(f"open aggregate {name!r} declared: GET /api/datasets/{dataset_id}/download")
        out.print(str(dataset_id))


@opendata_app.command("list")
def opendata_list() -> None:
    """The open aggregates, with what they publish."""
    from sensors_bridge.opendata.release import list_specs
    from twin.runtime import Runtime

    with user_errors(), Runtime(settings()) as rt:
        rt.check()
        with rt.engine.connect() as conn:
            specs = list_specs(conn)
        for s in specs:
            until = s.released_until.isoformat() if s.released_until else "nothing yet"
            out.print(f"{s.dataset_id}\t{s.source}\t{s.describe()}\treleased until {until}")
