"""The terrain for clients: the twin's DEM as heights on a lon/lat grid.

A browser has no projection library; it drapes its ground on heights given where it can place
them (CRS84), sampled by :func:`geodata.terrain.height_grid`. The DEM goes through the one
access rule with the terrain's visibility (:data:`geodata.terrain.TERRAIN_VISIBILITY`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from geodata.access import check_visibility
from geodata.errors import NotFound
from geodata.feature_params import BBOX_PATTERN, parse_bbox
from geodata.terrain import MAX_GRID, TERRAIN_VISIBILITY, height_grid, load_dem
from twin.api.deps import CurrentUser, EngineDep
from twin.api.openapi import problems

router = APIRouter(prefix="/api", tags=["terrain"])

NO_TERRAIN = "this twin has no terrain: import a DEM with `twin import dem.tif --layer dem`"


class TerrainOut(BaseModel):
    source: str = Field(description="The DEM's source name")
    synthetic: bool = Field(description="True for a generated DEM (the demo's)")
    vertical_datum: str = Field(description="The heights' vertical datum, or 'unknown'")
    resolution_m: float = Field(description="The DEM's cell size in the working CRS (m)")
    bbox: list[float] = Field(description="The grid's extent: lon0, lat0, lon1, lat1 (CRS84)")
    width: int = Field(description="Heights per row (west to east)")
    height: int = Field(description="Rows (north to south)")
    heights: list[float | None] = Field(
        description="Metres, row-major from the north-west corner; null where the DEM has none"
    )


@router.get(
    "/terrain",
    summary="The terrain as heights on a lon/lat grid (for a client's ground)",
    responses=problems(400, 404),
)
def terrain(
    response: Response,
    engine: EngineDep,
    user: CurrentUser,
    bbox: Annotated[
        str | None,
        Query(
            description="lon0,lat0,lon1,lat1 (CRS84) of the grid; default: the whole DEM",
            examples=["24.93,60.16,24.96,60.18"],
            json_schema_extra={"pattern": BBOX_PATTERN, "format": "bbox"},
        ),
    ] = None,
    size: Annotated[
        int, Query(ge=2, le=MAX_GRID, description="Heights along the longer side")
    ] = 129,
) -> TerrainOut:
    check_visibility(user, TERRAIN_VISIBILITY, "the terrain")
    box = parse_bbox(bbox)
    dem = load_dem(engine)
    if dem is None:
        raise NotFound(NO_TERRAIN)
    lonlat = None if box is None else (box.minx, box.miny, box.maxx, box.maxy)
    grid = height_grid(dem, lonlat, size)
    response.headers["Cache-Control"] = "public, max-age=60"
    return TerrainOut(
        source=dem.source,
        synthetic=dem.synthetic,
        vertical_datum=dem.vertical_datum,
        resolution_m=float(max(dem.resolution)),
        bbox=list(grid.bbox),
        width=grid.width,
        height=grid.height,
        heights=grid.heights,
    )
