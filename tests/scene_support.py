"""Hand-built scenes: boxes of known size at known places in EPSG:3067, and a scenario that
adds one and removes another, written straight to the tables the scene reads."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, text

from geodata.working_crs import set_working_crs

X0, Y0 = 385_000.0, 6_672_000.0


def add_box(
    conn: Any,
    x: float,
    y: float,
    w: float,
    d: float,
    h: float,
    *,
    name: str,
    scenario_id: int | None = None,
    base_z: float = 0.0,
    levels: int | None = None,
) -> int:
    """A w (east) x d (north) box of height h whose south-west corner is (x, y)."""
    return int(
        conn.execute(
            text(
                "INSERT INTO buildings (source, source_id, footprint, base_z, height, levels, "
                "name, scenario_id) VALUES ('test', :sid, ST_Multi(ST_MakeEnvelope(:x, :y, "
                ":x + :w, :y + :d, 3067)), :z, :h, :levels, :name, :s) RETURNING id"
            ),
            {
                "sid": name,
                "x": x,
                "y": y,
                "w": w,
                "d": d,
                "z": base_z,
                "h": h,
                "levels": levels,
                "name": name,
                "s": scenario_id,
            },
        ).scalar_one()
    )


def add_scenario(conn: Any, slug: str) -> int:
    return int(
        conn.execute(
            text("INSERT INTO scenarios (slug, name) VALUES (:s, :s) RETURNING id"), {"s": slug}
        ).scalar_one()
    )


def remove(conn: Any, scenario_id: int, building_id: int) -> None:
    conn.execute(
        text(
            "INSERT INTO scenario_removals (scenario_id, layer, feature_id) "
            "VALUES (:s, 'buildings', :b)"
        ),
        {"s": scenario_id, "b": building_id},
    )


def working_crs(engine: Engine) -> None:
    with engine.begin() as conn:
        set_working_crs(conn, 3067)


def add_ring(
    conn: Any,
    x: float,
    y: float,
    inner: float,
    outer: float,
    h: float,
    *,
    name: str,
    scenario_id: int | None = None,
) -> int:
    """A round wall (an annulus of 256 sides) of height h centred on (x, y): from its
    centre, its top stands at the same elevation all round."""
    import shapely

    ring = shapely.Point(x, y).buffer(outer, quad_segs=64) - shapely.Point(x, y).buffer(
        inner, quad_segs=64
    )
    return int(
        conn.execute(
            text(
                "INSERT INTO buildings (source, source_id, footprint, base_z, height, name, "
                "scenario_id) VALUES ('test', :sid, ST_Multi(ST_GeomFromText(:wkt, 3067)), 0, "
                ":h, :name, :s) RETURNING id"
            ),
            {"sid": name, "wkt": ring.wkt, "h": h, "name": name, "s": scenario_id},
        ).scalar_one()
    )
