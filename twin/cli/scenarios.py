"""``twin scenarios create|list|show|add|raise|remove|delete``: planning scenarios and their
edits, as the local administrator; each edit is audited and rebuilds the scenario's tileset
(``scenario-SLUG``). Compare a scenario with the baseline: ``twin analyse scenario SLUG``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from twin.cli.common import out, settings, user_errors

if TYPE_CHECKING:
    from twin.scenarios import ScenarioEditor

scenarios_app = typer.Typer(
    help="Planning scenarios: add buildings (a footprint with a height, or a GeoJSON / "
    "CityJSON file), raise or remove existing ones; compare with `twin analyse scenario`.",
    no_args_is_help=True,
)
JSON = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
SlugArg = Annotated[str, typer.Argument(help="The scenario's slug (`twin scenarios list`).")]


def _print(doc: Any, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(doc, ensure_ascii=False, default=str) + "\n")
        return
    if isinstance(doc, list):
        for item in doc:
            out.print(
                f"{item['slug']}: {item['name']} ({item['added']} added, {item['raised']} "
                f"raised, {item['removed']} removed; {item['visibility']})",
                highlight=False,
            )
        if not doc:
            out.print("no scenario yet: `twin scenarios create SLUG`", highlight=False)
        return
    for key, value in doc.items():
        out.print(f"{key}: {json.dumps(value, default=str)}", highlight=False)


def _run(as_json: bool, action: Any) -> None:
    from geodata.access import Principal
    from twin.cli.users import cli_actor
    from twin.runtime import Runtime
    from twin.scenarios import ScenarioEditor

    with user_errors(), Runtime(settings()) as rt:
        rt.check()
        editor = ScenarioEditor(rt.engine, rt.settings, Principal(cli_actor(), "admin"), "cli")
        doc = action(editor)
    _print(doc, as_json)


@scenarios_app.command("list")
def list_(as_json: JSON = False) -> None:
    """Every scenario, with how many buildings it adds, raises and removes."""
    from twin.scenarios import visible_scenarios

    _run(as_json, lambda e: visible_scenarios(e.engine, e.user))


@scenarios_app.command("show")
def show(slug: SlugArg, as_json: JSON = False) -> None:
    """A scenario's edits: the buildings it adds, raises (with what they replace) and removes."""
    from twin.scenarios import describe

    _run(as_json, lambda e: describe(e.engine, e.user, slug))


@scenarios_app.command("create")
def create(
    slug: SlugArg,
    name: Annotated[str | None, typer.Option("--name", help="A title (default: the slug).")] = None,
    description: Annotated[str, typer.Option("--description", help="What it proposes.")] = "",
    as_json: JSON = False,
) -> None:
    """Create an empty scenario (as visible as the buildings: public)."""
    _run(as_json, lambda e: e.create(slug, name, description))


@scenarios_app.command("delete")
def delete(slug: SlugArg, as_json: JSON = False) -> None:
    """Delete a scenario, its buildings and its tileset."""
    _run(as_json, lambda e: e.delete(slug))


@scenarios_app.command("add")
def add(
    slug: SlugArg,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="A GeoJSON or CityJSON file (any format `twin import` reads)."),
    ] = None,
    wkt: Annotated[
        str | None, typer.Option("--wkt", help="A footprint as WKT POLYGON (working CRS, m).")
    ] = None,
    height: Annotated[
        float | None, typer.Option("--height", help="The footprint's height (m).")
    ] = None,
    levels: Annotated[
        int | None, typer.Option("--levels", help="Its storeys (height = levels x storey height).")
    ] = None,
    usage: Annotated[str, typer.Option("--usage", help="Its use.")] = "residential",
    name: Annotated[str | None, typer.Option("--name", help="Its name.")] = None,
    crs: Annotated[
        str | None,
        typer.Option("--crs", help="CRS of --wkt or of a file that does not say (EPSG:XXXX)."),
    ] = None,
    as_json: JSON = False,
) -> None:
    """Add buildings: a file's (all or nothing), or one footprint with a height or levels."""
    from geodata.errors import InputError

    def action(e: ScenarioEditor) -> Any:
        if (file is None) == (wkt is None):
            raise InputError("give either --file FILE or --wkt 'POLYGON((...))' with --height")
        if file is not None:
            if not file.is_file():
                raise InputError(f"{file}: no such file")
            return e.add_file(slug, file, crs=crs)
        import shapely

        from geodata.crs import parse_crs

        try:
            geom = shapely.from_wkt(wkt)
        except Exception as exc:
            raise InputError(
                f"--wkt is not WKT ({exc}): e.g. 'POLYGON((0 0, 20 0, 20 30, 0 30, 0 0))'"
            ) from None
        return e.add_footprint(
            slug,
            geom,
            height=height,
            levels=levels,
            usage=usage,
            name=name,
            srid=parse_crs(crs) if crs else None,
        )

    _run(as_json, action)


@scenarios_app.command("raise")
def raise_(
    slug: SlugArg,
    building: Annotated[int, typer.Option("--building", help="The building's id.")],
    height: Annotated[float, typer.Option("--height", help="Its new height (m).")],
    levels: Annotated[int | None, typer.Option("--levels", help="Its new storeys.")] = None,
    as_json: JSON = False,
) -> None:
    """Give an existing building a new height in the scenario."""
    _run(as_json, lambda e: e.raise_building(slug, building, height, levels))


@scenarios_app.command("remove")
def remove(
    slug: SlugArg,
    building: Annotated[int, typer.Option("--building", help="The building's id.")],
    as_json: JSON = False,
) -> None:
    """Remove an existing building in the scenario (or one the scenario added)."""
    _run(as_json, lambda e: e.remove_building(slug, building))
