"""``/api/scenarios``: planning scenarios and their edits (planners and admins write; anyone
reads the scenarios they may see). Thin: the edits are :class:`twin.scenarios.ScenarioEditor`'s,
which audits each one and rebuilds the scenario's tileset (``scenario-{slug}``) after it.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from geodata.crs import parse_crs
from geodata.errors import InputError
from twin.api.deps import CurrentUser, EngineDep, SettingsDep, client_address
from twin.api.openapi import problems
from twin.scenarios import ScenarioEditor, describe, visible_scenarios

router = APIRouter(prefix="/api/scenarios", tags=["scenarios"])
Slug = Annotated[str, Path(max_length=63, description="A scenario's slug (GET /api/scenarios).")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewScenario(_Body):
    # the rules are stated in the schema and checked by geodata.scenarios (whose message
    # says how to fix a slug, a height), not by pydantic's generic one
    slug: str = Field(
        description="lower-case letters, digits and hyphens (e.g. 'tower-b')",
        json_schema_extra={"pattern": "^[a-z0-9][a-z0-9-]{0,62}$"},
    )
    name: str | None = Field(None, description="a title (default: the slug)")
    description: str = ""


class Footprint(_Body):
    footprint: dict[str, Any] = Field(description="a GeoJSON Polygon or MultiPolygon geometry")
    height: float | None = Field(None, description="height above its base (m)")
    levels: int | None = Field(None, description="storeys (height = levels x storey height)")
    usage: str | None = "residential"
    name: str | None = None
    crs: str = Field("EPSG:4326", description="the footprint's CRS (default lon/lat, RFC 7946)")


class Raise(_Body):
    building_id: int = Field(description="a baseline building's id, or one the scenario added")
    height: float = Field(
        description="its new height (m)",
        json_schema_extra={"exclusiveMinimum": 0, "exclusiveMaximum": 1000},
    )
    levels: int | None = Field(
        None,
        description="its new number of storeys, if known",
        json_schema_extra={"minimum": 1, "maximum": 299},
    )


class Remove(_Body):
    building_id: int = Field(description="a baseline building's id, or one the scenario added")


def _editor(request: Request, user: CurrentUser) -> ScenarioEditor:
    """The caller as an editor: a dependency, so that a caller who may not edit is refused
    (401/403) before the body is read."""
    app = request.app.state
    return ScenarioEditor(app.engine, app.settings, user, client_address(request))


Editor = Annotated[ScenarioEditor, Depends(_editor)]


@router.get("", summary="The scenarios you may see, with how many buildings each changes")
def list_all(user: CurrentUser, engine: EngineDep) -> list[dict[str, Any]]:
    return visible_scenarios(engine, user)


@router.post(
    "", summary="Create a scenario (planners, admins)", responses=problems(400, 401, 403, 409)
)
def create(editor: Editor, body: NewScenario) -> dict[str, Any]:
    return editor.create(body.slug, body.name, body.description)


@router.get(
    "/{slug}",
    summary="A scenario's edits: added, raised, removed",
    responses=problems(401, 403, 404),
)
def one(slug: Slug, user: CurrentUser, engine: EngineDep) -> dict[str, Any]:
    return describe(engine, user, slug)


@router.delete(
    "/{slug}", summary="Delete a scenario (planners, admins)", responses=problems(401, 403, 404)
)
def delete(slug: Slug, editor: Editor) -> dict[str, Any]:
    return editor.delete(slug)


_UPLOADS = {"FeatureCollection": ".geojson", "Feature": ".geojson", "CityJSON": ".city.json"}


@router.post(
    "/{slug}/buildings",
    summary="Add buildings: a footprint with a height, or a GeoJSON / CityJSON document",
    responses=problems(400, 401, 403, 404),
)
def add(
    slug: Slug,
    editor: Editor,
    settings: SettingsDep,
    body: Annotated[
        dict[str, Any],
        Body(
            description="Either {footprint: GeoJSON geometry, height, levels, usage, name, crs} "
            "or a GeoJSON FeatureCollection/Feature (properties height, levels, usage...) or "
            "a CityJSON document, imported as `twin import` would."
        ),
    ],
) -> dict[str, Any]:
    kind = body.get("type")
    if kind in _UPLOADS:
        with tempfile.TemporaryDirectory(dir=settings.data_dir, prefix="upload-") as tmp:
            path = FsPath(tmp) / f"upload{_UPLOADS[str(kind)]}"
            path.write_text(json.dumps(body), encoding="utf-8")
            try:
                return editor.add_file(slug, path, source="upload")
            except InputError as exc:  # name the body, not the server's temporary file
                msg = str(exc).replace(str(path), "the request body")
                raise type(exc)(
                    msg.replace("choose the right --layer", "send footprints")
                ) from None
    if "footprint" not in body:
        raise InputError(
            "the body is neither a footprint ({footprint, height}) nor a GeoJSON "
            "FeatureCollection/Feature nor a CityJSON document: send one of those"
        )
    import shapely.geometry

    try:
        fp = Footprint.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the body"
        raise InputError(f"{where}: {first['msg']} (see the route's schema)") from None
    try:
        geom = shapely.geometry.shape(fp.footprint)
    except Exception as exc:
        raise InputError(f"the footprint is not a GeoJSON geometry ({exc})") from None
    return editor.add_footprint(
        slug,
        geom,
        height=fp.height,
        levels=fp.levels,
        usage=fp.usage,
        name=fp.name,
        srid=parse_crs(fp.crs),
    )


@router.post(
    "/{slug}/raise",
    summary="Give a building a new height in the scenario",
    responses=problems(400, 401, 403, 404, 409),
)
def raise_(slug: Slug, editor: Editor, body: Raise) -> dict[str, Any]:
    return editor.raise_building(slug, body.building_id, body.height, body.levels)


@router.post(
    "/{slug}/remove",
    summary="Remove a building in the scenario",
    responses=problems(400, 401, 403, 404),
)
def remove(slug: Slug, editor: Editor, body: Remove) -> dict[str, Any]:
    return editor.remove_building(slug, body.building_id)
