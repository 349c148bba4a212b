"""Fuzzing the CityGML reader: a valid file cut short, or with a slice of its text replaced
by XML-ish junk, either reads or raises one of the project's own errors (``TwinError``: a
message for the user), never a Python or lxml exception. No database: the reader alone
(what the pipeline's transaction would roll back is tested in tests/test_citygml.py).

``TWIN_FUZZ_EXAMPLES=2000`` digs deeper (default 25, times 4 here: the reader is fast).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geodata.errors import TwinError
from geodata.importers.citygml import CityGMLReader
from tests.citygml_data import write_citygml
from tests.test_citygml import delft

EXAMPLES = int(os.environ.get("TWIN_FUZZ_EXAMPLES", "25")) * 4
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
JUNK = st.sampled_from(
    [
        "",
        "<",
        "</bldg:Building>",
        "<gml:posList>1 2</gml:posList>",
        "<gml:posList>a b c d e f g h i</gml:posList>",
        "<gml:posList srsDimension='7'>1 2 3 4 5 6 7</gml:posList>",
        "<gml:posList srsDimension='x'>1 2 3</gml:posList>",
        '<gml:MultiSurface srsDimension="-1">',
        '<gml:Polygon gml:id="x"/>',
        "<gml:surfaceMember xlink:href='#nowhere'/>",
        'srsName="EPSG:999999"',
        'srsName="urn:ogc:def:crs:EPSG::5783"',
        "1e400 -1e400 nan",
        "&undefined;",
        "<![CDATA[x]]>",
        "\x00",
        "<bldg:measuredHeight>tall</bldg:measuredHeight>",
        "<gen:stringAttribute><gen:value/></gen:stringAttribute>",
        "<bldg:consistsOfBuildingPart><bldg:BuildingPart/></bldg:consistsOfBuildingPart>",
    ]
)


def read_all(path: Path) -> int:
    reader = CityGMLReader(path, "buildings")
    reader.open()
    with contextlib.suppress(TwinError):
        reader.source_crs()
    return sum(len(b) for b in reader.batches(2))


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("fuzz") / "model.gml"
    houses = delft()
    houses[0]["srs_on_geometry"] = True
    return write_citygml(path, houses, version="2.0", trees=1).read_bytes()


@FUZZ
@given(data=st.data())
def test_a_mutated_citygml_file_reads_or_says_why(
    model: bytes, tmp_path: Path, data: st.DataObject
) -> None:
    text = model.decode()
    start = data.draw(st.integers(0, len(text)))
    length = data.draw(st.integers(0, 200))
    junk = data.draw(JUNK)
    cut = data.draw(st.booleans())
    mutated = text[:start] if cut else text[:start] + junk + text[start + length :]
    path = tmp_path / "fuzzed.gml"
    path.write_bytes(mutated.encode("utf-8", "surrogatepass"))
    with contextlib.suppress(TwinError):
        read_all(path)
