"""Attribute schemes with no configuration (OSM tags, IGN BD TOPO), mapping files (JSON and
TOML), the height fallback and its counts, and the non-building layers: networks at depth,
furniture, points of interest and ground."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from sqlalchemy import Engine

from geodata.errors import ImportFailed
from geodata.importers import ImportOptions, run_import
from tests.import_data import (
    HELSINKI_LONLAT,
    LYON_LONLAT,
    feature,
    project,
    rect,
    rows,
    snapshot,
    write_geojson,
)

HX, HY = project(*HELSINKI_LONLAT, 3067)
LX, LY = project(*LYON_LONLAT, 2154)
FIN = "urn:ogc:def:crs:EPSG::3067"


def test_height_fallback_counts_each_source(engine: Engine, tmp_path: Path) -> None:
    """measured > levels x storey height > default, with the storey height and default given."""
    feats = [
        feature(rect(HX + 40 * i, HY), gml_id=f"b{i}", height=h, levels=lv)
        for i, (h, lv) in enumerate(
            [(15.0, 3), ("21", None), (None, 4), (None, 2), (None, None), (0, None), (-3, 0)]
        )
    ]
    path = write_geojson(tmp_path / "heights.geojson", feats, crs=FIN)

    report = run_import(
        engine,
        path,
        layer="buildings",
        options=ImportOptions(storey_height=3.5, default_height=7.0),
    )

    assert report.height_sources == {"measured": 2, "levels": 2, "default": 3}
    assert "heights: 3 default, 2 measured, 2 levels" in "\n".join(report.lines())
    got = dict(rows(engine, "SELECT source_id, height FROM buildings"))
    assert got == {"b0": 15.0, "b1": 21.0, "b2": 14.0, "b3": 7.0, "b4": 7.0, "b5": 7.0, "b6": 7.0}


def test_osm_tags_are_mapped(engine: Engine, tmp_path: Path) -> None:
    feats = [
        feature(
            rect(HX, HY),
            osm_id=101,
            building="apartments",
            height="12 m",
            **{
                "building:levels": "4",
                "roof:shape": "gabled",
                "addr:street": "Mannerheimintie",
                "addr:housenumber": "5",
                "start_date": "1931",
                "name": "Talo",
                "wikidata": "Q1",
            },
        ),
        feature(
            rect(HX + 40, HY),
            osm_id=102,
            building="yes",
            **{"building:levels": "3", "roof:shape": "flat"},
        ),
        feature(rect(HX + 80, HY), osm_id=103, building="yes", height="7,5"),
    ]
    path = write_geojson(tmp_path / "osm.geojson", feats, crs=FIN)

    report = run_import(engine, path, layer="buildings")

    assert report.height_sources == {"measured": 2, "levels": 1}
    got = {
        r[0]: r[1:]
        for r in rows(
            engine,
            "SELECT source_id, height, height_source, levels, roof_type, usage, name, "
            "address, year_built, attrs FROM buildings",
        )
    }
    assert got["101"] == (
        12.0,
        "measured",
        4,
        "gabled",
        "apartments",
        "Talo",
        "5 Mannerheimintie",
        1931,
        {"wikidata": "Q1"},
    )
    assert got["102"] == (9.0, "levels", 3, "flat", None, None, None, None, {})
    assert got["103"][:2] == (7.5, "measured")


def test_ign_bd_topo_attributes_are_mapped(engine: Engine, tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame(
        {
            "cleabs": ["BATIMENT0001", "BATIMENT0002", "BATIMENT0003"],
            "HAUTEUR": [14.2, None, None],
            "NB_ETAGES": [4, 6, None],
            "USAGE1": ["Résidentiel", "Commercial et services", "Indifférencié"],
            "Z_MIN_SOL": [170.5, 168.0, 171.0],
            "Z_MAX_TOIT": [184.7, 190.0, None],
            "NATURE": ["Indifférenciée", "Indifférenciée", "Église"],
        },
        geometry=[rect(LX + 40 * i, LY) for i in range(3)],
        crs="EPSG:2154",
    )
    gdf.to_file(tmp_path / "BATIMENT.gpkg", driver="GPKG")

    report = run_import(engine, tmp_path / "BATIMENT.gpkg", layer="buildings")

    assert report.height_sources == {"measured": 2, "default": 1}
    got = {
        r[0]: r[1:]
        for r in rows(
            engine,
            "SELECT source_id, base_z, height, height_source, levels, usage, attrs FROM buildings",
        )
    }
    assert got["BATIMENT0001"] == (
        170.5,
        14.2,
        "measured",
        4,
        "Résidentiel",
        {"NATURE": "Indifférenciée"},
    )
    # HAUTEUR missing: Z_MAX_TOIT - Z_MIN_SOL is a measured height too
    assert got["BATIMENT0002"][:4] == (168.0, 22.0, "measured", 6)
    assert got["BATIMENT0003"][:3] == (171.0, 9.0, "default")


@pytest.mark.parametrize("kind", ["json", "toml"])
def test_mapping_file_fields_constants_values_and_id(
    engine: Engine, tmp_path: Path, kind: str
) -> None:
    gdf = gpd.GeoDataFrame(
        {
            "ID_BAT": ["X1", "X2"],
            "HAUT_M": [11.0, 13.0],
            "NIV": [3, 4],
            "TYPE": ["Résidentiel", "Bureau"],
        },
        geometry=[rect(LX, LY), rect(LX + 40, LY)],
        crs="EPSG:2154",
    )
    gdf.to_file(tmp_path / "custom.gpkg", driver="GPKG")
    if kind == "json":
        mapping = tmp_path / "mapping.json"
        mapping.write_text(
            json.dumps(
                {
                    "fields": {"height": "HAUT_M", "levels": "NIV", "usage": "TYPE"},
                    "constants": {"roof_type": "flat"},
                    "values": {"usage": {"Résidentiel": "residential", "Bureau": "office"}},
                    "id": {"field": "ID_BAT"},
                }
            )
        )
    else:
        mapping = tmp_path / "mapping.toml"
        mapping.write_text(
            '[fields]\nheight = "HAUT_M"\nlevels = "NIV"\nusage = "TYPE"\n'
            '[constants]\nroof_type = "flat"\n'
            '[values.usage]\n"Résidentiel" = "residential"\n"Bureau" = "office"\n'
            '[id]\nfield = "ID_BAT"\n'
        )

    report = run_import(engine, tmp_path / "custom.gpkg", layer="buildings", mapping=mapping)

    assert report.inserted == 2 and report.height_sources == {"measured": 2}
    assert rows(
        engine,
        "SELECT source_id, height, levels, usage, roof_type, attrs FROM buildings ORDER BY 1",
    ) == [
        ("X1", 11.0, 3, "residential", "flat", {}),
        ("X2", 13.0, 4, "office", "flat", {}),
    ]


# -- networks --------------------------------------------------------------------------------
def test_networks_get_their_depth_and_multilines_are_exploded(
    engine: Engine, tmp_path: Path
) -> None:
    line = shapely.LineString([(HX, HY), (HX + 100, HY)])
    multi = shapely.MultiLineString(
        [[(HX, HY + 10), (HX + 50, HY + 10)], [(HX + 60, HY + 10), (HX + 90, HY + 20)]]
    )
    line3d = shapely.LineString([(HX, HY + 30, -2.2), (HX + 40, HY + 30, -2.6)])
    path = write_geojson(
        tmp_path / "pipes.geojson",
        [
            feature(
                line,
                gml_id="w1",
                network="Eau",
                depth=1.5,
                diametre="150",
                materiau="PE",
                annee_pose=1988,
            ),
            feature(multi, gml_id="g1", substance="gas"),
            feature(line3d, gml_id="s1", reseau="assainissement", profondeur=2.4),
            feature(line, gml_id="e1", power="cable"),
        ],
        crs=FIN,
    )

    report = run_import(engine, path, layer="networks")

    assert report.read == 4 and report.inserted == 5  # the MultiLineString gives two segments
    got = {
        r[0]: r[1:]
        for r in rows(
            engine,
            "SELECT source_id, network, depth_m, ST_ZMin(geom), ST_ZMax(geom), "
            "diameter_mm, material, install_year, attrs, ST_NDims(geom) "
            "FROM network_segments",
        )
    }
    assert set(got) == {"w1", "g1#1", "g1#2", "s1", "e1"}
    assert got["w1"] == ("water", 1.5, -1.5, -1.5, 150.0, "PE", 1988, {}, 3)
    assert got["g1#1"][:4] == ("gas", 1.0, -1.0, -1.0)  # default gas cover depth
    assert got["g1#1"][7] == {"depth_source": "assumed"}
    assert got["s1"][:4] == ("wastewater", 2.4, -2.6, -2.2)  # 3D lines keep their z
    assert got["e1"][:3] == ("electricity", 0.8, -0.8)
    again = run_import(engine, path, layer="networks")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 5)


def test_unknown_network_is_refused_with_the_feature_named(engine: Engine, tmp_path: Path) -> None:
    line = shapely.LineString([(HX, HY), (HX + 100, HY)])
    path = write_geojson(
        tmp_path / "odd.geojson",
        [
            feature(line, gml_id="ok", network="water"),
            feature(line, gml_id="bad", network="lemonade"),
        ],
        crs=FIN,
    )
    before = snapshot(engine)
    with pytest.raises(ImportFailed) as err:
        run_import(engine, path, layer="networks")
    msg = str(err.value)
    assert "odd.geojson, feature 1: unknown network 'lemonade'" in msg
    assert "water" in msg and "[values.network]" in msg
    assert snapshot(engine) == before


def test_network_without_network_attribute_asks_for_a_mapping(
    engine: Engine, tmp_path: Path
) -> None:
    path = write_geojson(
        tmp_path / "bare.geojson",
        [feature(shapely.LineString([(HX, HY), (HX + 10, HY)]), gml_id="x")],
        crs=FIN,
    )
    before = snapshot(engine)
    with pytest.raises(
        ImportFailed,
        match=r"bare\.geojson, feature 0: no network .*"
        r"\[constants\] network",
    ):
        run_import(engine, path, layer="networks")
    assert snapshot(engine) == before
    mapping = tmp_path / "water.toml"
    mapping.write_text('[constants]\nnetwork = "water"\n')
    report = run_import(engine, path, layer="networks", mapping=mapping)
    assert report.inserted == 1


# -- furniture, pois, ground -------------------------------------------------------------------
def test_furniture_kinds_from_osm_tags_and_points_get_z(engine: Engine, tmp_path: Path) -> None:
    path = write_geojson(
        tmp_path / "street.geojson",
        [
            feature(shapely.Point(HX, HY), osm_id=1, highway="street_lamp"),
            feature(shapely.Point(HX + 5, HY), osm_id=2, amenity="bench", direction="90"),
            feature(shapely.Point(HX + 9, HY), osm_id=3, natural="tree", height="8"),
            feature(shapely.MultiPoint([(HX + 12, HY)]), osm_id=4, kind="bollard"),
        ],
        crs=FIN,
    )

    report = run_import(engine, path, layer="furniture")

    assert report.inserted == 4
    assert rows(
        engine,
        "SELECT source_id, kind, heading, height, ST_Z(geom), "
        "ST_GeometryType(geom) FROM furniture ORDER BY 1",
    ) == [
        ("1", "lamp", None, None, 0.0, "ST_Point"),
        ("2", "bench", 90.0, None, 0.0, "ST_Point"),
        ("3", "tree", None, 8.0, 0.0, "ST_Point"),
        ("4", "bollard", None, None, 0.0, "ST_Point"),
    ]


def test_unknown_furniture_kind_is_refused(engine: Engine, tmp_path: Path) -> None:
    path = write_geojson(
        tmp_path / "odd.geojson", [feature(shapely.Point(HX, HY), osm_id=1, kind="statue")], crs=FIN
    )
    before = snapshot(engine)
    with pytest.raises(ImportFailed, match=r"odd\.geojson, feature 0: unknown kind 'statue'"):
        run_import(engine, path, layer="furniture")
    assert snapshot(engine) == before


def test_pois_and_ground(engine: Engine, tmp_path: Path) -> None:
    pois = write_geojson(
        tmp_path / "pois.geojson",
        [
            feature(
                shapely.Point(HX, HY),
                osm_id=1,
                tourism="museum",
                name="Ateneum",
                description="Art museum",
            ),
            feature(shapely.Point(HX + 10, HY), osm_id=2, name="Somewhere"),
        ],
        crs=FIN,
    )
    ground = write_geojson(
        tmp_path / "ground.geojson",
        [
            feature(
                shapely.LineString([(HX, HY), (HX, HY + 50)]),
                osm_id=10,
                highway="footway",
                width="2.5",
            ),
            feature(rect(HX + 20, HY, 30, 30), osm_id=11, leisure="park", name="Puisto"),
        ],
        crs=FIN,
    )

    assert run_import(engine, pois, layer="pois").inserted == 2
    assert run_import(engine, ground, layer="ground").inserted == 2

    assert rows(
        engine, "SELECT source_id, name, kind, description, ST_NDims(geom) FROM pois ORDER BY 1"
    ) == [
        ("1", "Ateneum", "museum", "Art museum", 3),
        ("2", "Somewhere", "poi", None, 3),
    ]
    assert rows(
        engine,
        "SELECT source_id, kind, name, width_m, ST_GeometryType(geom) FROM ground ORDER BY 1",
    ) == [
        ("10", "footway", None, 2.5, "ST_LineString"),
        ("11", "park", "Puisto", None, "ST_Polygon"),
    ]
