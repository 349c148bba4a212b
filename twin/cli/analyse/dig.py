"""``twin analyse dig``: the buried networks a planned dig may meet (DT-DICT classes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from twin.cli.analyse.common import JSON_HELP, analyse_app, run_cli


def _polygon(path: Path) -> dict[str, Any]:
    """The one polygon of a GeoJSON file: a geometry, a Feature, or a collection of one."""
    from geodata.errors import InputError

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"--polygon {path}: not a readable GeoJSON file ({exc})") from None
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        feats = doc.get("features") or []
        if len(feats) != 1:
            raise InputError(
                f"--polygon {path}: {len(feats)} features; give a file with one dig polygon"
            )
        doc = feats[0]
    if isinstance(doc, dict) and doc.get("type") == "Feature":
        doc = doc.get("geometry") or {}
    if not isinstance(doc, dict):
        raise InputError(f"--polygon {path}: a GeoJSON Polygon is expected")
    return doc


@analyse_app.command("dig")
def dig(
    polygon: Annotated[
        Path,
        typer.Option(
            "--polygon",
            help="GeoJSON file of the dig's outline (Polygon or MultiPolygon, a Feature or a "
            "collection of one), in lon/lat (RFC 7946, CRS84).",
        ),
    ],
    depth: Annotated[
        float, typer.Option("--depth", help="How deep the dig goes (m below ground).")
    ],
    class_c_radius: Annotated[
        float | None,
        typer.Option(
            "--class-c-radius",
            help="Uncertainty band of class-C networks (m); default TWIN_DIG_CLASS_C_RADIUS.",
        ),
    ] = None,
    html: Annotated[Path | None, typer.Option("--html", help="Write the HTML report here.")] = None,
    pdf: Annotated[Path | None, typer.Option("--pdf", help="Write the PDF report here.")] = None,
    png: Annotated[Path | None, typer.Option("--png", help="Write the map picture here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Every buried segment and node whose uncertainty band meets the dig (class A: 0.40 m
    rigid, 0.50 m flexible; B: 1.5 m; C: --class-c-radius), in plan and in depth, nearest
    first; sensitive networks in class B or C flagged for complementary investigations.
    Distances and depths in metres."""
    from twin.cli.common import user_errors

    with user_errors():
        geometry = _polygon(polygon)
    run_cli(
        "dig",
        {"polygon": geometry, "depth": depth, "class_c_radius": class_c_radius},
        as_json=as_json,
        files_to={"dig.html": html, "dig.pdf": pdf, "dig.png": png},
    )
