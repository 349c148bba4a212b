"""``twin analyse route`` and ``twin analyse circuit``: walks on foot or in a wheelchair."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from twin.cli.analyse.common import JSON_HELP, analyse_app, run_cli

Profile = Annotated[
    str,
    typer.Option(
        "--profile",
        help="foot (steps allowed) or wheelchair (French rule of 15 January 2007: slope at "
        "most 5%, kerb at most 2 cm, width at least 1.40 m, no steps).",
    ),
]
MaxIncline = Annotated[
    float | None,
    typer.Option("--max-incline", help="Steepest slope allowed (PERCENT); wheelchair: 5."),
]
MinWidth = Annotated[
    float | None, typer.Option("--min-width", help="Narrowest way allowed (M); wheelchair: 1.40.")
]
MaxKerb = Annotated[
    float | None, typer.Option("--max-kerb", help="Highest kerb allowed (M); wheelchair: 0.02.")
]
Unknown = Annotated[
    str | None,
    typer.Option(
        "--unknown",
        help="Ways whose limited properties (slope, width, kerb, surface) the data does not "
        "give: allow, avoid (cost x2) or forbid; wheelchair: avoid. Always reported.",
    ),
]
Gpx = Annotated[Path | None, typer.Option("--gpx", help="Write the GPX 1.1 track to FILE.")]
AsJson = Annotated[bool, typer.Option("--json", help=JSON_HELP)]


@analyse_app.command("route")
def route(
    from_: Annotated[str, typer.Option("--from", help="Start: X,Y in the working CRS (metres).")],
    to: Annotated[str, typer.Option("--to", help="End: X,Y in the working CRS (metres).")],
    profile: Profile = "foot",
    max_incline: MaxIncline = None,
    min_width: MinWidth = None,
    max_kerb: MaxKerb = None,
    unknown: Unknown = None,
    gpx: Gpx = None,
    as_json: AsJson = False,
) -> None:
    """A walking route: length_m (metres, in the working CRS), duration_s (seconds), geometry
    (GeoJSON LineString, working CRS) and what it meets. With no route under the profile, exit
    1 naming the steps, kerbs, slopes and widths that block it."""
    run_cli(
        "route",
        {
            "from": from_,
            "to": to,
            "profile": profile,
            "max_incline": max_incline,
            "min_width": min_width,
            "max_kerb": max_kerb,
            "unknown": unknown,
        },
        as_json=as_json,
        files_to={"route.gpx": gpx},
    )


@analyse_app.command("circuit")
def circuit(
    pois: Annotated[
        str, typer.Option("--pois", help="Points of interest's ids, in order: ID,ID,...")
    ],
    profile: Profile = "foot",
    optimise: Annotated[
        bool, typer.Option("--optimise", help="Visit them in the shortest order.")
    ] = False,
    loop: Annotated[
        bool, typer.Option("--loop", help="Come back to the first stop (a closed line).")
    ] = False,
    max_incline: MaxIncline = None,
    min_width: MinWidth = None,
    max_kerb: MaxKerb = None,
    unknown: Unknown = None,
    bus_stop_radius: Annotated[
        float | None,
        typer.Option("--bus-stop-radius", help="Bus stops within this distance (M); 100."),
    ] = None,
    gpx: Gpx = None,
    as_json: AsJson = False,
) -> None:
    """A walking circuit through points of interest: length_m (metres), duration_s (seconds),
    geometry (GeoJSON, working CRS; closed with --loop), stops in order with each leg, the bus
    stops near the way with their next departures."""
    run_cli(
        "circuit",
        {
            "pois": pois,
            "profile": profile,
            "optimise": optimise,
            "loop": loop,
            "max_incline": max_incline,
            "min_width": min_width,
            "max_kerb": max_kerb,
            "unknown": unknown,
            "bus_stop_radius": bus_stop_radius,
        },
        as_json=as_json,
        files_to={"circuit.gpx": gpx},
    )
