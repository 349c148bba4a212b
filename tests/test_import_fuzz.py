"""Fuzzing every import parser (#14): GeoJSON, CityJSON, mapping files, OSM tags and the
attribute mapping. Valid documents are mutated at random places (a member replaced by any
JSON value, extremes included, or removed) or cut short; whatever comes in, an import either
succeeds or raises one of the project's own errors (``TwinError``: a message for the user),
and a refused import writes nothing.

The default run keeps to a few seconds per parser; ``TWIN_FUZZ_EXAMPLES=2000`` (any number)
digs deeper.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from geodata.errors import TwinError
from geodata.importers import run_import
from geodata.importers.import_layer import numbers
from geodata.importers.layers import IMPORT_LAYERS
from geodata.importers.mapping import Mapper, MappingFile
from geodata.importers.osm_tags import RULES
from geodata.working_crs import set_working_crs
from tests.import_data import (
    DELFT_RD,
    HELSINKI_LONLAT,
    CityModel,
    feature,
    project,
    rect,
    snapshot,
)

EXAMPLES = int(os.environ.get("TWIN_FUZZ_EXAMPLES", "25"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PURE = settings(max_examples=EXAMPLES * 4, deadline=None)
X, Y = project(*HELSINKI_LONLAT, 3067)
RX, RY = DELFT_RD

#: values that broke or nearly broke an import before: extremes, words for numbers, CRS names
NASTY = st.sampled_from(
    [
        0,
        -1,
        1,
        2.5,
        1e25,
        1e300,
        -1e300,
        3_000_000_000,
        2**63,
        "1e25",
        "many",
        "",
        " ",
        "12345678901234567890",
        "EPSG:3067",
        "EPSG:2154",
        "urn:ogc:def:crs:EPSG::999999",
        [],
        {},
        [1, 2, 3],
        [[]],
        None,
        True,
        "NaN",
        "1930-05-01",
        "Building",
        "MultiSurface",
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | NASTY
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)


def _places(doc: Any, out: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Every (container, key) of a JSON document, depth first."""
    items = (
        doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    )
    for key, value in items:
        out.append((doc, key))
        _places(value, out)
    return out


def _mutate(doc: Any, data: st.DataObject) -> Any:
    """One to three random edits: a member replaced by any JSON value, or removed."""
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        places = _places(doc, [])
        if not places:
            break
        container, key = data.draw(st.sampled_from(places), label="where")
        if data.draw(st.booleans(), label="remove") and isinstance(container, dict):
            del container[key]
        else:
            container[key] = data.draw(JSON, label="value")
    return doc


def _write(path: Path, doc: Any, data: st.DataObject) -> Path:
    text = json.dumps(doc)  # NaN and Infinity become (invalid) JSON tokens, as some tools write
    if data.draw(st.booleans(), label="truncate"):
        text = text[: data.draw(st.integers(0, len(text)), label="cut")]
    path.write_text(text)
    return path


def _import_or_refuse(engine: Engine, path: Path, **kwargs: Any) -> None:
    before = snapshot(engine)
    try:
        run_import(engine, path, **kwargs)
    except TwinError:
        assert snapshot(engine) == before, "a refused import wrote something"


@pytest.fixture
def helsinki(engine: Engine) -> Engine:
    with engine.begin() as conn:
        set_working_crs(conn, 3067)
    return engine


@pytest.fixture
def delft(engine: Engine) -> Engine:
    with engine.begin() as conn:
        set_working_crs(conn, 28992)
    return engine


def _geojson() -> dict[str, Any]:
    feats = [
        feature(rect(X, Y), gml_id="a", height=10, levels=3, year_built=1930),
        feature(rect(X + 40, Y), gml_id="b", usage="residential", **{"building:levels": "4"}),
    ]
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3067"}}
    return {"type": "FeatureCollection", "crs": crs, "features": feats}


@FUZZ
@given(data=st.data(), layer=st.sampled_from(["buildings", "ground", "furniture"]))
def test_geojson_never_crashes(
    helsinki: Engine, tmp_path: Path, data: st.DataObject, layer: str
) -> None:
    path = _write(tmp_path / "fuzz.geojson", _mutate(_geojson(), data), data)
    _import_or_refuse(helsinki, path, layer=layer)


