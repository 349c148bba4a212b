"""The balcony view (citizens): what a project takes from a window's view, before and after.

From a point (working CRS x, y, z, or lon/lat and z) or an existing building's floor (the eye
where the viewer's balcony camera stands, :mod:`twin.analysis.eye`), and a heading in degrees
clockwise from TRUE north (the direction a person faces; ``grid_heading`` in the output is the
same direction in the working CRS, turned by the meridian convergence): two equirectangular
panoramas (:mod:`twin.analysis.panorama`) of the scene before and after a scenario, coloured
by what each ray hits; the sky-view factor in both of the field's definitions; the share of
the hemisphere and of the field of view the project blocks, by solid angle; and the points of
interest seen before and after.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, field_validator
from sqlalchemy import Engine, text

from geodata.access import strictest
from geodata.errors import InputError
from geodata.layers import get_layer
from twin.analysis.base import Analysis, AnalysisContext, Params, Result
from twin.analysis.eye import building_eye, refuse_inside
from twin.analysis.panorama import PROJECT, SKY, Panorama, compare_png
from twin.analysis.place import resolve_place, working_epsg
from twin.analysis.rays import RayCaster, processes_for
from twin.analysis.scene import ScenarioRef, Scene, build_scene, find_scenario

#: a POI without a building is aimed at this far above its point (a statue, a sign, a door)
POI_AIM_M = 1.0
COLUMNS = "azimuth clockwise from true north, the heading at the centre (left edge heading − 180°)"
ROWS = "elevation from +90° (top) to −90° (bottom)"


class BalconyParams(Params):
    x: float | None = Field(None, ge=-1e8, le=1e8, description="working-CRS easting of the eye (m)")
    y: float | None = Field(
        None, ge=-1e8, le=1e8, description="working-CRS northing of the eye (m)"
    )
    lon: float | None = Field(None, ge=-180, le=180, description="longitude of the eye (°, WGS 84)")
    lat: float | None = Field(None, ge=-90, le=90, description="latitude of the eye (°, WGS 84)")
    z: float | None = Field(
        None, ge=-1000, le=10000, description="height of the eye (m, as buildings' base_z)"
    )
    building: int | None = Field(
        None, ge=1, le=2**63 - 1, description="an existing building's id (with floor)"
    )
    floor: int | None = Field(None, ge=0, le=500, description="the floor, 0 = ground floor")
    heading: float = Field(
        ge=0, lt=360, description="where the eye looks: degrees clockwise from TRUE north"
    )
    scenario: str | None = Field(
        None, max_length=200, description="the scenario's slug (none: after = before)"
    )
    width: int = Field(1024, ge=64, le=4096, description="panorama width (px); height = width/2")
    radius: float = Field(500.0, ge=50, le=3000, description="buildings and POIs within (m)")
    fov_horizontal: float = Field(120.0, gt=0, le=360, description="field of view's width (°)")
    fov_vertical: float = Field(90.0, gt=0, le=180, description="field of view's height (°)")

    @field_validator("width")
    @classmethod
    def _even(cls, v: int) -> int:
        if v % 2:
            raise ValueError(f"give an even width (the panorama is width x width/2), not {v}")
        return v


@dataclass
class Eye:
    x: float
    y: float
    z: float
    lon: float
    lat: float
    convergence: float
    building: int | None = None
    floor: int | None = None
    storey: float | None = None


def check_where(p: BalconyParams) -> None:
    """Exactly one way of saying where the eye is, whole; before anything is read."""
    point = p.x is not None or p.y is not None
    lonlat = p.lon is not None or p.lat is not None
    on_building = p.building is not None or p.floor is not None
    if point + lonlat + on_building != 1:
        raise InputError(
            "say where the eye is in one way: --x X --y Y --z Z (working CRS), "
            "--lon LON --lat LAT --z Z, or --building ID --floor N"
        )
    if point and (p.x is None or p.y is None or p.z is None):
        raise InputError("a point needs all of --x, --y and --z (m)")
    if lonlat and (p.lon is None or p.lat is None or p.z is None):
        raise InputError("a lon/lat point needs all of --lon, --lat and --z (m)")
    if on_building and (p.building is None or p.floor is None):
        raise InputError("a balcony needs both --building ID and --floor N (0 = ground floor)")


def locate(ctx: AnalysisContext, p: BalconyParams, scenario: ScenarioRef | None) -> Eye:
    epsg = working_epsg(ctx.engine)
    if p.building is not None and p.floor is not None:
        storey_height = ctx.settings.storey_height
        b = building_eye(ctx.engine, p.building, p.floor, p.heading, storey_height, epsg)
        place = resolve_place(epsg, x=b.x, y=b.y)
        eye = Eye(b.x, b.y, b.z, place.lon, place.lat, place.convergence, p.building, p.floor)
        eye.storey = b.storey
    else:
        place = resolve_place(epsg, x=p.x, y=p.y, lon=p.lon, lat=p.lat)
        assert p.z is not None
        eye = Eye(place.x, place.y, p.z, place.lon, place.lat, place.convergence)
    if not all(math.isfinite(v) for v in (eye.lon, eye.lat, eye.convergence)):
        raise InputError(
            f"the point ({eye.x:.6g}, {eye.y:.6g}) is outside what EPSG:{epsg} (the working "
            "CRS) can place on the Earth: give a point of the twin's district"
        )
    refuse_inside(ctx.engine, eye.x, eye.y, eye.z, epsg, scenario.id if scenario else None)
    return eye


def render(caster: RayCaster, eye: Any, width: int, heading: float) -> Panorama:
    """The panorama seen from ``eye`` (a point of the caster's scene frame)."""
    prim, t = caster.panorama(np.asarray(eye, np.float32), width, heading)
    kind = np.where(prim >= 0, caster.scene.kind[np.maximum(prim, 0)], SKY).astype(np.uint8)
    shape = (width // 2, width)
    return Panorama(kind.reshape(shape), t.reshape(shape), heading)


def load_pois(engine: Engine, x: float, y: float, radius: float, epsg: int) -> list[Any]:
    """(source_id, name, x, y, z, building id or None, building top or None) of the baseline's
    POIs within ``radius``; a POI inside a building is that building (a landmark)."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT p.source_id, p.name, ST_X(p.geom), ST_Y(p.geom), ST_Z(p.geom), "
                    "b.id, b.base_z + b.height FROM pois p LEFT JOIN LATERAL (SELECT id, base_z, "
                    "height FROM buildings b WHERE b.scenario_id IS NULL AND "
                    "ST_Intersects(b.footprint, p.geom) ORDER BY b.height DESC LIMIT 1) b ON true "
                    "WHERE p.scenario_id IS NULL AND ST_DWithin(p.geom, "
                    "ST_SetSRID(ST_MakePoint(:x, :y), :epsg), :r) ORDER BY p.source_id"
                ),
                {"x": x, "y": y, "epsg": epsg, "r": radius},
            )
        )


def visible_pois(caster: RayCaster, eye: Any, pois: list[Any]) -> list[dict[str, Any]]:
    """The POIs a ray from the eye reaches unoccluded up to its distance (a landmark: the
    first thing the ray meets is its own building)."""
    scene: Scene = caster.scene
    if not pois:
        return []
    ground = scene.ground_z
    tz = [
        float(r[6]) - 0.5 if r[5] is not None else max(float(r[4] or 0.0), ground) + POI_AIM_M
        for r in pois
    ]
    targets = scene.local([float(r[2]) for r in pois], [float(r[3]) for r in pois], tz)
    o = np.asarray(eye, np.float64).reshape(1, 3)
    v = targets - o
    dist = np.linalg.norm(v, axis=1)
    dirs = v / np.maximum(dist, 1e-9)[:, None]
    prim, t = caster.intersect(np.repeat(o, len(pois), axis=0), dirs)
    own = np.array([-2 if r[5] is None else int(r[5]) for r in pois])
    hit_building = np.where(prim >= 0, scene.building[np.maximum(prim, 0)], -3)
    seen = (prim < 0) | (t >= dist - 0.25) | (hit_building == own)
    out = []
    for r, ok, d, (dx, dy, dz) in zip(pois, seen, dist, dirs, strict=True):
        if ok:
            out.append(
                {
                    "source_id": r[0],
                    "name": r[1],
                    "distance_m": round(float(d), 1),
                    "azimuth": round(float(np.degrees(np.arctan2(dx, dy)) % 360.0), 2),
                    "elevation": round(float(np.degrees(np.arcsin(np.clip(dz, -1, 1)))), 2),
                }
            )
    return out


@dataclass
class Views:
    before: Panorama
    after: Panorama
    pois_before: list[dict[str, Any]]
    pois_after: list[dict[str, Any]]


def look(
    ctx: AnalysisContext,
    x: float,
    y: float,
    z: float,
    heading: float,
    scenario: ScenarioRef | None,
    *,
    width: int,
    radius: float,
    with_pois: bool = True,
) -> Views:
    """Both panoramas (and the POIs seen) from one eye of the working CRS."""
    processes = processes_for(ctx.settings.analysis_processes)
    epsg = working_epsg(ctx.engine)
    pois = load_pois(ctx.engine, x, y, radius, epsg) if with_pois else []
    ctx.progress(0.05, "meshing the scene")
    scenes = [build_scene(ctx.engine, x, y, radius=radius)]
    if scenario is not None:
        scenes.append(build_scene(ctx.engine, x, y, radius=radius, scenario=scenario))
    panoramas, seen = [], []
    for i, scene in enumerate(scenes):
        ctx.progress(0.2 + 0.4 * i, "casting rays before" if i == 0 else "casting rays after")
        eye = scene.local(x, y, z)[0]
        with RayCaster(scene, processes=processes) as caster:
            panoramas.append(render(caster, eye, width, heading))
            seen.append(visible_pois(caster, eye, pois))
    if scenario is None:
        panoramas.append(panoramas[0])
        seen.append(seen[0])
    return Views(panoramas[0], panoramas[1], seen[0], seen[1])


def blocked(views: Views, fov_horizontal: float, fov_vertical: float) -> dict[str, float]:
    after = views.after
    return {
        "blocked_hemisphere_share": after.share(PROJECT, after.upper()),
        "blocked_view_share": after.share(
            PROJECT, after.field_of_view(fov_horizontal, fov_vertical)
        ),
    }


def view_change(
    ctx: AnalysisContext,
    scenario: ScenarioRef,
    balconies: list[tuple[float, float, float, float]],
    *,
    width: int = 512,
    radius: float = 500.0,
) -> list[dict[str, Any]]:
    """For the scenarios' compare: per balcony (x, y, z working CRS, heading from true north),
    the sky-view factors before and after and the shares the project blocks."""
    out = []
    for x, y, z, heading in balconies:
        v = look(ctx, x, y, z, heading, scenario, width=width, radius=radius, with_pois=False)
        out.append(
            {
                "x": x,
                "y": y,
                "z": z,
                "heading": heading,
                "before": v.before.sky_view(),
                "after": v.after.sky_view(),
                **blocked(v, 120.0, 90.0),
            }
        )
    return out


class BalconyView(Analysis[BalconyParams]):
    name = "balcony"
    title = (
        "The balcony view: panoramas before and after a scenario, sky-view factor "
        "(cos-weighted and solid-angle), the share the project blocks, the POIs seen"
    )
    Params = BalconyParams
    layers: ClassVar[tuple[str, ...]] = ("buildings", "pois")
    tables: ClassVar[tuple[str, ...]] = (
        "buildings",
        "pois",
        "scenarios",
        "scenario_removals",
        "projects",
        "terrain",
    )
    #: a window of the demo district 6 storeys up, looking at the demo project's site
    example: ClassVar[dict[str, Any]] = {
        "lon": 24.939043,
        "lat": 60.173748,
        "z": 15.5,
        "heading": 286.7,
        "scenario": "new-block",
        "width": 256,
    }

    def visibility(self, ctx: AnalysisContext, params: BalconyParams) -> str:
        """The layers' visibility, and a scenario's project's when it belongs to one."""
        own = [get_layer(layer).visibility for layer in self.layers]
        if params.scenario is not None:
            find_scenario(ctx.engine, params.scenario)
            with ctx.engine.connect() as conn:
                project = conn.execute(
                    text(
                        "SELECT p.visibility FROM scenarios s JOIN projects p "
                        "ON p.id = s.project_id WHERE s.slug = :s"
                    ),
                    {"s": params.scenario},
                ).scalar()
            if project is not None:
                own.append(str(project))
        return strictest(*own)

    def run(self, ctx: AnalysisContext, params: BalconyParams) -> Result:
        check_where(params)
        scenario = find_scenario(ctx.engine, params.scenario) if params.scenario else None
        eye = locate(ctx, params, scenario)
        views = look(
            ctx,
            eye.x,
            eye.y,
            eye.z,
            params.heading,
            scenario,
            width=params.width,
            radius=params.radius,
        )
        ctx.progress(0.9, "drawing the panoramas")
        files = {"before.png": views.before.png(), "after.png": views.after.png()}
        if scenario is not None:
            files["compare.png"] = compare_png(views.before, views.after)
        doc: dict[str, Any] = {
            "eye": {"x": eye.x, "y": eye.y, "z": eye.z, "lon": eye.lon, "lat": eye.lat},
            "eye_z": eye.z,
            "building": eye.building,
            "floor": eye.floor,
            "storey_height": eye.storey,
            "heading": params.heading,
            "heading_reference": "degrees clockwise from true north",
            "grid_heading": (params.heading - eye.convergence) % 360.0,
            "meridian_convergence": eye.convergence,
            "scenario": params.scenario,
            "width": params.width,
            "height": params.width // 2,
            "panorama": {"columns": COLUMNS, "rows": ROWS, "files": sorted(files)},
            "before": {**views.before.sky_view(), "pois_visible": views.pois_before},
            "after": {**views.after.sky_view(), "pois_visible": views.pois_after},
            **blocked(views, params.fov_horizontal, params.fov_vertical),
            "view_field": {
                "horizontal_deg": params.fov_horizontal,
                "vertical_deg": params.fov_vertical,
                "centre": "the heading, on the horizon",
            },
            "definitions": {
                "svf_cos": "∫ cos θ dΩ / π over the visible sky (UMEP/SOLWEIG)",
                "svf_solid_angle": "visible sky solid angle / 2π (RVT)",
                "blocked_hemisphere_share": "solid angle of the upper hemisphere showing the "
                "project after, over 2π",
                "blocked_view_share": "solid angle of the field of view showing the project "
                "after, over the field's solid angle",
            },
        }
        return Result(doc, files)