def _cityjson(seq: bool, tmp_path: Path) -> list[Any]:
    """The documents of a small CityJSON (one) or CityJSONSeq (header, then features)."""
    m = CityModel(scale=0.001, translate=(RX, RY, 0.0))
    m.house("NL.1", RX, RY, 1.0, attributes={"storeysAboveGround": 2, "measuredHeight": 9.5})
    m.with_part("NL.1", "NL.1-part", RX + 10, RY, 0.5)
    m.lod1_only("NL.2", RX + 40, RY, 0.0, 10, 10, 6.0)
    if not seq:
        return [json.loads(m.write(tmp_path / "base.city.json").read_text())]
    lines = m.write_seq(tmp_path / "base.city.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


@FUZZ
@given(data=st.data(), seq=st.booleans())
def test_cityjson_never_crashes(
    delft: Engine, tmp_path: Path, data: st.DataObject, seq: bool
) -> None:
    docs = _mutate(_cityjson(seq, tmp_path), data)
    name = "fuzz.city.jsonl" if seq else "fuzz.city.json"
    if seq:
        (tmp_path / name).write_text("\n".join(json.dumps(d) for d in docs) + "\n")
        path = tmp_path / name
    else:
        path = _write(tmp_path / name, docs[0], data)
    _import_or_refuse(delft, path, layer="buildings")


#: the sections a mapping file has, with keys that are the layer's columns or anything
MAPPING = st.fixed_dictionaries(
    {},
    optional={
        "fields": st.dictionaries(
            st.sampled_from(["height", "levels", "usage", "year_built", "nope"])
            | st.text(max_size=6),
            JSON,
            max_size=3,
        ),
        "constants": st.dictionaries(
            st.sampled_from(["height", "levels", "roof_type", "year_built", "base_z"]),
            JSON,
            max_size=3,
        ),
        "values": st.dictionaries(st.sampled_from(["usage", "levels"]), JSON, max_size=2),
        "id": st.dictionaries(st.sampled_from(["field", "other"]), JSON, max_size=2),
        "extra": JSON,
    },
)


@FUZZ
@given(mapping=MAPPING | JSON, toml=st.booleans(), data=st.data())
def test_mapping_files_never_crash(
    helsinki: Engine, tmp_path: Path, mapping: Any, toml: bool, data: st.DataObject
) -> None:
    geojson = tmp_path / "houses.geojson"
    geojson.write_text(json.dumps(_geojson()))
    if toml:
        path = tmp_path / "map.toml"
        path.write_text(data.draw(st.text(max_size=80), label="toml") + "\n" + _toml(mapping))
    else:
        path = tmp_path / "map.json"
        path.write_text(json.dumps(mapping))
    _import_or_refuse(helsinki, geojson, layer="buildings", mapping=path)


def _toml(mapping: Any) -> str:
    """A TOML rendering of the sections hypothesis drew (values as JSON literals, which are
    often, not always, valid TOML: both cases are wanted)."""
    if not isinstance(mapping, dict):
        return json.dumps(mapping)
    lines = []
    for section, table in mapping.items():
        lines.append(f"[{section}]")
        if isinstance(table, dict):
            lines += [f"{json.dumps(str(k))} = {json.dumps(v)}" for k, v in table.items()]
    return "\n".join(lines)


TAGS = st.dictionaries(
    st.sampled_from(
        [
            "building",
            "highway",
            "amenity",
            "man_made",
            "substance",
            "type",
            "location",
            "diameter",
            "power",
            "emergency",
            "manhole",
            "pipeline",
            "natural",
            "leisure",
            "tourism",
            "historic",
            "name",
            "building:levels",
            "height",
            "start_date",
            "fire_hydrant:type",
            "layer",
            "area",
            "traffic_sign",
            "landuse",
            "waterway",
        ]
    )
    | st.text(max_size=8),
    st.sampled_from(
        [
            "yes",
            "no",
            "pipeline",
            "water",
            "gas",
            "cold",
            "underground",
            "-1",
            "street_lamp",
            "tree",
            "footway",
            "1e25",
            "many",
            "",
            "manhole",
            "sewer",
        ]
    )
    | st.text(max_size=10),
    max_size=8,
)


@PURE
@given(
    layer=st.sampled_from(sorted(RULES)), kind=st.sampled_from(["node", "line", "area"]), tags=TAGS
)
def test_osm_rules_answer_any_tags(layer: str, kind: str, tags: dict[str, str]) -> None:
    rule = RULES[layer]
    verdict = rule.select(kind, tags)
    assert isinstance(verdict, bool | str)
    if verdict is True and rule.fix_tags is not None:
        assert isinstance(rule.fix_tags(dict(tags)), dict)


COLUMN_VALUES = st.lists(st.one_of(SCALARS, st.floats(), st.integers()), min_size=1, max_size=6)


@PURE
@given(
    layer=st.sampled_from(sorted(IMPORT_LAYERS)),
    columns=st.dictionaries(
        st.sampled_from(
            [
                "height",
                "levels",
                "building:levels",
                "year_built",
                "start_date",
                "base_z",
                "Z_MIN_SOL",
                "Z_MAX_TOIT",
                "network",
                "substance",
                "depth",
                "diameter",
                "install_year",
                "kind",
                "synthetic",
                "heading",
                "width",
                "addr:street",
                "addr:housenumber",
                "id",
                "replaces_id",
                "manhole",
                "fire_hydrant:type",
            ]
        ),
        COLUMN_VALUES,
        max_size=6,
    ),
)
def test_the_mapper_maps_any_attributes(layer: str, columns: dict[str, list[Any]]) -> None:
    """Column-wise mapping of any attribute table: typed columns out, or the project's own
    error (an unknown network, say) — never a pandas or numpy exception."""
    n = max((len(v) for v in columns.values()), default=1)
    props = pd.DataFrame(
        {k: pd.Series((v * n)[:n], dtype=object) for k, v in columns.items()},
        index=pd.RangeIndex(n),
    )
    target = IMPORT_LAYERS[layer]
    mapper = Mapper(target, MappingFile(), "fuzz")
    try:
        mapped = mapper.apply(props)
        mapper.check_vocabulary(mapped.columns, np.array([f"feature {i}" for i in range(n)]))
    except TwinError:
        return
    assert len(mapped) == n and all(len(c) == n for c in mapped.columns.values())
    for attrs in mapped.attrs.to_pylist():
        json.loads(attrs)
    for col, sql_type in target.columns.items():
        if col in mapped.columns and sql_type == "int":
            values = pd.to_numeric(pd.Series(numbers(mapped.columns[col]))).dropna()
            assert ((values >= -(2**31)) & (values < 2**31)).all(), col
